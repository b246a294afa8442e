// Each platform's semantics given to the code that depends on them, so a Linux run of the
// suite catches a regression on macOS and Windows: Windows' Credential Manager size limit
// (2,560 bytes per generic credential) and how keyrole's values are written there; Windows
// stat modes, home, console devices, credential_process lines checked against the
// installed botocore's own Windows splitter, PATHEXT, exec's cmd.exe quoting and Ctrl-C,
// GUI prompts and the browser launcher (src/util/platform.ts).

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEntry, paramsDigest, sameParams, canonicalParams, cacheKey, decodeEntry } from '../../src/credentials/cache.ts';
import { encodeRecord } from '../../src/sso/record.ts';
import { CREDENTIAL_MANAGER_MAX_BYTES, readValue, storedBytes, valueProblem, windowsAccounts, windowsBlob, windowsFilter, windowsUserName, writeValue } from '../../src/keychain/credman.ts';
import { newSessionToken } from '../../emulator/state.ts';
import { spawnSync } from 'node:child_process';
import {
  awsHome, commandLine, consoleDevices, defaultKeyroleHome, dialogCancelled, exeName, forwardsSigint, hasPosixModes, homeMismatch, macGuiAvailable,
  openToOthers, pathCandidates, resolveOnPath, selfWords, spawnWords, splitCommandLine, windowsOpener, writableByOthers, unlockKeychainFix, duplicateItemsFix,
} from '../../src/util/platform.ts';

// A regional AssumeRole token at the top of its observed range (750–770 characters).
const REAL_TOKEN = `IQoJb3JpZ2luX2Vj${'A'.repeat(770 - 16)}`;
const SSO_PARAMS = canonicalParams({
  kind: 'sso', session: 'my-company-sso', startUrl: 'https://d-1234567890.awsapps.com/start/#/', ssoRegion: 'eu-central-1',
  accountId: '111122223333', roleName: 'AWSAdministratorAccess',
});

function bigEntry(params: string): string {
  return encodeEntry({
    params,
    profile: 'p'.repeat(64),
    source: 'sso:my-company-sso',
    roleArn: `arn:aws:iam::111122223333:role/${'path/'.repeat(4)}${'R'.repeat(64)}`,
    credentials: {
      accessKeyId: `ASIA${'X'.repeat(16)}`, secretAccessKey: 's'.repeat(40), sessionToken: REAL_TOKEN, expiration: new Date('2030-01-01T00:00:00Z'),
      accountId: '111122223333', arn: `arn:aws:sts::111122223333:assumed-role/${'R'.repeat(64)}/${'S'.repeat(64)}`,
    },
    clockOffsetMs: -123_456,
    storedAt: new Date('2030-01-01T00:00:00Z'),
  });
}

