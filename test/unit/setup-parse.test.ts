// parseKeyInput: what people paste or pipe into `keyrole setup`.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseKeyInput } from '../../src/commands/setup.ts';
import { keyShapeProblem } from '../../src/keychain/sourcekeys.ts';
import { KeyroleError } from '../../src/util/errors.ts';

const ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const PAIR = { accessKeyId: ID, secretAccessKey: SECRET };

function parsed(text: string) {
  const out = parseKeyInput(text);
  assert.equal(keyShapeProblem(out.accessKeyId, out.secretAccessKey), undefined, `parsed a usable pair from ${JSON.stringify(text)}`);
  return out;
}

describe('parseKeyInput: two lines', () => {
  const cases: [string, string][] = [
    ['LF', `${ID}\n${SECRET}\n`],
    ['no final newline', `${ID}\n${SECRET}`],
    ['CRLF', `${ID}\r\n${SECRET}\r\n`],
    ['trailing blank lines', `${ID}\n${SECRET}\n\n\n`],
    ['trailing blank CRLF lines', `${ID}\r\n${SECRET}\r\n\r\n\r\n`],
    ['leading blank lines and padding', `\n  ${ID}  \n\t${SECRET}\t\n`],
    ['a comment line', `# keys for alice\n${ID}\n${SECRET}\n`],
    ['a BOM', `\uFEFF${ID}\n${SECRET}\n`],
  ];
  for (const [what, text] of cases) {
    test(what, () => assert.deepEqual(parsed(text), PAIR));
  }
});

describe('parseKeyInput: KEY=VALUE lines', () => {
  const cases: [string, string][] = [
    ['aws_access_key_id=…', `aws_access_key_id=${ID}\naws_secret_access_key=${SECRET}\n`],
    ['spaces around =', `aws_access_key_id = ${ID}\naws_secret_access_key = ${SECRET}\n`],
    ['a pasted credentials file section', `[default]\naws_access_key_id = ${ID}\naws_secret_access_key = ${SECRET}\nregion = eu-west-1\n`],
    ['upper-case env names', `AWS_ACCESS_KEY_ID=${ID}\nAWS_SECRET_ACCESS_KEY=${SECRET}\n`],
    ['export with double quotes', `export AWS_ACCESS_KEY_ID="${ID}"\nexport AWS_SECRET_ACCESS_KEY="${SECRET}"\n`],
    ['CRLF and a session token line', `export AWS_ACCESS_KEY_ID=${ID}\r\nexport AWS_SECRET_ACCESS_KEY="${SECRET}"\r\nexport AWS_REGION=eu-west-1\r\n`],
    ['secret first', `AWS_SECRET_ACCESS_KEY=${SECRET}\nAWS_ACCESS_KEY_ID=${ID}\n`],
    ['colon separator', `AWS_ACCESS_KEY_ID: ${ID}\nAWS_SECRET_ACCESS_KEY: ${SECRET}\n`],
  ];
  for (const [what, text] of cases) {
    test(what, () => assert.deepEqual(parsed(text), PAIR));
  }

  test('only one of the two keys given: the other comes back empty (then refused by keyShapeProblem)', () => {
    const out = parseKeyInput(`aws_access_key_id=${ID}\n`);
    assert.deepEqual(out, { accessKeyId: ID, secretAccessKey: '' });
    assert.notEqual(keyShapeProblem(out.accessKeyId, out.secretAccessKey), undefined);
  });

  // Shells quote with single quotes as often as double quotes.
  test('regression: export with single quotes is unquoted like double quotes', () => {
    assert.deepEqual(parseKeyInput(`export AWS_ACCESS_KEY_ID='${ID}'\nexport AWS_SECRET_ACCESS_KEY='${SECRET}'\n`), PAIR);
  });
});

describe('parseKeyInput: the IAM console CSV', () => {
  const cases: [string, string][] = [
    ['two columns', `Access key ID,Secret access key\n${ID},${SECRET}\n`],
    ['two columns, CRLF', `Access key ID,Secret access key\r\n${ID},${SECRET}\r\n`],
    ['with a BOM', `\uFEFFAccess key ID,Secret access key\r\n${ID},${SECRET}\r\n`],
    ['User name column first (older download)', `User name,Password,Access key ID,Secret access key,Console login link\nalice,,${ID},${SECRET},https://111122223333.signin.aws.amazon.com/console\n`],
    ['User name column first, with a BOM and CRLF', `\uFEFFUser name,Access key ID,Secret access key\r\nalice,${ID},${SECRET}\r\n`],
    ['no trailing newline', `Access key ID,Secret access key\n${ID},${SECRET}`],
  ];
  for (const [what, text] of cases) {
    test(what, () => assert.deepEqual(parsed(text), PAIR));
  }
});

describe('parseKeyInput: errors', () => {
  const bad: [string, string, number][] = [
    ['empty input', '', 0],
    ['only blank lines', '\n\n\r\n', 0],
    ['one line', `${ID}\n`, 1],
    ['one line with both values', `${ID} ${SECRET}\n`, 1],
    ['three lines', `${ID}\n${SECRET}\nextra\n`, 3],
    ['four lines', `a\nb\nc\nd`, 4],
  ];
  for (const [what, text, lines] of bad) {
    test(what, () => {
      assert.throws(() => parseKeyInput(text), (e: unknown) => {
        assert.ok(e instanceof KeyroleError);
        assert.equal(e.code, 'BadKeyInput');
        assert.match(e.message, new RegExp(`got ${lines} line\\(s\\)`));
        assert.match(e.line(), /^keyrole: [^\n]+$/);
        assert.ok(!e.line().includes(SECRET), 'the secret is never echoed');
        return true;
      });
    });
  }
});
