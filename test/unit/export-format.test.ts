// export's shell formats: each shell reads back exactly the values, whatever characters
// they hold; and exec's child environment.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTool } from '../support/tools.ts';
import { tempDir } from '../support/tmp.ts';
import { formatExport, type ExportValues } from '../../src/commands/export.ts';
import { childEnv, serverChildEnv } from '../../src/commands/exec.ts';
import { splitExecArgv } from '../../src/commands/exec-args.ts';
import { serveLines } from '../../src/commands/serve.ts';
import { CREDENTIAL_VARS } from '../../src/util/awsenv.ts';

const VALUES: ExportValues = {
  AWS_ACCESS_KEY_ID: 'ASIAEXAMPLEEXAMPLE01',
  AWS_SECRET_ACCESS_KEY: "se'cr\"et/+$HOME`x`\\n",
  AWS_SESSION_TOKEN: 'IQoJb3JpZ2luX2VjE+/=',
  AWS_CREDENTIAL_EXPIRATION: '2026-01-01T00:00:00Z',
  AWS_REGION: 'eu-west-1',
  AWS_DEFAULT_REGION: 'eu-west-1',
};

test('env: sh reads back every value unchanged, with no expansion', () => {
  const out = execFileSync('sh', ['-c', `${formatExport('env', VALUES)}\nprintf '%s\\n' "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN"`], { encoding: 'utf8' });
  assert.equal(out, `${VALUES.AWS_SECRET_ACCESS_KEY}\n${VALUES.AWS_SESSION_TOKEN}\n`);
});