describe('Windows Credential Manager: 2,560 bytes per credential', () => {
  test('a cache entry with a real-length token, long names and an SSO role fits, with room to spare', () => {
    const value = bigEntry(paramsDigest(SSO_PARAMS));
    assert.equal(valueProblem(value, 'win32'), undefined);
    assert.ok(storedBytes(value) <= CREDENTIAL_MANAGER_MAX_BYTES - 900, `${storedBytes(value)} bytes`);
    // As UTF-16 (the addon's setPassword) the same entry would not fit: why keyrole writes UTF-8 there.
    assert.ok(value.length * 2 > CREDENTIAL_MANAGER_MAX_BYTES, `${value.length * 2} bytes as UTF-16`);
  });

  test('an IAM Identity Center record as the emulator issues it fits', () => {
    const b64 = (n: number) => 'A'.repeat(Math.ceil((n * 4) / 3));
    const value = encodeRecord({
      startUrl: 'https://d-1234567890.awsapps.com/start/#/', region: 'eu-central-1', scopes: ['sso:account:access'],
      clientId: b64(16), clientSecret: `eyJraWQiOiJrZXktMTU2NDAyODA5OSIsImFsZyI6IkhTMzg0In0.${b64(240)}.${b64(48)}`,
      registrationExpiresAt: new Date(), accessToken: `aoa${b64(300)}`, expiresAt: new Date(), refreshToken: `aor${b64(300)}`, obtainedAt: new Date(),
    });
    assert.equal(valueProblem(value, 'win32'), undefined, `${storedBytes(value)} bytes`);
  });

  test('a value over the limit is refused before the store is asked, on Windows only', () => {
    const value = 'x'.repeat(CREDENTIAL_MANAGER_MAX_BYTES + 1);
    assert.match(valueProblem(value, 'win32') ?? '', /2562 bytes, over Credential Manager's 2560/, 'the stored form, padded to an even length');
    assert.equal(valueProblem(value, 'linux'), undefined);
    assert.equal(valueProblem(value, 'darwin'), undefined);
    assert.equal(valueProblem('x'.repeat(CREDENTIAL_MANAGER_MAX_BYTES), 'win32'), undefined);
  });

  test('Windows values are written and read as UTF-8 bytes, elsewhere as the addon\'s password', () => {
    const calls: string[] = [];
    let stored: Uint8Array | string | null = null;
    const fake = {
      setSecret: (b: Uint8Array) => { calls.push('setSecret'); stored = b; },
      getSecret: () => { calls.push('getSecret'); return stored instanceof Uint8Array ? Array.from(stored) : null; },
      setPassword: (p: string) => { calls.push('setPassword'); stored = p; },
      getPassword: () => { calls.push('getPassword'); return typeof stored === 'string' ? stored : null; },
    };
    const value = '{"profile":"prød"}';
    writeValue(fake, value, 'win32');
    assert.equal((stored as unknown as Uint8Array).length, Buffer.byteLength(windowsBlob(value)));
    assert.deepEqual(JSON.parse(readValue(fake, 'win32')!), JSON.parse(value), 'the same JSON, its non-ASCII escaped');
    writeValue(fake, value, 'darwin');
    assert.equal(readValue(fake, 'darwin'), value);
    assert.deepEqual(calls, ['setSecret', 'getSecret', 'setPassword', 'getPassword']);
    stored = null;
    assert.equal(readValue(fake, 'win32'), null);
  });
});

describe('Credential Manager listings (CredEnumerateW: a prefix and one trailing *)', () => {
  test('an item\'s user name starts with its service, so the service\'s filter is a prefix that matches it and nothing of another service', () => {
    const filter = windowsFilter('keyrole:source');
    assert.match(filter, /^[^*]+\*$/, 'a prefix followed by one *');
    const prefix = filter.slice(0, -1);
    assert.ok(windowsUserName('keyrole:source', 'alice').startsWith(prefix));
    assert.ok(!windowsUserName('keyrole:source-x', 'alice').startsWith(prefix));
    assert.deepEqual(windowsAccounts('keyrole:source', [windowsUserName('keyrole:source', 'alice'), windowsUserName('keyrole:source', 'b.c/d'), 'other']), ['alice', 'b.c/d']);
  });

  test('every blob keyrole writes decodes as UTF-16, as the addon\'s listing decodes it: even length, no lone surrogate', () => {
    const decoder = new TextDecoder('utf-16le', { fatal: true });
    for (const value of ['{}', '{"a":1}', '{"profile":"prød"}', '{"p":"\u0600\u07ff"}', '{"e":"😀"}', JSON.stringify({ t: 'x'.repeat(2500) })]) {
      const blob = windowsBlob(value);
      assert.equal(blob.length % 2, 0, value);
      assert.doesNotThrow(() => decoder.decode(blob), value);
      assert.deepEqual(JSON.parse(blob.toString('utf8')), JSON.parse(value), value);
    }
  });
});

describe('the entry stores a digest of its parameters', () => {
  test('the digest tells parameters apart and is not the entry\'s name', () => {
    const other = canonicalParams({ kind: 'sso', session: 'my-company-sso', accountId: '111122223333', roleName: 'ReadOnly' });
    assert.notEqual(paramsDigest(SSO_PARAMS), paramsDigest(other));
    assert.match(paramsDigest(SSO_PARAMS), /^fnv128:[0-9a-f]{32}$/);
    assert.ok(!paramsDigest(SSO_PARAMS).includes(cacheKey(JSON.parse(SSO_PARAMS) as Record<string, unknown>)));
  });

  test('an entry is matched by its digest, and an older version\'s entry by its canonical text', () => {
    assert.ok(sameParams(paramsDigest(SSO_PARAMS), SSO_PARAMS));
    assert.ok(sameParams(SSO_PARAMS, SSO_PARAMS));
    assert.ok(!sameParams(paramsDigest('[["source","bob"]]'), SSO_PARAMS));
    // An older version compares the stored text with its canonical text: a digest is a miss there, not a crash.
    const e = decodeEntry(bigEntry(paramsDigest(SSO_PARAMS)));
    assert.ok(e && e.params !== SSO_PARAMS);
  });
});

test('the emulator issues session tokens as long as the regional STS endpoints do', () => {
  for (let i = 0; i < 50; i++) {
    const n = newSessionToken().length;
    assert.ok(n >= 750 && n <= 770, `${n} characters`);
  }
});

// ---- item by item: src/util/platform.ts ----

/** botocore's own compat_shell_split on each line, from the installed botocore (the AWS CLI's). */
function botocoreSplit(lines: string[], platform: string): (string[] | string)[] {
  const py = `
import json, sys
from botocore.compat import compat_shell_split
out = []
for line in json.load(sys.stdin):
    try:
        out.append(compat_shell_split(line, ${JSON.stringify(platform)}))
    except ValueError as e:
        out.append('error')
print(json.dumps(out))`;
  const r = spawnSync('python3', ['-c', py], { input: JSON.stringify(lines), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as (string[] | string)[];
}

describe('Windows semantics, decided by pure functions', () => {
  test('stat modes: Node reports 0666 on Windows, so no mode check refuses anything there', () => {
    // What Windows Node's fs.statSync reports for a new file and a directory (measured under Wine).
    for (const mode of [0o100666, 0o40666, 0o100444]) {
      assert.equal(writableByOthers(mode, 'win32'), false);
      assert.equal(openToOthers(mode, 'win32'), false);
    }
    assert.equal(hasPosixModes('win32'), false);
    assert.equal(writableByOthers(0o100666, 'linux'), true);
    assert.equal(writableByOthers(0o40700, 'darwin'), false);
    assert.equal(openToOthers(0o100640, 'darwin'), true);
    assert.equal(openToOthers(0o100600, 'linux'), false);
  });

  test('home: %USERPROFILE% on Windows whatever HOME says (as the AWS CLI), keyrole\'s files under %LOCALAPPDATA%', () => {
    const os = () => '/os-home';
    assert.equal(awsHome({ HOME: '/c/Users/a', USERPROFILE: 'C:\\Users\\a' }, 'win32', os), 'C:\\Users\\a');
    assert.equal(awsHome({ HOMEDRIVE: 'D:', HOMEPATH: '\\Users\\b' }, 'win32', os), 'D:\\Users\\b');
    assert.equal(awsHome({}, 'win32', os), '/os-home');
    assert.equal(awsHome({ HOME: '/home/a', USERPROFILE: 'C:\\x' }, 'linux', os), '/home/a');
    assert.equal(awsHome({}, 'darwin', os), '/os-home');
    assert.equal(defaultKeyroleHome({ LOCALAPPDATA: 'C:\\Users\\a\\AppData\\Local' }, 'win32', 'C:\\Users\\a'), 'C:\\Users\\a\\AppData\\Local\\keyrole');
    assert.equal(defaultKeyroleHome({}, 'win32', 'C:\\Users\\a'), 'C:\\Users\\a\\AppData\\Local\\keyrole');
    assert.equal(defaultKeyroleHome({ LOCALAPPDATA: 'x' }, 'linux', '/home/a'), '/home/a/.aws/keyrole');
  });

  test('doctor\'s HOME warning: only on Windows, only when HOME names another directory (Git Bash\'s /c/... is the same)', () => {
    assert.equal(homeMismatch({ HOME: '/c/Users/a', USERPROFILE: 'C:\\Users\\a' }, 'win32'), undefined);
    assert.equal(homeMismatch({ HOME: 'c:\\users\\A', USERPROFILE: 'C:\\Users\\a' }, 'win32'), undefined);
    assert.match(homeMismatch({ HOME: 'D:\\home', USERPROFILE: 'C:\\Users\\a' }, 'win32') ?? '', /HOME is D:\\home but the AWS CLI and keyrole read C:\\Users\\a\\\.aws/);
    assert.equal(homeMismatch({ HOME: '/home/x', USERPROFILE: 'C:\\Users\\a' }, 'linux'), undefined);
  });

  test('console devices: read-write on Windows (a write-only CONOUT$ fails Node\'s TTY set-up), by their device paths (a bare CONIN$ becomes \\\\?\\<cwd>\\CONIN$)', () => {
    assert.deepEqual(consoleDevices('win32'), { input: '\\\\.\\CONIN$', output: '\\\\.\\CONOUT$', inputFlags: 'r+', outputFlags: 'r+' });
    assert.deepEqual(consoleDevices('linux'), { input: '/dev/tty', output: '/dev/tty', inputFlags: 'r', outputFlags: 'w' });
  });

  const WINDOWS_PATHS = [
    'C:\\Program Files\\keyrole\\keyrole.exe', 'C:\\Users\\O\'Brien\\bin\\keyrole.exe', 'C:\\tools\\keyrole.exe',
    'C:\\dir with "quote"\\keyrole.exe', 'C:\\trailing\\', 'C:\\a b\\', 'prod', 'team/prod', 'a\\\\"b', '',
  ];

  test('credential_process lines for Windows: what botocore\'s own Windows splitter reads back word for word', () => {
    const lines = WINDOWS_PATHS.map((p) => commandLine([p, 'process', 'prod'], 'win32'));
    assert.deepEqual(botocoreSplit(lines, 'win32'), WINDOWS_PATHS.map((p) => [p, 'process', 'prod']));
    // The npm channel: Node runs the bundle.
    const npm = commandLine(selfWords({ platform: 'win32', execPath: 'C:\\Program Files\\nodejs\\node.exe', script: 'C:\\Users\\a\\AppData\\Roaming\\npm\\node_modules\\keyrole\\dist\\keyrole.cjs', isExecutable: false }), 'win32');
    assert.equal(npm, '"C:\\Program Files\\nodejs\\node.exe" C:\\Users\\a\\AppData\\Roaming\\npm\\node_modules\\keyrole\\dist\\keyrole.cjs');
    assert.deepEqual(selfWords({ platform: 'win32', execPath: 'C:\\k\\keyrole.exe', script: 'C:\\k\\keyrole.exe', isExecutable: true }), ['C:\\k\\keyrole.exe']);
    // regression: the npm channel wrote the script alone, whose shebang needs node on PATH (127 from cron or an IDE).
    assert.deepEqual(selfWords({ platform: 'darwin', execPath: '/usr/local/bin/node', script: '/usr/local/lib/keyrole.cjs', isExecutable: false }), ['/usr/local/bin/node', '/usr/local/lib/keyrole.cjs']);
    // What was written before: a single-quoted path, which the Windows splitter keeps quotes and all (WinError 2).
    assert.deepEqual(botocoreSplit(["'C:\\Program Files\\keyrole.exe' process prod"], 'win32'), [["'C:\\Program", "Files\\keyrole.exe'", 'process', 'prod']]);
  });

  test('POSIX lines are unchanged: shlex quoting, which botocore\'s shlex.split reads back', () => {
    const paths = ['/usr/local/bin/keyrole', '/Users/O\'Brien/bin/keyrole', '/Applications/My Tools/keyrole'];
    const lines = paths.map((p) => commandLine([p, 'process', 'prod'], 'darwin'));
    assert.deepEqual(botocoreSplit(lines, 'darwin'), paths.map((p) => [p, 'process', 'prod']));
  });

  test('doctor splits a line as botocore does on Windows: the port agrees with botocore on awkward lines', () => {
    const lines = [
      'keyrole process prod', '"C:\\Program Files\\keyrole.exe" process prod', 'a\\\\"b c"  d', 'a\\"b', 'a\\\\\\"b', 'C:\\trail\\ x',
      '"" x', '  spaced \t out  ', 'x"y z"w', '"unterminated', 'tail\\\\', "'single quoted' word", '"a\\\\" b',
    ];
    const expected = botocoreSplit(lines, 'win32');
    lines.forEach((line, i) => {
      let got: string[] | string;
      try { got = splitCommandLine(line, 'win32'); } catch { got = 'error'; }
      assert.deepEqual(got, expected[i], line);
    });
  });

  test('PATH lookup on Windows tries PATHEXT (keyrole.exe, npx.cmd); elsewhere the name alone', () => {
    assert.deepEqual(pathCandidates('keyrole', 'win32', { PATHEXT: '.COM;.EXE;.BAT;.CMD' }), ['keyrole', 'keyrole.com', 'keyrole.exe', 'keyrole.bat', 'keyrole.cmd']);
    assert.deepEqual(pathCandidates('keyrole.exe', 'win32', {}), ['keyrole.exe']);
    assert.deepEqual(pathCandidates('keyrole', 'linux', { PATHEXT: '.EXE' }), ['keyrole']);
    const files = new Set(['C:\\bin\\npx.cmd', 'C:\\tools\\keyrole.exe']);
    assert.equal(resolveOnPath('npx', 'win32', { PATH: 'C:\\nothing;C:\\bin', PATHEXT: '.EXE;.CMD' }, (p) => files.has(p)), 'C:\\bin\\npx.cmd');
    assert.equal(resolveOnPath('keyrole', 'win32', { Path: 'C:\\tools', PATHEXT: '.EXE;.CMD' }, (p) => files.has(p)), 'C:\\tools\\keyrole.exe');
    assert.equal(exeName('keyrole', 'win32'), 'keyrole.exe');
    assert.equal(exeName('keyrole', 'darwin'), 'keyrole');
  });

  test('exec: .cmd tools through cmd.exe /d /s /c with every metacharacter escaped; others directly', () => {
    assert.deepEqual(spawnWords(['terraform.exe', 'plan', 'a&b'], 'win32'), { file: 'terraform.exe', args: ['plan', 'a&b'], verbatim: false });
    assert.deepEqual(spawnWords(['npx.cmd', 'x'], 'linux'), { file: 'npx.cmd', args: ['x'], verbatim: false });
    const r = spawnWords(['C:\\Program Files\\nodejs\\npx.cmd', 'cdk', 'deploy', 'a&calc', '100%', 'say "hi"'], 'win32', 'C:\\Windows\\system32\\cmd.exe');
    assert.equal(r.file, 'C:\\Windows\\system32\\cmd.exe');
    assert.equal(r.verbatim, true);
    assert.deepEqual(r.args.slice(0, 3), ['/d', '/s', '/c']);
    const line = r.args[3]!;
    assert.ok(line.startsWith('"C:\\Program^ Files\\nodejs\\npx.cmd ') && line.endsWith('"'), line);
    // No metacharacter is left unescaped for cmd.exe to act on: & | < > ( ) % ! ^ " each behind a ^.
    const inner = line.slice(1, -1);
    assert.ok(!/[&|<>()%!"]/.test(inner.replace(/\^./g, '')), inner);
    assert.match(inner, /\^\^\^&calc/);
  });

  test('Ctrl-C in exec: never forwarded on Windows; on POSIX only when the child is not in the terminal\'s group', () => {
    assert.equal(forwardsSigint('win32', false), false);
    assert.equal(forwardsSigint('win32', true), false);
    assert.equal(forwardsSigint('linux', true), false);
    assert.equal(forwardsSigint('darwin', false), true);
  });

  test('GUI prompts: PowerShell\'s Cancel (empty string, status 0) is a cancel; no display over SSH on macOS', () => {
    assert.equal(dialogCancelled('win32', 0, '\r\n'), true);
    assert.equal(dialogCancelled('win32', 0, '123456\r\n'), false);
    assert.equal(dialogCancelled('darwin', 1, ''), true);
    assert.equal(dialogCancelled('linux', 0, ''), false, 'zenity\'s empty answer is an answer (checked as not 6 digits)');
    assert.equal(macGuiAvailable({}), true);
    assert.equal(macGuiAvailable({ SSH_CONNECTION: '10.0.0.1 5 10.0.0.2 22' }), false);
    assert.equal(macGuiAvailable({ SSH_TTY: '/dev/ttys003' }), false);
    assert.equal(macGuiAvailable({ SSH_CONNECTION: 'x', DISPLAY: 'localhost:10' }), true);
    assert.deepEqual(windowsOpener('https://x/?a=1&b=2'), ['rundll32.exe', ['url.dll,FileProtocolHandler', 'https://x/?a=1&b=2']]);
  });

  test('keychain fixes name the platform\'s own tools, never gnome-keyring on macOS or Windows', () => {
    for (const p of ['darwin', 'win32'] as const) {
      assert.doesNotMatch(unlockKeychainFix(p) + duplicateItemsFix(p), /gnome|seahorse|secret-tool/);
    }
    assert.match(unlockKeychainFix('darwin'), /security unlock-keychain/);
    assert.match(duplicateItemsFix('win32'), /cmdkey/);
    assert.match(unlockKeychainFix('linux'), /read -rsp .* gnome-keyring-daemon --replace --unlock/, 'a command that works from a shell (doctor.e2e runs it)');
  });
});
