// keyrole's INI reader must see the config exactly as the JS SDK does: each file here is
// read by both, through the SDK's own loader (@smithy/shared-ini-file-loader) and
// src/config/ini.ts, and the results compared; then the same over generated files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSharedConfigFiles } from '@smithy/shared-ini-file-loader';
import { configSections, parseIni } from '../../src/config/ini.ts';
import { tempDir } from '../support/tmp.ts';

const dir = tempDir('ini-');
let n = 0;

async function both(text: string) {
  const path = join(dir, `f${n++}`);
  writeFileSync(path, text);
  const sdk = await loadSharedConfigFiles({ configFilepath: path, filepath: path, ignoreCache: true });
  const plain = (o: object) => JSON.parse(JSON.stringify(o));
  return {
    sdkConfig: plain(sdk.configFile),
    oursConfig: plain(configSections(parseIni(text))),
    sdkCreds: plain(sdk.credentialsFile),
    oursCreds: plain(parseIni(text)),
  };
}

const CORPUS: [string, string][] = [
  ['SPEC profile', '[profile prod]\nregion = eu-west-1\ncredential_process = keyrole process prod\nkeyrole_source = alice                      # keys stored by keyrole setup\nkeyrole_role_arn = arn:aws:iam::111122223333:role/Admin\n'],
  ['default and comments', '# top\n; also\n[default]\nregion=us-east-1 ;inline\noutput = json#not a comment\n'],
  ['CRLF', '[profile a]\r\nregion = x\r\n\r\n[default]\r\nregion = y\r\n'],
  ['services nested', '[profile p]\nservices = s\n[services s]\nsts =\n  endpoint_url = http://127.0.0.1:1\n  other = 2\ns3 =\n  addressing_style = path\nnotnested = 1\n'],
  ['sso-session', '[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n[profile dev]\nsso_session = corp\n'],
  ['quoted names', '[profile "with space"]\nregion = a\n[profile \'q\']\nregion = b\n'],
  ['duplicates', '[profile a]\nregion = 1\n[profile a]\nregion = 2\noutput = x\nregion = 3\n'],
  ['unknown section types', '[plugins]\nx = 1\n[foo bar]\ny = 2\n[profile ok]\nz = 3\n'],
  ['keys without values and odd lines', '[profile a]\n=novalue\njust text\nk=\n  sub = 1\nafter = 2\n'],
  ['equals in values', '[profile a]\ncredential_process = sh -c "echo a=b"\n'],
  ['unicode and non-UTF-8 replacement', '[profile ü]\nregion = \uFFFD\n'],
];

for (const [name, text] of CORPUS) {
  test(`reads like the SDK: ${name}`, async () => {
    const r = await both(text);
    assert.deepEqual(r.oursConfig, r.sdkConfig);
    assert.deepEqual(r.oursCreds, r.sdkCreds);
  });
}

test('reads like the SDK: 300 generated files', async () => {
  // A small deterministic generator over the grammar's tricky parts.
  let seed = 12345;
  const rnd = (k: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % k; };
  const pick = <T>(xs: T[]) => xs[rnd(xs.length)];
  const names = ['a', 'prod', 'x-y', 'p.q', 'default', 'with space'];
  const heads = () => pick([`[profile ${pick(names)}]`, `[${pick(names)}]`, `[sso-session ${pick(names)}]`, `[services ${pick(names)}]`, '[weird type x]', `  [profile ${pick(names)}]  `]);
  const keys = ['region', 'keyrole_source', 'sts', 's3', 'endpoint_url', 'x'];
  const values = ['eu-west-1', '', 'a # c', 'a#b', 'a ;c', 'v=1', '"q"', 'http://h:1/p'];
  for (let i = 0; i < 300; i++) {
    const lines: string[] = [];
    for (let j = 0; j < 3 + rnd(12); j++) {
      const kind = rnd(10);
      if (kind < 2) lines.push(heads());
      else if (kind < 3) lines.push(pick(['# c', '; c', '', '   ', 'junk']));
      else lines.push(`${pick(['', '  ', '\t'])}${pick(keys)}${pick([' = ', '=', ' ='])}${pick(values)}`);
    }
    const text = lines.join(pick(['\n', '\r\n']));
    const r = await both(text);
    assert.deepEqual(r.oursConfig, r.sdkConfig, `config view differs for:\n${text}`);
    assert.deepEqual(r.oursCreds, r.sdkCreds, `credentials view differs for:\n${text}`);
  }
});
