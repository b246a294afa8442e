// One rule for time, through the real parts: an MFA session and an IAM Identity Center
// sign-in run toward their end under a shared libfaketime clock (keyrole, the long-lived
// boto3 client it serves and the AWS CLI read one offset file; the emulator is moved by the
// same offset), with `exec --server`: the warning comes while the credentials still work,
// a layer that needs a person nobody can ask is used to its last minute, the role
// credentials made with it are served to their own end, and `status` says what `process`
// does at the same instant. Also: parallel refreshes of the token `aws sso login` left make
// one CreateToken, and `exec` leaves the command's options to the command.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { baseEnv, KEYROLE } from './support/run.ts';
import { DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL } from './support/emulator.ts';
import { requireTool } from './support/tools.ts';
import { tempDir } from './support/tmp.ts';
import { keyringPid, whileStopped } from './support/keyring.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const CLI_START = 'https://cli-only.awsapps.com/start';
const SANDBOX = '444455556666';
const MIN = 60;
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

interface Blob { AccessKeyId: string; Expiration: string }

/**
 * A long-lived boto3 client (one botocore session for the whole run, as a service holds
 * it) that makes one GetCallerIdentity per line written to its FIFO and appends
 * `<tag> ok <access key id>` or `<tag> error <what botocore raised>` to its output file.
 */
const BOTO_CLIENT = `
import boto3, sys
fifo, out = sys.argv[1], sys.argv[2]
s = boto3.Session()
sts = s.client('sts')
with open(out, 'a', buffering=1) as o:
    while True:
        with open(fifo) as f:
            for line in f:
                tag = line.strip()
                if tag == 'stop':
                    sys.exit(0)
                try:
                    sts.get_caller_identity()
                    o.write(tag + ' ok ' + s.get_credentials().get_frozen_credentials().access_key + '\\n')
                except Exception as e:
                    o.write(tag + ' error ' + ' '.join(str(e).split()) + '\\n')
`;

