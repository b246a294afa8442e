// Every failure of the core path: a non-zero exit, exactly one actionable line on stderr,
// nothing on stdout.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { existsSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { startKeyring, tempHome } from './support/keyring.ts';
import { keyrole, type RunResult } from './support/run.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID } from './support/emulator.ts';

const ROLE = (name: string) => `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/${name}`;

function assertFails(r: RunResult, pattern: RegExp) {
  assert.notEqual(r.code, 0, `expected failure, got success: ${r.stdout}`);
  assert.equal(r.stdout, '', 'stdout stays empty on failure');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^keyrole: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

describe('failures of the core path', () => {
  let w: World;

  before(async () => {
    w = await startWorld();
    const p = (name: string, lines: Record<string, string | number>) => keyroleProfile(name, lines);
    w.writeConfig([
      p('prod', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin') }),
      p('nosource', { region: 'eu-west-1' }),
      '[profile native]\nrole_arn = ' + ROLE('Admin') + '\nsource_profile = base\ncredential_process = keyrole process native\n',
      p('ghost', { keyrole_source: 'ghost', keyrole_role_arn: ROLE('Admin') }),
      p('denied', { keyrole_source: 'alice', keyrole_role_arn: ROLE('DoesNotExist') }),
      p('unknownkey', { keyrole_source: 'bob', keyrole_role_arn: ROLE('Admin') }),
      p('wrongsecret', { keyrole_source: 'carol', keyrole_role_arn: ROLE('Admin') }),
      p('toolong', { keyrole_source: 'alice', keyrole_role_arn: ROLE('ReadOnly'), keyrole_duration_seconds: 7200 }),
      p('soon', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin'), keyrole_duration_seconds: 'soon' }),
      p('shadowed', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin'), sso_session: 'corp' }),
    ].join('\n'));
    assert.equal((await w.setup('alice')).code, 0);
    assert.equal((await w.setup('bob', 'AKIAUNKNOWNKEY000000', 'x'.repeat(40))).code, 0);
    assert.equal((await w.setup('carol', DEMO_ACCESS_KEY_ID, 'y'.repeat(40))).code, 0);
  });
  after(() => w?.stop());

  const proc = (profile: string, env?: Record<string, string | undefined>) => w.keyrole(['process', profile, '--cache', 'none'], { env });

  test('unknown profile names the config file', async () => {
    assertFails(await proc('nope'), new RegExp(`profile "nope" is not in ${w.configPath.replace(/[.]/g, '\\.')}.*add a \\[profile nope\\] section`));
  });

  test('missing config file is said so', async () => {
    assertFails(await proc('prod', { AWS_CONFIG_FILE: `${w.home}/missing` }), /the file does not exist/);
  });

  test('profile without a source', async () => {
    assertFails(await proc('nosource'), /profile nosource names no source.*keyrole_source/);
  });

  test('a profile using source_profile is told why the CLI never runs keyrole', async () => {
    assertFails(await proc('native'), /source_profile, which makes the AWS CLI assume the role itself/);
  });

  test('source not in the keychain names the setup command', async () => {
    assertFails(await proc('ghost'), /source "ghost" is not in the Secret Service keychain.*keyrole setup ghost/);
  });

  test('a malformed duration', async () => {
    assertFails(await proc('soon'), /keyrole_duration_seconds in profile soon = "soon" is not a whole number of seconds from 900 to 43200/);
  });

  test('STS AccessDenied', async () => {
    assertFails(await proc('denied'), /STS denied AssumeRole .*not authorized to perform: sts:AssumeRole.*trust policy/);
  });

  test('regression: a failed refresh\'s <hash>.lock.failed record is removed once no waiter can still read it (they were left for good)', async () => {
    const dir = join(w.home, '.aws', 'keyrole');
    const records = () => (existsSync(dir) ? readdirSync(dir) : []).filter((n) => n.endsWith('.lock.failed')).sort();
    for (const n of records()) rmSync(join(dir, n));
    assertFails(await w.keyrole(['process', 'denied']), /STS denied AssumeRole/);
    const left = records();
    assert.equal(left.length, 1, 'the failed holder leaves its error for the waiters');
    const miss = async () => {
      assert.equal((await w.keyrole(['cache', 'clear', 'prod'])).code, 0);
      const r = await w.keyrole(['process', 'prod']);
      assert.equal(r.code, 0, r.stderr);
    };
    // Fresh, a waiter of that failure may still be about to read it: another holder keeps it.
    await miss();
    assert.deepEqual(records(), left);
    // Older than the longest wait (45 s + 120 s + 45 s): the next holder of any lock removes it.
    const old = new Date(Date.now() - 15 * 60 * 1000);
    utimesSync(join(dir, left[0]!), old, old);
    await miss();
    assert.deepEqual(records(), []);
  });

  test('STS InvalidClientTokenId for a key AWS does not know', async () => {
    assertFails(await proc('unknownkey'), /does not recognise the source's access key.*keyrole setup/);
  });

  test('STS SignatureDoesNotMatch for a wrong secret', async () => {
    assertFails(await proc('wrongsecret'), /secret access key does not belong to the access key id.*keyrole setup <source> --force/);
  });

  test('STS ValidationError for a duration above the role maximum names the setting', async () => {
    assertFails(await proc('toolong'), /MaxSessionDuration.*lower keyrole_duration_seconds/);
  });

  test('STS ExpiredToken', async () => {
    await w.emu.behaviour({ faults: [{ action: 'AssumeRole', times: 1, kind: 'error', status: 400, code: 'ExpiredToken', message: 'The security token included in the request is expired' }] });
    assertFails(await proc('prod'), /security token is expired/);
  });

  test('network unreachable: connection refused ends at once', async () => {
    const r = await proc('prod', { AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:1' });
    assertFails(r, /cannot reach STS at http:\/\/127\.0\.0\.1:1 .*ECONNREFUSED.*AWS_ENDPOINT_URL_STS/);
  });

  test('network unreachable: a server that never answers ends within a bound', async () => {
    const sockets: import('node:net').Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const r = await proc('prod', { AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${port}` });
      assertFails(r, /cannot reach STS/);
      assert.ok(r.ms < 20_000, `ended after ${r.ms} ms (keyrole bounds an STS exchange at 12 s)`);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  test('keys that shadow credential_process are reported with --debug', async () => {
    const r = await w.keyrole(['process', 'shadowed', '--debug', '--cache', 'none']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: profile shadowed also sets sso_session; .*bypass keyrole/);
  });

  test('unknown command and bad flags are usage errors (exit 2)', async () => {
    const a = await w.keyrole(['frobnicate']);
    assertFails(a, /unknown command "frobnicate"/);
    assert.equal(a.code, 2);
    const b = await w.keyrole(['process', 'prod', '--no-such-flag']);
    assertFails(b, /unknown option --no-such-flag; see keyrole process --help/);
  });

  test('setup never takes keys from argv and rejects malformed keys before storing', async () => {
    assertFails(await w.keyrole(['setup', 'dave', DEMO_ACCESS_KEY_ID]), /setup takes one source name/);
    assertFails(await w.keyrole(['setup', 'dave'], { input: 'AKIA123\nsecret\n' }), /access key id is not AKIA followed by 16/);
    assertFails(await w.keyrole(['setup', 'dave'], { input: `ASIAKEYROLEDEMO00001\n${'z'.repeat(40)}\n` }), /temporary key/);
    assertFails(await w.keyrole(['process', '--source', 'dave', '--role-arn', ROLE('Admin')]), /source "dave" is not in the Secret Service keychain/);
  });

  test('setup refuses to replace an existing source without confirmation when there is no terminal', async () => {
    const r = await w.keyrole(['setup', 'alice'], { input: `${DEMO_ACCESS_KEY_ID}\n${'q'.repeat(40)}\n` });
    assertFails(r, /source "alice" is already in the keychain and there is no terminal to confirm replacing it; pass --force to replace it: keyrole setup alice --force/);
    // …and the stored key still works.
    const ok = await proc('prod');
    assert.equal(ok.code, 0, ok.stderr);
  });
});

describe('keychain unavailable', () => {
  test('a locked keychain (wrong unlock password) is reported as locked', async () => {
    const home = tempHome();
    const first = await startKeyring({ home, password: 'right' });
    const env = { ...first.env };
    const s = await keyrole(['setup', 'alice', '--no-verify'], { env, input: `${DEMO_ACCESS_KEY_ID}\n${'k'.repeat(40)}\n` });
    assert.equal(s.code, 0, s.stderr);
    await first.stop();
    const second = await startKeyring({ home, password: 'wrong' });
    try {
      const cfg = `${home}/config`;
      (await import('node:fs')).writeFileSync(cfg, keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin') }));
      const r = await keyrole(['process', 'prod'], { env: { ...second.env, AWS_CONFIG_FILE: cfg } });
      assertFails(r, /Secret Service keychain is locked.*unlock it/);
      // A locked Secret Service is never a reason to use the file store (src/keychain/selection.ts).
      const s2 = await keyrole(['setup', 'bob', '--no-verify'], { env: second.env, input: `${DEMO_ACCESS_KEY_ID}\n${'k'.repeat(40)}\n` });
      assertFails(s2, /Secret Service keychain is locked/);
      assert.equal(existsSync(join(home, '.aws', 'keyrole', 'store')), false, 'no file store beside the locked keychain');
    } finally {
      await second.stop();
    }
  });

  test('no D-Bus session at all: keyrole says once that it uses its encrypted file store; then each failure is one line', async () => {
    const home = tempHome();
    const cfg = `${home}/config`;
    (await import('node:fs')).writeFileSync(cfg, keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin') }));
    const first = await keyrole(['process', 'prod'], { env: { HOME: home, AWS_CONFIG_FILE: cfg } });
    assert.notEqual(first.code, 0);
    assert.equal(first.stdout, '');
    assert.match(first.stderr, /^keyrole: no D-Bus session \(DBUS_SESSION_BUS_ADDRESS is unset\), so keyrole keeps its keys in its encrypted file store in .*\n/, 'the choice is said');
    const r = await keyrole(['process', 'prod'], { env: { HOME: home, AWS_CONFIG_FILE: cfg } });
    assertFails(r, /source "alice" is not in keyrole's file store.*keyrole setup alice/);
    const s = await keyrole(['setup', 'alice', '--no-verify'], { env: { HOME: home }, input: `${DEMO_ACCESS_KEY_ID}\n${'k'.repeat(40)}\n` });
    assertFails(s, /the file store is locked and there is no terminal.*KEYROLE_PASSPHRASE_FILE.*KEYROLE_PASSPHRASE_COMMAND/);
  });

  test('a D-Bus address with no bus behind it (a stale session) is one line with the file store as the way out, never a switch to it', async () => {
    const home = tempHome();
    const cfg = `${home}/config`;
    (await import('node:fs')).writeFileSync(cfg, keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin') }));
    const env = { HOME: home, AWS_CONFIG_FILE: cfg, DBUS_SESSION_BUS_ADDRESS: `unix:path=${home}/no-bus` };
    const r = await keyrole(['process', 'prod'], { env });
    assertFails(r, /no Secret Service is running: no Secret Service answers on this D-Bus session.*KEYROLE_KEYCHAIN=file/);
    const s = await keyrole(['setup', 'alice', '--no-verify'], { env, input: `${DEMO_ACCESS_KEY_ID}\n${'k'.repeat(40)}\n` });
    assertFails(s, /no Secret Service is running/);
    assert.equal(existsSync(join(home, '.aws', 'keyrole', 'store')), false, 'no file store chosen');
  });
});
