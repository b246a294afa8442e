// Every command on the file store (issue 26), with no D-Bus session at all: the store made
// and unlocked once by `setup` (KEYROLE_PASSPHRASE_FILE), then import from a plaintext
// ~/.aws/credentials (the real AWS CLI on the imported profile), rotate, an MFA profile
// (the code from oathtool typed at a pseudo-terminal, the MFA session kept in the store),
// IAM Identity Center (keyrole login, the device flow, an SSO role), AWS Sign-In (keyrole
// login, keyrole_login_session, the JS SDK), status, doctor (the store, unlocked until
// when), cache list and clear, logout, remove and list; then exec --server (the AWS CLI)
// and serve (boto3) still answering after the session's unlocked key is gone, doctor on the
// locked store, and status, which never asks for the passphrase (a shell prompt's
// `status --short` at a real terminal). One world, and two scrypts (the store's creation,
// status's unlock at the end): every other call, the callers' too, runs with no passphrase
// source, on the session's unlocked key.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyroleProfile, type World } from './support/world.ts';
import { baseEnv, KEYROLE, ROOT, type RunResult } from './support/run.ts';
import { onPty } from './support/pty.ts';
import { requireTool } from './support/tools.ts';
import { until } from './support/until.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';
import { fileStoreWorld, filesHolding, type FileStoreWorld } from './support/filestore.ts';
import { assertOneLine } from '../scripts/robustness-doc.ts';

const ROLE = (name: string) => `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/${name}`;
const ALICE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:user/alice`;
const START = 'https://keyrole-demo.awsapps.com/start';
const UNLOCK_HOURS = 2;

const CONFIG = `[sso-session my-sso]
sso_start_url = ${START}
sso_region = eu-west-1
sso_registration_scopes = sso:account:access