/** Polls `check` (an event: a file's line, a stderr line) until it answers, within a generous bound. */
async function until<T>(what: string, check: () => T | undefined, limitMs = 180_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Asks the client (`<tag>1`, `<tag>2`, …) until an answer passes `done`; every answer must be credentials that work. */
async function askUntil(s: { ask: (step: string) => Promise<string> }, tag: string, done: (answer: string) => boolean, what: string, limitMs = 180_000): Promise<string> {
  const end = Date.now() + limitMs;
  for (let i = 1; ; i++) {
    const x = await s.ask(`${tag}${i}`);
    assert.match(x, /^ok ASIA/, x);
    if (done(x)) return x;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (${i} calls)`);
  }
}

describe('one rule for time: what keyrole serves as a layer below it runs out', () => {
  let w: World;
  let dir: string;
  let clockFile: string;
  let env: Record<string, string>;

  /** Moves the shared clock (keyrole, boto3, the AWS CLI, the emulator) to `seconds` after the test's start. */
  async function clockAt(seconds: number): Promise<void> {
    writeFileSync(clockFile, `+${seconds}\n`);
    await w.emu.behaviour({ clockOffsetMs: seconds * 1000 });
  }

  /** `exec --server <profile>` with the boto3 client as its command; stderr is kept for the warnings. */
  function serveBoto(profile: string, tag: string): { child: ChildProcess; stderr: () => string; ask: (step: string) => Promise<string>; stop: () => Promise<number | null> } {
    const fifo = join(dir, `${tag}.fifo`);
    const out = join(dir, `${tag}.out`);
    const script = join(dir, 'client.py');
    writeFileSync(script, BOTO_CLIENT);
    execFileSync('mkfifo', [fifo]);
    writeFileSync(out, '');
    const child = spawn(KEYROLE, ['exec', profile, '--server', '--', 'python3', script, fifo, out], { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.stdout!.resume();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return {
      child,
      stderr: () => stderr,
      async ask(step) {
        await writeFile(fifo, `${step}\n`);
        return until(`the client's answer to ${step} (keyrole said: ${stderr})`, () => readFileSync(out, 'utf8').split('\n').find((l) => l.startsWith(`${step} `))?.slice(step.length + 1));
      },
      async stop() {
        await writeFile(fifo, 'stop\n');
        return exited;
      },
    };
  }

  const status = async (profile: string) => JSON.parse((await w.keyrole(['status', profile, '--json'], { env })).stdout) as {
    Layers: { Kind: string; Expiration: string | null; ExpiresInSeconds: number | null }[];
    PersonNeeded: { What: string; Login: string; At: string; InSeconds: number } | null;
  };

  before(async () => {
    requireTool('python3');
    requireTool('oathtool');
    requireTool('faketime');
    requireTool('mkfifo');
    if (!existsSync(LIBFAKETIME)) throw new Error(`${LIBFAKETIME} is missing: run apt-get install -y libfaketime`);
    w = await startWorld();
    dir = tempDir('lifetimes-');
    clockFile = join(dir, 'clock');
    writeFileSync(clockFile, '+0\n');
    w.writeConfig([
      keyroleProfile('srv', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ROLE }),
      keyroleProfile('mfa', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_mfa_serial: DEMO_MFA_SERIAL, keyrole_duration_seconds: 3600, keyrole_session_duration: 3600 }),
      `[sso-session cli-sso]\nsso_start_url = ${CLI_START}\nsso_region = eu-west-1\n`,
      keyroleProfile('cli-ro', { region: 'eu-west-1', keyrole_sso_session: 'cli-sso', keyrole_sso_account_id: SANDBOX, keyrole_sso_role_name: 'ReadOnlyAccess' }),
      keyroleProfile('cli-admin', { region: 'eu-west-1', keyrole_sso_session: 'cli-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'AdministratorAccess' }),
      keyroleProfile('cli-demo-ro', { region: 'eu-west-1', keyrole_sso_session: 'cli-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'ReadOnlyAccess' }),
    ].join('\n'));
    assert.equal((await w.setup('alice')).code, 0);
    env = {
      ...w.env,
      AWS_ENDPOINT_URL_SSO_OIDC: w.emu.url, AWS_ENDPOINT_URL_SSO: w.emu.url, DISPLAY: '', WAYLAND_DISPLAY: '',
      // The shared clock: every process reads the offset file on each clock read; timers keep real time.
      LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1',
      // NTP would report the real time: the Date header of the (moved) emulator is the clock check.
      KEYROLE_NTP: 'off',
    };
  });
  after(async () => {
    await w?.emu.behaviour({ clockOffsetMs: 0 }).catch(() => {});
    await w?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('regression (the warning "ends in 13 min" came the second the first MfaNoPrompt did): an MFA session warned ahead, used to its last minute, its role served to its own end', { timeout: 600_000 }, async () => {
    await clockAt(0);
    await w.keyrole(['cache', 'clear'], { env });
    // A person gives the code once, up front (the session and the role: one hour each).
    const code = execFileSync('oathtool', ['--totp', '-b', DEMO_MFA_SECRET], { encoding: 'utf8' }).trim();
    const seeded = await w.keyrole(['process', 'mfa'], { env: { ...env, KEYROLE_MFA_TOKEN: code } });
    assert.equal(seeded.code, 0, seeded.stderr);

    // 31 min in: 29 min before the session's last use, 14 before keyrole would start asking.
    await clockAt(31 * MIN);
    const s = serveBoto('mfa', 'mfa');
    try {
      const warned = await until('the warning', () => /keyrole: (.*behind profile mfa ends in (\d+) min.*)/.exec(s.stderr()) ?? undefined);
      assert.match(warned[1], /^the MFA session of source "alice" \(MFA device \S+\) behind profile mfa ends in 2\d min \(\d\d:\d\d\); keyrole serves the credentials it holds until \d\d:\d\d and renews them while it can; run keyrole login mfa in another terminal/);
      const a = await s.ask('a');
      assert.match(a, /^ok ASIA/, 'the credentials work when the warning comes');
      assert.doesNotMatch(s.stderr(), /MfaNoPrompt|MFA code for .* is needed/, 'the warning is not a failure');

      // 50 min: the role has 10 min left and the session too. Nobody can give a code here, so
      // the session is used as it is and the role renewed with it. The endpoint answers at
      // once with the role it holds and renews it in the background (src/server/provider.ts):
      // a later call of the client gets the renewed role.
      await clockAt(50 * MIN);
      const b = await askUntil(s, 'b', (x) => x !== a, 'the role renewed with the MFA session in its last minutes');

      // 100 min: the session ended 40 min ago; the role renewed at 50 min has 10 min left and
      // cannot be renewed without a code: it is served, and `status` says the same as
      // `process` at this instant.
      await clockAt(100 * MIN);
      const d = await s.ask('d');
      assert.equal(d, b, 'the role credentials are served after the session that made them ended');
      const st = await status('mfa');
      const p = await w.keyrole(['process', 'mfa'], { env });
      assert.equal(p.code, 0, p.stderr);
      const blob = JSON.parse(p.stdout) as Blob;
      assert.equal(`ok ${blob.AccessKeyId}`, d);
      assert.equal(st.Layers[0].Expiration, blob.Expiration, 'status names the end process serves to');
      assert.ok(st.Layers[0].ExpiresInSeconds! > 8 * MIN && st.Layers[0].ExpiresInSeconds! <= 10 * MIN, JSON.stringify(st));
      assert.equal(st.PersonNeeded?.InSeconds, 0, 'status: the code is needed now');
      assert.equal(st.PersonNeeded?.Login, 'mfa');
      const long = await w.keyrole(['status', 'mfa'], { env });
      assert.match(long.stdout, /under it, the MFA session of source "alice": expired at \S+Z, renewed with a new MFA code \(keyrole login mfa\)\n/);
      assert.doesNotMatch(long.stdout, /expired left|refreshed on the next call/);

      // 109.5 min: 30 s left, under the last minute: no longer handed out.
      await clockAt(109 * MIN + 30);
      const e = await s.ask('e');
      assert.match(e, /^error /, e);
      await until('the reason on keyrole\'s stderr', () => /MFA code for \S+ is needed.*keyrole login mfa/.exec(s.stderr()) ?? undefined);
      const late = await w.keyrole(['process', 'mfa'], { env });
      assert.equal(late.code, 1);
      assert.match(late.stderr, /^keyrole: an MFA code for \S+ is needed .*keyrole login mfa/);
      assert.ok((await status('mfa')).Layers[0].ExpiresInSeconds! <= 30, 'status: under its last minute');
    } finally {
      await s.stop();
    }
  });

  test('regression (a role from IAM Identity Center answered 500 SsoLoginRequired with 13.5 min left; then each request waited for a renewal that needed a person, past botocore\'s 1-second timeout): served at once to its own end after the sign-in ended', { timeout: 600_000 }, async () => {
    await clockAt(0);
    await w.keyrole(['cache', 'clear'], { env });
    // `aws sso login` left a token that cannot refresh (no refresh scope): 30 minutes.
    const minted = await w.emu.control<Record<string, string>>('POST', 'sso/token', { startUrl: CLI_START, scopes: [], lifetimeSeconds: 30 * MIN });
    const cacheDir = join(w.home, '.aws', 'sso', 'cache');
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(cacheDir, `${createHash('sha1').update('cli-sso').digest('hex')}.json`), JSON.stringify({ startUrl: CLI_START, region: 'eu-west-1', accessToken: minted.accessToken, expiresAt: minted.expiresAt, clientId: minted.clientId, clientSecret: minted.clientSecret, registrationExpiresAt: minted.registrationExpiresAt }), { mode: 0o600 });

    // 15 min: the sign-in's last use is at 29 min, so the warning is due.
    await clockAt(15 * MIN);
    const s = serveBoto('cli-ro', 'sso');
    try {
      const warned = await until('the warning', () => /keyrole: (.*behind profile cli-ro ends in .*)/.exec(s.stderr())?.[1]);
      assert.match(warned, /^the IAM Identity Center sign-in of cli-sso behind profile cli-ro ends in 1\d min .*run keyrole login cli-sso in another terminal/);
      const a = await s.ask('a');
      assert.match(a, /^ok ASIA/, a);
      const roleEnd = (await status('cli-ro')).Layers[0].Expiration!;

      // The role credentials' end less 13.5 min: the sign-in has ended, the role is inside its
      // refresh window and cannot be renewed. It is served (before: 500 SsoLoginRequired), and
      // at once from what the endpoint holds while the renewal runs in the background: here
      // gnome-keyring is stopped, so the renewal cannot even read the keychain (before, each
      // request waited for the renewal, 0.3 s idle and 2 s on a busy machine, and botocore
      // gives the endpoint 1 s: the client failed while the credentials were valid).
      await clockAt(Math.round((Date.parse(roleEnd) - Date.now()) / 1000) - Math.round(13.5 * MIN));
      const said = s.stderr().length;
      const b = await whileStopped(keyringPid(w), () => s.ask('b'));
      assert.doesNotMatch(s.stderr().slice(said), /keychain failed|did not answer/, 'no request waited on the stopped keychain (each refused request has its line on keyrole\'s stderr)');
      assert.equal(b, a, 'the role credentials are served while they last');
      const p = await w.keyrole(['process', 'cli-ro'], { env });
      assert.equal(p.code, 0, p.stderr);
      assert.equal((JSON.parse(p.stdout) as Blob).Expiration, roleEnd);
      const st = await status('cli-ro');
      assert.equal(st.PersonNeeded?.Login, 'cli-sso');
      const long = (await w.keyrole(['status', 'cli-ro'], { env })).stdout;
      assert.deepEqual([...new Set([...long.matchAll(/keyrole login (\S+)/g)].map((m) => m[1]))], ['cli-sso'], `one login command for one session:\n${long}`);

      // 5 min before its end, inside botocore's mandatory window: still served.
      await clockAt(Math.round((Date.parse(roleEnd) - Date.now()) / 1000) - 5 * MIN);
      assert.equal(await s.ask('c'), a, 'served inside the mandatory window too');
    } finally {
      await s.stop();
    }
  });

  test('parallel refreshes of the token aws sso login left make one CreateToken: a waiter reads the file again after the holder', { timeout: 300_000 }, async () => {
    await clockAt(0);
    await w.keyrole(['cache', 'clear'], { env });
    const stats = () => w.emu.control<{ createToken: { refreshToken: number } }>('GET', 'sso/stats');
    const minted = await w.emu.control<Record<string, string>>('POST', 'sso/token', { startUrl: CLI_START, scopes: ['sso:account:access'] });
    const file = join(w.home, '.aws', 'sso', 'cache', `${createHash('sha1').update('cli-sso').digest('hex')}.json`);
    mkdirSync(join(w.home, '.aws', 'sso', 'cache'), { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify({ startUrl: CLI_START, region: 'eu-west-1', accessToken: minted.accessToken, expiresAt: '2020-01-01T00:00:00Z', clientId: minted.clientId, clientSecret: minted.clientSecret, registrationExpiresAt: minted.registrationExpiresAt, refreshToken: minted.refreshToken }), { mode: 0o600 });
    const before = (await stats()).createToken.refreshToken;
    // Three roles of one session, twice each: the roles' own locks keep each pair apart,
    // only the token's lock (src/sso/sso.ts) joins the three. A slow IAM Identity Center
    // keeps the refresh in flight while the others arrive.
    await w.emu.behaviour({ latencyMs: 2000 });
    let runs;
    try {
      runs = await Promise.all(['cli-ro', 'cli-admin', 'cli-demo-ro', 'cli-ro', 'cli-admin', 'cli-demo-ro'].map((p) => w.keyrole(['process', p], { env, timeoutMs: 240_000 })));
    } finally {
      await w.emu.behaviour({ latencyMs: 0 });
    }
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    assert.equal((await stats()).createToken.refreshToken - before, 1, 'one CreateToken for three roles');
    assert.ok(Date.parse((JSON.parse(readFileSync(file, 'utf8')) as { expiresAt: string }).expiresAt) > Date.now());
  });

  test('regression (exec read the command\'s options as its own): everything after the profile\'s first non-option word is the command', async () => {
    await clockAt(0);
    const ls = await w.keyrole(['exec', 'srv', 'ls', '-ld', '/tmp'], { env });
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^d\S+ .* \/tmp\n$/);
    const grep = await w.keyrole(['exec', 'srv', 'grep', '--help'], { env });
    assert.equal(grep.code, 0, grep.stderr);
    assert.match(grep.stdout, /^Usage: grep /m);
    assert.doesNotMatch(grep.stdout, /keyrole/);
    // --server and --debug after the command are the command's: no endpoint, no trace.
    const sh = await w.keyrole(['exec', 'srv', 'sh', '-c', 'printf "%s|%s|%s\\n" "$1" "${AWS_CONTAINER_CREDENTIALS_FULL_URI-none}" "$(printf %.4s "$AWS_ACCESS_KEY_ID")"', 'sh', '--server', '--debug'], { env });
    assert.equal(sh.code, 0, sh.stderr);
    assert.equal(sh.stdout, '--server|none|ASIA\n');
    assert.doesNotMatch(sh.stderr, /keyrole \[\d+ ms\]/, 'no keyrole trace');
    const printenv = await w.keyrole(['exec', 'srv', 'printenv', 'X', '--server'], { env: { ...env, X: 'x' } });
    // printenv got both words: it prints X and fails on the variable named --server (keyrole
    // taking --server would have run `printenv X`, status 0).
    assert.equal(printenv.stdout, 'x\n');
    assert.equal(printenv.code, 1, printenv.stderr);
    // Before the command, keyrole's options still work, and -- is still accepted.
    const server = await w.keyrole(['exec', '--server', 'srv', '--', 'printenv', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'], { env });
    assert.equal(server.code, 0, server.stderr);
    assert.match(server.stdout, /^http:\/\/127\.0\.0\.1:\d+\//);
  });
});