test('fish and powershell quoting', () => {
  assert.match(formatExport('fish', VALUES), /^set -gx AWS_SECRET_ACCESS_KEY 'se\\'cr"et\/\+\$HOME`x`\\\\n'$/m);
  assert.match(formatExport('powershell', VALUES), /^\$Env:AWS_SECRET_ACCESS_KEY = 'se''cr"et\/\+\$HOME`x`\\n'$/m);
  assert.equal(formatExport('fish', VALUES).split('\n').filter(Boolean).length, 10);
});

test('regression (fish: `keyrole export --format fish | source; and aws …` skipped aws when a variable to unset did not exist): real fish sources it with status 0 and reads every value back', () => {
  const fish = requireTool('fish');
  const dir = tempDir('fish-export-');
  try {
    const file = join(dir, 'export.fish');
    writeFileSync(file, formatExport('fish', VALUES));
    // None of the variables to unset exists, and one does: both must leave status 0.
    for (const env of [{ PATH: process.env.PATH }, { PATH: process.env.PATH, AWS_PROFILE: 'other' }]) {
      const out = execFileSync(fish, ['--no-config', '-c', `source ${file}; and echo sourced; echo "status=$status"; printf '%s\\n' $AWS_SECRET_ACCESS_KEY $AWS_SESSION_TOKEN; set -q AWS_PROFILE; and echo profile-left; or echo profile-gone`], { encoding: 'utf8', env });
      assert.equal(out, `sourced\nstatus=0\n${VALUES.AWS_SECRET_ACCESS_KEY}\n${VALUES.AWS_SESSION_TOKEN}\nprofile-gone\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('regression (export left AWS_PROFILE, so the JS SDK in the same shell used another role than the CLI): every format unsets it and sets both region variables', () => {
  const out = execFileSync('sh', ['-c', `${formatExport('env', VALUES)}\nprintf '[%s][%s][%s][%s]\\n' "\${AWS_PROFILE-unset}" "\${AWS_SECURITY_TOKEN-unset}" "$AWS_REGION" "$AWS_DEFAULT_REGION"`], { encoding: 'utf8', env: { PATH: process.env.PATH, AWS_PROFILE: 'other', AWS_SECURITY_TOKEN: 'stale' } });
  assert.equal(out, '[unset][unset][eu-west-1][eu-west-1]\n', 'exec removes the same variables from its child (one list: src/util/awsenv.ts)');
  assert.match(formatExport('powershell', VALUES), /^Remove-Item Env:AWS_PROFILE -ErrorAction SilentlyContinue$/m);
  assert.match(formatExport('fish', VALUES), /^set -e AWS_PROFILE; or true$/m);
  assert.match(formatExport('fish', VALUES), /^set -gx AWS_DEFAULT_REGION 'eu-west-1'$/m);
});

test('exec --server: the child gets the endpoint, its token and the region, and no keys, profile or other container variables', () => {
  const env = serverChildEnv({
    PATH: '/bin', AWS_PROFILE: 'prod', AWS_ACCESS_KEY_ID: 'AKIAOLD', AWS_SECRET_ACCESS_KEY: 'old', AWS_SESSION_TOKEN: 'old', AWS_CREDENTIAL_EXPIRATION: 'x',
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/tmp/other', AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/x', AWS_WEB_IDENTITY_TOKEN_FILE: '/x', AWS_ROLE_ARN: 'arn',
  }, { url: 'http://127.0.0.1:4000/', token: 'tok', region: 'eu-west-1', profile: 'prod' });
  assert.deepEqual(env, {
    PATH: '/bin', AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:4000/', AWS_CONTAINER_AUTHORIZATION_TOKEN: 'tok',
    AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-west-1', KEYROLE_EXEC: 'prod',
  });
});

/** The AWS_ variables a shell holds after running `lines`, started with every credential variable set to a stale value. */
function awsVarsAfter(lines: string): Record<string, string> {
  const stale = Object.fromEntries(CREDENTIAL_VARS.map((v) => [v, 'stale']));
  const out = execFileSync('sh', ['-c', `${lines}\nenv`], { encoding: 'utf8', env: { PATH: process.env.PATH, ...stale } });
  return Object.fromEntries(out.split('\n').filter((l) => l.startsWith('AWS_')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

test('regression (serve\'s unset line left web identity, the relative URI and the token variable, which SDKs take before the endpoint; older SDKs read only the token variable): a shell that runs serve\'s lines keeps only the endpoint, its token (file and value) and the region', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyrole-serve-lines-'));
  try {
    const file = join(dir, 'serve-4000.token');
    writeFileSync(file, 'the-token', { mode: 0o600 });
    assert.deepEqual(awsVarsAfter(serveLines('prod', 'http://127.0.0.1:4000/', file, 'eu-west-1')), {
      AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:4000/', AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: file, AWS_CONTAINER_AUTHORIZATION_TOKEN: 'the-token',
      AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-west-1',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exec --server removes every credential variable serve unsets: the child has the same view as a program started by serve\'s lines', () => {
  const stale = Object.fromEntries(CREDENTIAL_VARS.map((v) => [v, 'stale']));
  const env = serverChildEnv({ PATH: '/bin', ...stale }, { url: 'http://127.0.0.1:4000/', token: 'tok', region: 'eu-west-1', profile: 'prod' });
  assert.deepEqual(Object.keys(env).filter((k) => k.startsWith('AWS_')).sort(), ['AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_DEFAULT_REGION', 'AWS_REGION']);
});

// PowerShell's tokenizer (ScanStringLiteral / CharTraits.IsSingleQuote) ends a
// single-quoted string at ', U+2018, U+2019, U+201A or U+201B unless the next character is
// one of them too, in which case the pair stands for the second. No pwsh on this machine:
// this reader follows that rule, and reads what `$Env:NAME = '…'` assigns, or fails when
// anything follows the closing quote (code the value injected).
const PS_QUOTE = /['\u2018-\u201b]/;
function readPwshAssignment(line: string): { name: string; value: string } {
  const m = /^\$Env:(\w+) = '/.exec(line);
  assert.ok(m, line);
  let value = '';
  let i = m[0].length;
  for (;;) {
    assert.ok(i < line.length, `unterminated string: ${line}`);
    const c = line[i++];
    if (PS_QUOTE.test(c)) {
      if (i < line.length && PS_QUOTE.test(line[i])) { value += line[i++]; continue; }
      break;
    }
    value += c;
  }
  assert.equal(line.slice(i), '', `text after the string would run as PowerShell: ${JSON.stringify(line.slice(i))}`);
  return { name: m[1], value };
}

test('regression: powershell export escapes every quote PowerShell honours (U+2018-U+201B as well as \')', () => {
  for (const q of ["'", '\u2018', '\u2019', '\u201a', '\u201b']) {
    const secret = `a${q}; Start-Process calc; ${q}b${q}${q}c${q}`;
    const out = formatExport('powershell', { ...VALUES, AWS_SECRET_ACCESS_KEY: secret });
    const line = out.split('\n').find((l) => l.startsWith('$Env:AWS_SECRET_ACCESS_KEY'))!;
    assert.deepEqual(readPwshAssignment(line), { name: 'AWS_SECRET_ACCESS_KEY', value: secret }, `quote U+${q.codePointAt(0)!.toString(16)}`);
  }
  for (const line of formatExport('powershell', VALUES).split('\n').filter((l) => l.startsWith('$Env:'))) readPwshAssignment(line);
});

test('exec: the child gets the credentials and region, loses AWS_PROFILE, and is marked', () => {
  const env = childEnv({ PATH: '/bin', AWS_PROFILE: 'prod', AWS_DEFAULT_PROFILE: 'x', AWS_SECURITY_TOKEN: 'old', AWS_REGION: 'us-east-1' }, {
    accessKeyId: 'ASIA1', secretAccessKey: 's', sessionToken: 't', expiration: new Date('2026-01-01T00:00:00.500Z'), region: 'eu-west-1', profile: 'prod',
  });
  assert.deepEqual(env, {
    PATH: '/bin', AWS_ACCESS_KEY_ID: 'ASIA1', AWS_SECRET_ACCESS_KEY: 's', AWS_SESSION_TOKEN: 't',
    AWS_CREDENTIAL_EXPIRATION: '2026-01-01T00:00:00Z', AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-west-1', KEYROLE_EXEC: 'prod',
  });
});

test('exec: keyrole options end at --; everything after is the command, even its own --', () => {
  assert.deepEqual(splitExecArgv(['prod', '--cache', 'none', '--', 'ls', '--', '-l']), { own: ['prod', '--cache', 'none'], command: ['ls', '--', '-l'] });
  assert.deepEqual(splitExecArgv(['prod']), { own: ['prod'], command: undefined });
  assert.deepEqual(splitExecArgv(['--server', 'prod', '--']), { own: ['--server', 'prod'], command: [] });
});

test('exec parses only its own options: the command starts at the first word after the profile (as env and sudo do)', () => {
  assert.deepEqual(splitExecArgv(['prod', 'ls', '-ld', '/tmp']), { own: ['prod'], command: ['ls', '-ld', '/tmp'] });
  assert.deepEqual(splitExecArgv(['prod', 'grep', '--help']), { own: ['prod'], command: ['grep', '--help'] });
  assert.deepEqual(splitExecArgv(['prod', 'printenv', 'X', '--server']), { own: ['prod'], command: ['printenv', 'X', '--server'] });
  assert.deepEqual(splitExecArgv(['--cache', 'none', 'prod', '--server', 'date', '--debug']), { own: ['--cache', 'none', 'prod', '--server'], command: ['date', '--debug'] });
  assert.deepEqual(splitExecArgv(['--cache=file', 'prod', 'sh', '-c', 'x', '--', 'y']), { own: ['--cache=file', 'prod'], command: ['sh', '-c', 'x', '--', 'y'] });
});