${keyroleProfile('prod', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin'), keyrole_duration_seconds: 900 })}
${keyroleProfile('srv', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin'), keyrole_duration_seconds: 1200 })}
${keyroleProfile('mfa', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_mfa_serial: DEMO_MFA_SERIAL, keyrole_role_arn: ROLE('MfaAdmin') })}
${keyroleProfile('mfa-ro', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_mfa_serial: DEMO_MFA_SERIAL, keyrole_role_arn: ROLE('ReadOnly') })}
${keyroleProfile('sso-admin', { region: 'eu-west-1', keyrole_sso_session: 'my-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'AdministratorAccess' })}
[profile user1]
region = eu-west-1
`;

interface SsoStats { startDeviceAuthorization: number; createToken: { deviceCode: number; pending: number }; getRoleCredentials: number }

/** The arn the AWS CLI (v1) says it is, or the failure. */
function arnOf(r: RunResult): string {
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

describe('every command on the file store, with no D-Bus session', () => {
  let f: FileStoreWorld;
  let w: World;
  /** For the callers (the AWS CLI, boto3, the JS SDK, keyrole's own later calls): no D-Bus, no passphrase source: the session's unlocked key only. */
  let caller: Record<string, string | undefined>;
  const calls = async (action: string) => (await w.emu.stats()).calls[action] ?? 0;
  const kr = (args: string[], env: Record<string, string | undefined> = {}, input?: string) => f.kr(args, { ...caller, ...env }, input);
  const aws = (args: string[], env: Record<string, string | undefined> = {}) => w.run('aws', [...args, '--output', 'text'], { env: { ...caller, ...env }, timeoutMs: 120_000 });

  before(async () => {
    for (const t of ['aws', 'python3', 'oathtool', 'script', 'curl']) requireTool(t);
    f = await fileStoreWorld({ keyring: false });
    w = f.w;
    w.writeConfig(CONFIG);
    const endpoints = { AWS_ENDPOINT_URL_IAM: w.emu.url, AWS_ENDPOINT_URL_SSO_OIDC: w.emu.url, AWS_ENDPOINT_URL_SSO: w.emu.url, AWS_ENDPOINT_URL_SIGNIN: w.emu.url };
    caller = { ...f.noBus, ...endpoints, KEYROLE_PASSPHRASE_FILE: undefined, DISPLAY: '', WAYLAND_DISPLAY: '' };
    // The store made once, unlocked for the session: KEYROLE_UNLOCK_TIMEOUT says until when.
    const s = await kr(['setup', 'alice'], { KEYROLE_PASSPHRASE_FILE: f.ppFile, KEYROLE_UNLOCK_TIMEOUT: `${UNLOCK_HOURS}h` }, `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n`);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /created an encrypted file store/);
  });
  after(() => w?.stop());

  test('import: plaintext keys of ~/.aws/credentials move into the file store; the AWS CLI then runs the profile through keyrole', async () => {
    const bob = await w.emu.addUser('bob');
    const credPath = join(w.home, '.aws', 'credentials');
    writeFileSync(credPath, `[user1]\naws_access_key_id = ${bob.accessKeyId}\naws_secret_access_key = ${bob.secretAccessKey}\n`, { mode: 0o600 });
    const r = await kr(['import', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Imported 1 key \(user1\)/);
    assert.doesNotMatch(readFileSync(credPath, 'utf8'), /aws_secret_access_key/);
    assert.match(readFileSync(w.configPath, 'utf8'), /\[profile user1\]\nregion = eu-west-1\ncredential_process = \S+ process user1\nkeyrole_source = user1\n/);
    const before = await calls('GetCallerIdentity');
    assert.equal(arnOf(await aws(['sts', 'get-caller-identity', '--profile', 'user1', '--query', 'Arn'])), bob.arn);
    assert.equal(await calls('GetCallerIdentity'), before + 1);
    assert.deepEqual(filesHolding(w.home, bob.secretAccessKey), [], 'the secret is in no file but the encrypted store');
    assert.match((await kr(['list'])).stdout, /^user1 +AKIA…\w{4} +user1$/m);
  });

  test('rotate: a new key for alice, stored in the file store; the role is assumed with it', async () => {
    const r = await kr(['rotate', 'alice']);
    assert.equal(r.code, 0, r.stderr);
    const m = /Rotated source "alice": AKIA…0001 → (AKIA…\w{4})/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.match((await kr(['list'])).stdout, new RegExp(`^alice +${m[1]} +mfa, mfa-ro, prod, srv$`, 'm'));
    const keys = await w.emu.control<{ accessKeyId: string }[]>('POST', 'access-keys', { userName: 'alice' });
    assert.equal(keys.length, 1);
    const p = await kr(['process', 'prod', '--cache', 'none']);
    assert.equal(p.code, 0, p.stderr);
    const q = (await w.emu.stats()).requests.filter((x) => x.action === 'AssumeRole').at(-1)!;
    assert.equal(q.accessKeyId, keys[0].accessKeyId, 'the role is assumed with the new key, read from the file store');
  });

  test('MFA: keyrole login takes the code at the terminal; the MFA session in the file store serves a second role with no code', async () => {
    const code = (await w.run('oathtool', ['--totp', '-b', DEMO_MFA_SECRET])).stdout.trim();
    const sessions = await calls('GetSessionToken');
    const r = await onPty(`${KEYROLE} login mfa`, [[/MFA code for .*\(profile mfa\): /, `${code}\r`]], { HOME: w.home, AWS_ENDPOINT_URL_STS: w.emu.url }, 120_000);
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /renewed with the MFA code: the MFA session of source "alice" lasts until \S+Z/);
    assert.equal(await calls('GetSessionToken'), sessions + 1);
    const ro = await kr(['process', 'mfa-ro']);
    assert.equal(ro.code, 0, ro.stderr);
    assert.equal(await calls('GetSessionToken'), sessions + 1, 'one code for both roles');
    assert.match((await kr(['cache', 'list'])).stdout, /the MFA session of source "alice"/);
  });

  test('IAM Identity Center: keyrole login with the device flow keeps the token in the file store; the SSO role through the AWS CLI', async () => {
    const stats = () => w.emu.control<SsoStats>('GET', 'sso/stats');
    const pendingBefore = (await stats()).createToken.pending;
    const [login] = await Promise.all([
      kr(['login', 'my-sso', '--use-device-code']),
      (async () => {
        // Approved once keyrole has polled and been told authorization_pending.
        const userCode = await until('a polled device code', async () => {
          const pending = await w.emu.control<{ userCode: string }[]>('GET', 'sso/pending');
          return pending.length === 1 && (await stats()).createToken.pending > pendingBefore ? pending[0].userCode : undefined;
        });
        await w.emu.control('POST', 'sso/approve', { userCode });
      })(),
    ]);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stderr, /Signed in\. The token is in the keychain until/);
    assert.equal(existsSync(join(w.home, '.aws', 'sso')), false, 'no ~/.aws/sso/cache file');
    assert.match(arnOf(await aws(['sts', 'get-caller-identity', '--profile', 'sso-admin', '--query', 'Arn'])), /:assumed-role\/AWSReservedSSO_AdministratorAccess_[0-9a-f]{16}\/alice$/);
    assert.deepEqual([(await stats()).createToken.deviceCode, (await stats()).getRoleCredentials], [1, 1]);
    assert.match((await kr(['status', 'sso-admin'])).stdout, /IAM Identity Center/);
  });

  test('AWS Sign-In: keyrole login writes a keyrole_login_session profile; the JS SDK runs it from the file store', async () => {
    const browser = join(w.home, 'fetch-browser.sh');
    // A browser that only follows keyrole's page file and the redirects: the loopback gets its code.
    writeFileSync(browser, `#!/bin/sh\ncurl -sL -o /dev/null "$(${join(ROOT, 'test', 'fixtures', 'page-url.sh')} "$1")"\n`);
    chmodSync(browser, 0o755);
    await w.emu.control('POST', 'login/behaviour', { autoAuthorize: true });
    try {
      const r = await kr(['login', 'dev', '--region', 'eu-west-1'], { BROWSER: browser });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`signed in as ${ALICE.replace(/[/]/g, '\\/')}; the session is in the keychain until`));
    } finally {
      await w.emu.control('POST', 'login/behaviour', { autoAuthorize: false });
    }
    assert.match(readFileSync(w.configPath, 'utf8'), new RegExp(`\\[profile dev\\]\\ncredential_process = \\S+ process dev\\nkeyrole_login_session = ${ALICE.replace(/[/]/g, '\\/')}\\n`));
    const js = `const { STSClient, GetCallerIdentityCommand } = require(${JSON.stringify(join(ROOT, 'node_modules/@aws-sdk/client-sts'))});
new STSClient({ profile: 'dev', region: 'eu-west-1' }).send(new GetCallerIdentityCommand({})).then((r) => console.log(r.Arn), (e) => { console.error(e.message); process.exit(1); });`;
    const node = await w.run(process.execPath, ['-e', js], { env: caller });
    assert.equal(node.code, 0, node.stderr);
    assert.equal(node.stdout.trim(), ALICE);
    assert.deepEqual(filesHolding(w.home, 'PRIVATE KEY'), [], 'the DPoP key is in no plaintext file');
  });

  test('status and doctor: the store, unlocked until when; status from the store alone', async () => {
    const st = await kr(['status', 'mfa']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^mfa: role \S+MfaAdmin: (59|60) min left \(until \S+Z\)$/m, st.stdout);
    assert.match(st.stdout, /^ {2}under it, the MFA session of source "alice": 1[12] h \d+ min left/m, st.stdout);
    const doc = await kr(['doctor', 'prod', '--no-network']);
    const m = /^ok +keychain +keyrole's file store \(chosen by itself: no D-Bus session\) in \S+ \(age, scrypt\) is unlocked until (\S+Z) \((\d+) sources?\)$/m.exec(doc.stdout);
    assert.ok(m, doc.stdout);
    const left = Date.parse(m[1]) - Date.now();
    assert.ok(left > (UNLOCK_HOURS - 1) * 3600_000 && left <= UNLOCK_HOURS * 3600_000, `unlocked until ${m[1]}: KEYROLE_UNLOCK_TIMEOUT=${UNLOCK_HOURS}h at the unlock`);
    assert.equal(m[2], '2', 'alice and user1');
  });

  test('cache list and cache clear on the store', async () => {
    assert.equal((await kr(['process', 'prod'])).code, 0);
    const list = await kr(['cache', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^prod +role \S+Admin/m);
    const cleared = await kr(['cache', 'clear', 'prod']);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stdout, /Cleared the cached credentials of profile prod/);
    assert.doesNotMatch((await kr(['cache', 'list'])).stdout, /^prod /m);
    const before = await calls('AssumeRole');
    assert.equal((await kr(['process', 'prod'])).code, 0);
    assert.equal(await calls('AssumeRole'), before + 1, 'a miss after the clear');
  });

  test('exec: the AWS CLI as the command, with the role\'s credentials from the store in its environment', async () => {
    const r = await kr(['exec', 'prod', '--', 'aws', 'sts', 'get-caller-identity', '--query', 'Arn', '--output', 'text']);
    assert.match(arnOf(r), /^arn:aws:sts::\d{12}:assumed-role\/Admin\//);
  });

  test('logout ends the AWS Sign-In session kept in the store', async () => {
    const out = await kr(['logout', 'dev']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^Signed out of arn:aws:iam::\d{12}:user\/alice \(profile dev\): the AWS Sign-In session is removed from the keychain/);
    assertOneLine(await kr(['process', 'dev']), /there is no AWS Sign-In session for profile dev in the keychain\W+run: keyrole login dev/);
  });

  test('remove and list: a source and the credentials made with it leave the store', async () => {
    const r = await kr(['remove', 'user1', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Removed source "user1" and 1 cached credential made with it/m);
    const list = await kr(['list']);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, /^user1 +AKIA/m);
    assert.match(list.stdout, /^alice +AKIA…\w{4} +mfa, mfa-ro, prod, srv$/m);
    assertOneLine(await kr(['process', 'user1']), /source "user1" is not in .*keyrole setup user1/);
  });

  test('exec --server (the AWS CLI) and serve (boto3) still answer after the session\'s unlocked key is gone: they keep the store key for their whole life', async () => {
    // 12-second credentials: every request to either endpoint is a miss that reads alice from
    // the store (srv, a cache entry of its own, is asked only here: nothing longer-lived is
    // cached for it).
    await w.emu.behaviour({ credentialLifetimeSeconds: 12 });
    const dir = join(w.home, 'exec-server');
    const serve = spawn(KEYROLE, ['serve', 'srv'], { env: baseEnv({ ...w.env, ...caller }), stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = '';
    let err = '';
    serve.stdout.setEncoding('utf8').on('data', (d: string) => { lines += d; });
    serve.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const served = new Promise((r) => serve.once('exit', r));
    mkdirSync(dir);
    // exec --server's child: one AWS CLI call, then another once the test says go.
    const script = `
        aws sts get-caller-identity --query Arn --output text > "$D/first" || exit 11
        : > "$D/ready"
        n=0; while [ ! -e "$D/go" ] && [ $n -lt 6000 ]; do sleep 0.1; n=$((n+1)); done
        aws sts get-caller-identity --query Arn --output text > "$D/second" || exit 12`;
    const exec = kr(['exec', '--server', 'srv', '--', 'sh', '-c', script], { D: dir });
    try {
      await until('serve to say it serves', () => (/serving srv at/.test(err) ? true : serve.exitCode !== null ? assert.fail(`serve exited: ${err}`) : undefined));
      const linesFile = join(w.home, 'serve-lines.sh');
      writeFileSync(linesFile, lines);
      const boto3 = () => w.run('sh', ['-c', '. "$1"; exec python3 -c \'import boto3; print(boto3.client("sts").get_caller_identity()["Arn"])\'', 'sh', linesFile], { env: caller, timeoutMs: 120_000 });
      assert.match(arnOf(await boto3()), /assumed-role\/Admin\//);
      await until('exec --server\'s first call', () => (existsSync(join(dir, 'ready')) ? true : undefined));

      await f.reboot();
      assertOneLine(await kr(['process', 'srv']), /file store is locked/);
      const before = await calls('AssumeRole');
      assert.match(arnOf(await boto3()), /assumed-role\/Admin\//);
      const afterServe = await calls('AssumeRole');
      assert.ok(afterServe > before, 'serve: a miss, served with the store key it keeps');
      writeFileSync(join(dir, 'go'), '');
      const r = await exec;
      assert.equal(r.code, 0, r.stderr);
      for (const call of ['first', 'second']) assert.match(readFileSync(join(dir, call), 'utf8'), /assumed-role\/Admin\//, call);
      assert.ok(await calls('AssumeRole') > afterServe, 'exec --server: a miss, served with the store key it keeps');
    } finally {
      // The child's wait ends whatever failed above, and exec with it.
      writeFileSync(join(dir, 'go'), '');
      await exec;
      serve.kill('SIGINT');
      await served;
      await w.emu.behaviour({ credentialLifetimeSeconds: null });
    }
  });

  test('locked: doctor says so; a command without a passphrase source fails in one line', async () => {
    const doc = await kr(['doctor', 'prod', '--no-network']);
    assert.match(doc.stdout, /^warning +keychain +keyrole's file store .* is locked in this session/m);
    assertOneLine(await kr(['list']), /file store is locked and there is no terminal .*KEYROLE_PASSPHRASE_FILE/);
  });

  test('regression (status asked for the file store\'s passphrase at the terminal, inside a shell prompt\'s `status --short`): status never asks; a locked store is said', async () => {
    // What docs/usage.md puts in PS1, at a real terminal with the store locked.
    const r = await onPty(`${KEYROLE} status --short prod 2>/dev/null`, [], { HOME: w.home }, 60_000);
    assert.equal(r.code, 0, r.screen);
    assert.equal(r.screen.trim(), 'prod locked');
    assertOneLine(await kr(['status', 'prod']), /file store is locked in this session, and status never asks for its passphrase\W+unlock it with a keyrole command that reads it, at a terminal \(keyrole list\), or set KEYROLE_PASSPHRASE_FILE/);
    // KEYROLE_PASSPHRASE_FILE asks nobody: status unlocks with it.
    const unattended = await kr(['status', 'prod'], { KEYROLE_PASSPHRASE_FILE: f.ppFile });
    assert.equal(unattended.code, 0, unattended.stderr);
    assert.match(unattended.stdout, /^prod: role \S+Admin: /m);
  });
});
