// MFA and role chaining, end to end: the code is typed at a real pseudo-terminal (the
// /dev/tty prompt) with the real AWS CLI as the caller, codes come from oathtool, and one
// GetSessionToken session serves every role of the source.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { onPty } from './support/pty.ts';
import { requireTool } from './support/tools.ts';
import { baseEnv, KEYROLE, type RunResult } from './support/run.ts';
import { DEMO_ACCOUNT_ID, DEMO_MFA_SERIAL } from './support/emulator.ts';
import { totp } from './support/totp.ts';

const ROLE = (name: string) => `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/${name}`;

// No test waits for a fresh TOTP window: STS, and the emulator, take a code of the window
// before or after the current one too, so a code stays good for at least 30 s after it is
// read, and a second code for one device is the next window's (test/support/totp.ts).

const mfa = () => describe('MFA', { concurrency: 1 }, () => {
  let w: World;
  const calls = async (action: string) => (await w.emu.stats()).calls[action] ?? 0;
  let n = 0;

  /**
   * A fresh IAM user with its own MFA device, stored as a keychain source, and profiles for
   * it: STS (and the emulator) accept each code once per device, so each test gets its own.
   */
  async function mfaUser(extra: Record<string, Record<string, string>> = {}) {
    const name = `mfa${++n}`;
    const user = await w.emu.addUser(name);
    const dev = await w.emu.control<{ serial: string; secret: string }>('POST', 'mfa', { serial: `arn:aws:iam::${DEMO_ACCOUNT_ID}:mfa/${name}`, userName: name });
    assert.equal((await w.setup(name, user.accessKeyId, user.secretAccessKey)).code, 0);
    const cfg = join(w.home, `${name}.ini`);
    const base = { region: 'us-east-1', keyrole_source: name, keyrole_mfa_serial: dev.serial };
    writeFileSync(cfg, [
      keyroleProfile('admin', { ...base, keyrole_role_arn: ROLE('MfaAdmin') }),
      keyroleProfile('readonly', { ...base, keyrole_role_arn: ROLE('ReadOnly') }),
      ...Object.entries(extra).map(([p, lines]) => keyroleProfile(p, { ...base, ...lines })),
    ].join('\n'));
    return { name, serial: dev.serial, code: (step = 0) => totp(dev.secret, step), secret: dev.secret, env: { AWS_CONFIG_FILE: cfg } };
  }

  before(async () => {
    w = await startWorld();
    const mfa = { region: 'us-east-1', keyrole_source: 'alice', keyrole_mfa_serial: DEMO_MFA_SERIAL };
    w.writeConfig([
      keyroleProfile('mfa-admin', { ...mfa, keyrole_role_arn: ROLE('MfaAdmin') }),
      keyroleProfile('no-mfa', { keyrole_source: 'alice', keyrole_role_arn: ROLE('MfaAdmin') }),
    ].join('\n'));
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());
  beforeEach(async () => {
    await w.keyrole(['cache', 'clear']);
    await w.emu.resetStats();
    await w.emu.behaviour({ latencyMs: 0, faults: [] });
  });

  test('the AWS CLI at a terminal: one prompt on /dev/tty, then a second role of the same source needs no code', async () => {
    requireTool('aws');
    const u = await mfaUser();
    const env = { ...w.env, ...u.env, PATH: process.env.PATH ?? '' };
    const r = await onPty('aws sts get-caller-identity --profile admin --output text --query Arn', [[new RegExp(`MFA code for ${u.serial} \\(profile admin\\): `), `${u.code()}\r`]], env);
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /assumed-role\/MfaAdmin\//);
    assert.equal(await calls('GetSessionToken'), 1);
    // No terminal at all this time: the shared MFA session serves the other role.
    const second = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'readonly', '--output', 'text', '--query', 'Arn'], { env: u.env });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /assumed-role\/ReadOnly\//);
    assert.equal(await calls('GetSessionToken'), 1, 'one code for both roles');
    assert.equal(await calls('AssumeRole'), 2);
  });

  test('keyrole login primes the MFA session at a terminal; later calls without one need no code', async () => {
    const u = await mfaUser();
    const r = await onPty(`${KEYROLE} login admin`, [[/MFA code for .*: /, `${u.code()}\r`]], { ...w.env, ...u.env });
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /renewed with the MFA code: the MFA session of source "\S+" lasts until \S+Z, for every role of that source; profile admin has credentials until \S+Z/);
    const later = await w.keyrole(['process', 'readonly'], { env: u.env });
    assert.equal(later.code, 0, later.stderr);
    assert.equal(await calls('GetSessionToken'), 1);
    // A hit on an MFA profile reads its own entry only, not the session under it.
    const hit = await w.keyrole(['process', 'admin', '--debug'], { env: u.env });
    assert.equal(hit.code, 0, hit.stderr);
    assert.equal(hit.stderr.match(/cache (hit|miss)/g)?.length, 1, hit.stderr);
  });

  test('regression (keyrole login of an MFA profile ignored the code and said "signed in" while 15 min or more remained): it renews the session with the code', async () => {
    const u = await mfaUser();
    const first = await onPty(`${KEYROLE} login admin`, [[/MFA code for .*: /, `${u.code()}\r`]], { ...w.env, ...u.env });
    assert.equal(first.code, 0, first.screen);
    const before = JSON.parse((await w.keyrole(['status', 'admin', '--json'], { env: u.env })).stdout) as { Layers: { Expiration: string }[] };
    // The session has 12 hours left; the next code renews it all the same (the emulator, as
    // STS, takes each code once: the next window's).
    const again = await onPty(`${KEYROLE} login admin`, [[/MFA code for .*: /, `${u.code(1)}\r`]], { ...w.env, ...u.env });
    assert.equal(again.code, 0, again.screen);
    assert.match(again.screen, /renewed with the MFA code/);
    assert.equal(await calls('GetSessionToken'), 2, 'a new MFA session');
    const after = JSON.parse((await w.keyrole(['status', 'admin', '--json'], { env: u.env })).stdout) as { Layers: { Expiration: string }[] };
    assert.ok(Date.parse(after.Layers[1].Expiration) >= Date.parse(before.Layers[1].Expiration), 'the session was replaced');
  });

  test('a role that demands MFA fails with a hint when the profile has no MFA device', async () => {
    const r = await w.keyrole(['process', 'no-mfa']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^keyrole: STS denied .*keyrole_mfa_serial/);
  });

  test('without a terminal or a way to ask, it fails at once naming keyrole login', async () => {
    const r = await w.keyrole(['process', 'mfa-admin'], { env: { DISPLAY: undefined, WAYLAND_DISPLAY: undefined } });
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^keyrole: an MFA code for .*mfa\/alice is needed and keyrole has no terminal or display to ask on; run keyrole login mfa-admin in a terminal first/);
    assert.ok(r.ms < 5000, `failed in ${r.ms} ms`);
    assert.equal(await calls('GetSessionToken'), 0);
  });

  test('--mfa-token and KEYROLE_MFA_TOKEN serve scripts', async () => {
    const u = await mfaUser();
    const a = await w.keyrole(['process', 'admin', '--mfa-token', u.code()], { env: u.env });
    assert.equal(a.code, 0, a.stderr);
    await w.keyrole(['cache', 'clear']);
    const b = await w.keyrole(['process', 'readonly'], { env: { ...u.env, KEYROLE_MFA_TOKEN: u.code(1) } });
    assert.equal(b.code, 0, b.stderr);
  });

  test('keyrole_mfa_process provides the code without a terminal', async () => {
    requireTool('oathtool');
    const u = await mfaUser({ viaprocess: { keyrole_role_arn: ROLE('MfaAdmin') } });
    const cfg = u.env.AWS_CONFIG_FILE;
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('[profile viaprocess]', `[profile viaprocess]\nkeyrole_mfa_process = oathtool --totp -b ${u.secret}`));
    const r = await w.keyrole(['process', 'viaprocess'], { env: u.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await calls('GetSessionToken'), 1);
  });

  /**
   * `count` callers at once on a cold cache of a fresh MFA user's role profile (`extra` added
   * to it), the code from a keyrole_mfa_process that counts its runs; every caller must succeed.
   * Returns the runs and how many codes were asked for.
   */
  async function parallelCallers(count: number, extra: Record<string, string | number> = {}): Promise<{ runs: RunResult[]; asked: number }> {
    const u = await mfaUser();
    const counter = join(w.home, `asked-${u.name}`);
    writeFileSync(counter, '');
    const cfg = join(w.home, `parallel-${u.name}.ini`);
    writeFileSync(cfg, keyroleProfile('p', { region: 'us-east-1', keyrole_source: u.name, keyrole_mfa_serial: u.serial, keyrole_role_arn: ROLE('MfaAdmin'), ...extra, keyrole_mfa_process: `echo x >> ${counter}; sleep 0.5; oathtool --totp -b ${u.secret}` }));
    const env = baseEnv({ ...w.env, AWS_CONFIG_FILE: cfg });
    const runs = await Promise.all(Array.from({ length: count }, () => new Promise<RunResult>((resolve) => {
      const c = spawn(KEYROLE, ['process', 'p'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = ''; let stderr = '';
      c.stdout.on('data', (d) => { stdout += d; });
      c.stderr.on('data', (d) => { stderr += d; });
      c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: 0 }));
    })));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    return { runs, asked: readFileSync(counter, 'utf8').split('\n').filter(Boolean).length };
  }

  test('64 parallel callers on a cold cache: exactly one code asked, one GetSessionToken', async () => {
    const { asked } = await parallelCallers(64);
    assert.equal(asked, 1, 'the MFA process ran once');
    assert.equal(await calls('GetSessionToken'), 1);
    assert.equal(await calls('AssumeRole'), 1);
  });

  test('a wrong code at the terminal gets one more try', async () => {
    const u = await mfaUser();
    const bad = u.code() === '000000' ? '111111' : '000000';
    const r = await onPty(`${KEYROLE} process admin`, [
      [/MFA code for .*: /, `${bad}\r`],
      [/STS rejected that code .*\n?.*MFA code for .*: /s, `${u.code()}\r`],
    ], { ...w.env, ...u.env });
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /"AccessKeyId":"ASIA/);
  });

  test('a code already used is named as such', async () => {
    const u = await mfaUser();
    const code = u.code();
    const a = await w.keyrole(['process', 'admin', '--mfa-token', code], { env: u.env });
    assert.equal(a.code, 0, a.stderr);
    await w.keyrole(['cache', 'clear']);
    const b = await w.keyrole(['process', 'admin', '--mfa-token', code], { env: u.env });
    assert.notEqual(b.code, 0);
    assert.match(b.stderr, /^keyrole: that MFA code was already used .*wait for the next code/);
  });

  test('keyrole_mfa_on_assume sends the code with AssumeRole itself (no shared session)', async () => {
    const u = await mfaUser({ onassume: { keyrole_role_arn: ROLE('MfaAdmin'), keyrole_mfa_on_assume: 'true' } });
    const r = await w.keyrole(['process', 'onassume', '--mfa-token', u.code()], { env: u.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await calls('GetSessionToken'), 0);
    assert.equal(await calls('AssumeRole'), 1);
  });

  // AWS's 1-hour rule (issue 23). The bug: a role over an hour was assumed with the MFA
  // session, which AWS refuses ("exceeds the 1 hour session limit for roles assumed by role
  // chaining"), so the profile failed on every refresh.
  test("regression: an MFA role at 43200 s sends the code with AssumeRole and lasts 12 h; --debug, status and doctor say so", async () => {
    const u = await mfaUser({ long: { keyrole_role_arn: ROLE('MfaAdmin'), keyrole_duration_seconds: '43200' } });
    const r = await w.keyrole(['process', 'long', '--debug', '--mfa-token', u.code()], { env: u.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`profile long: AssumeRole for 43200 s with source "${u.name}"'s long-term key and an MFA code sent with it \\(one code each time the role is renewed; over 3600 s`));
    const blob = JSON.parse(r.stdout) as { AccessKeyId: string; Expiration: string };
    const left = Date.parse(blob.Expiration) - Date.now();
    assert.ok(left > 43000_000 && left <= 43200_000, `the role lasts about 12 h: ${left} ms`);
    assert.equal(await calls('GetSessionToken'), 0, 'no MFA session');
    const q = (await w.emu.stats()).requests.filter((x) => x.action === 'AssumeRole');
    assert.deepEqual(q.map((x) => [x.roleArn, x.durationSeconds, x.ok]), [[ROLE('MfaAdmin'), 43200, true]]);
    // The cache serves it: no code, no call.
    const hit = await w.keyrole(['process', 'long'], { env: { ...u.env, DISPLAY: undefined, WAYLAND_DISPLAY: undefined } });
    assert.equal(hit.code, 0, hit.stderr);
    assert.equal((JSON.parse(hit.stdout) as { AccessKeyId: string }).AccessKeyId, blob.AccessKeyId);
    assert.equal(await calls('AssumeRole'), 1);
    const st = await w.keyrole(['status', 'long'], { env: u.env });
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^long: role \S+MfaAdmin: 11 h 59 min left/m);
    assert.match(st.stdout, /^ {2}how: AssumeRole for 43200 s with source "\S+"'s long-term key and an MFA code sent with it/m);
    assert.match(st.stdout, /next needs you: role \S+MfaAdmin, assumed with an MFA code each time, by \S+Z \(in 11 h 5\d min\); keyrole asks from \S+Z where it can; keyrole login long renews it now/);
    const doc = await w.keyrole(['doctor', 'long', '--no-network'], { env: u.env });
    assert.match(doc.stdout, /profile +long in .*: source \S+, role \S+MfaAdmin, 43200 s, .*; AssumeRole for 43200 s with source "\S+"'s long-term key and an MFA code sent with it/);
    // A profile of the same source up to an hour still takes the shared session, and says so.
    const short = await w.keyrole(['process', 'admin', '--debug', '--mfa-token', u.code(1)], { env: u.env });
    assert.equal(short.code, 0, short.stderr);
    assert.match(short.stderr, new RegExp(`profile admin: AssumeRole for 3600 s with the MFA session of source "${u.name}" \\(one code a day for every role of the source`));
    assert.equal(await calls('GetSessionToken'), 1);
  });

  test('an MFA role over an hour: 16 parallel callers on a cold cache, one code asked, one AssumeRole', async () => {
    const { runs, asked } = await parallelCallers(16, { keyrole_duration_seconds: 43200 });
    assert.equal(new Set(runs.map((r) => (JSON.parse(r.stdout) as { AccessKeyId: string }).AccessKeyId)).size, 1, 'one credential for all');
    assert.equal(asked, 1, 'the MFA process ran once');
    assert.equal(await calls('GetSessionToken'), 0);
    assert.equal(await calls('AssumeRole'), 1);
  });

  // The bug: keyrole import turned this working botocore profile (botocore sends the code
  // with AssumeRole) into a keyrole profile that AWS refused on every refresh.
  test('regression: an imported botocore MFA profile at 43200 s works through the real AWS CLI at a terminal', async () => {
    requireTool('aws');
    const name = `imp${++n}`;
    const user = await w.emu.addUser(name);
    const dev = await w.emu.control<{ serial: string; secret: string }>('POST', 'mfa', { serial: `arn:aws:iam::${DEMO_ACCOUNT_ID}:mfa/${name}`, userName: name });
    const code = (step: number) => totp(dev.secret, step);
    const cfg = join(w.home, `${name}.config`);
    const creds = join(w.home, `${name}.credentials`);
    writeFileSync(creds, `[${name}]\naws_access_key_id = ${user.accessKeyId}\naws_secret_access_key = ${user.secretAccessKey}\n`, { mode: 0o600 });
    writeFileSync(cfg, `[profile long]\nregion = us-east-1\nrole_arn = ${ROLE('MfaAdmin')}\nsource_profile = ${name}\nmfa_serial = ${dev.serial}\nduration_seconds = 43200\n`, { mode: 0o600 });
    const env = { ...w.env, AWS_CONFIG_FILE: cfg, AWS_SHARED_CREDENTIALS_FILE: creds, PATH: process.env.PATH ?? '' };
    const aws = 'aws sts get-caller-identity --profile long --output text --query Arn';
    // botocore itself: it asks for the code and sends it with AssumeRole.
    const before = await onPty(aws, [[new RegExp(`MFA code for ${dev.serial}: `), `${code(0)}\r`]], env);
    assert.equal(before.code, 0, before.screen);
    assert.match(before.screen, /assumed-role\/MfaAdmin\//);

    const imp = await w.keyrole(['import', '--yes'], { env });
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, new RegExp(`long.*AssumeRole for 43200 s with source "${name}"'s long-term key and an MFA code sent with it`));
    const text = readFileSync(cfg, 'utf8');
    assert.match(text, /^keyrole_mfa_serial = /m);
    assert.match(text, /^keyrole_duration_seconds = 43200$/m);
    assert.match(text, /^credential_process = /m);
    await w.emu.resetStats();
    // The same command, now through keyrole: its prompt on /dev/tty, the role for 12 h.
    const after = await onPty(aws, [[new RegExp(`MFA code for ${dev.serial} \\(profile long\\): `), `${code(1)}\r`]], env);
    assert.equal(after.code, 0, after.screen);
    assert.match(after.screen, /assumed-role\/MfaAdmin\//);
    assert.equal(await calls('GetSessionToken'), 0);
    const q = (await w.emu.stats()).requests.filter((x) => x.action === 'AssumeRole');
    assert.deepEqual(q.map((x) => [x.durationSeconds, x.ok]), [[43200, true]]);
    const hit = await w.keyrole(['process', 'long'], { env });
    assert.equal(hit.code, 0, hit.stderr);
    const left = Date.parse((JSON.parse(hit.stdout) as { Expiration: string }).Expiration) - Date.now();
    assert.ok(left > 43000_000, `the role lasts about 12 h: ${left} ms`);
  });

  test('parallel callers wait for a person at the prompt only up to a bound, then say why', async () => {
    const u = await mfaUser();
    // The holder sits at its prompt (seen on its screen, not guessed by a sleep) until the
    // waiter has its answer.
    const stop = new AbortController();
    let atPrompt!: () => void;
    const prompted = new Promise<void>((r) => { atPrompt = r; });
    const holder = onPty(`${KEYROLE} process admin`, [[/MFA code for /, '']], { ...w.env, ...u.env }, 120_000, { onPrompt: atPrompt, signal: stop.signal }).catch(() => undefined);
    await prompted;
    const waiter = await w.keyrole(['process', 'admin'], { env: { ...u.env, KEYROLE_PROMPT_WAIT_SECONDS: '2' } });
    stop.abort();
    assert.notEqual(waiter.code, 0);
    assert.match(waiter.stderr, /^keyrole: another keyrole is waiting for input \(an MFA code or a login\) in another terminal/);
    await holder;
  });
});

// Every role parameter keyrole documents (src/config/settings.ts), on one profile, and the
// AssumeRole the emulator must see for it (emulator/carried.ts). keyrole takes no inline policy.
const EVERY_PARAMETER = {
  keyrole_role_arn: ROLE('Partner'),
  keyrole_external_id: 'keyrole-demo-external-id',
  keyrole_role_session_name: 'alice-session',
  keyrole_duration_seconds: 1800,
  keyrole_tags: 'team=core, env=prod',
  keyrole_transitive_tag_keys: 'team',
  keyrole_source_identity: 'alice-laptop',
  keyrole_policy_arns: 'arn:aws:iam::aws:policy/ReadOnlyAccess, arn:aws:iam::123456789012:policy/team/Boundary',
};
const EXPECTED_CALL = {
  roleArn: ROLE('Partner'),
  roleSessionName: 'alice-session',
  durationSeconds: '1800',
  externalId: 'keyrole-demo-external-id',
  tokenCode: false,
  policyArns: ['arn:aws:iam::aws:policy/ReadOnlyAccess', 'arn:aws:iam::123456789012:policy/team/Boundary'],
  tags: [{ key: 'team', value: 'core' }, { key: 'env', value: 'prod' }],
  transitiveTagKeys: ['team'],
  sourceIdentity: 'alice-laptop',
};

const roleChaining = () => describe('role chaining and role parameters', { concurrency: 1 }, () => {
  let w: World;
  before(async () => {
    w = await startWorld();
    w.writeConfig([
      keyroleProfile('base', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('chained', { keyrole_source_profile: 'base', keyrole_role_arn: ROLE('ReadOnly'), keyrole_duration_seconds: 3600 }),
      keyroleProfile('chained-long', { keyrole_source_profile: 'base', keyrole_role_arn: ROLE('ReadOnly'), keyrole_duration_seconds: 7200 }),
      keyroleProfile('third', { keyrole_source_profile: 'chained', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('loop-a', { keyrole_source_profile: 'loop-b', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('loop-b', { keyrole_source_profile: 'loop-a', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('partner', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Partner'), keyrole_external_id: 'keyrole-demo-external-id' }),
      keyroleProfile('partner-no-id', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Partner') }),
      keyroleProfile('tagged', { ...EVERY_PARAMETER, keyrole_source: 'alice' }),
      // The same profile with one tag's value changed, to show the tags alone make a different cache entry.
      keyroleProfile('retagged', { ...EVERY_PARAMETER, keyrole_source: 'alice', keyrole_tags: 'team=core, env=dev' }),
      // A second profile that takes the first's keys (keyrole_source_profile), to show the parameters reach a chained call too.
      keyroleProfile('tagged-chain', { ...EVERY_PARAMETER, keyrole_source_profile: 'base', keyrole_role_session_name: 'alice-chained', keyrole_duration_seconds: 900 }),
    ].join('\n'));
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  test('a chained role lasts its hour, and --debug says it is role chaining', async () => {
    const r = await w.keyrole(['process', 'chained', '--debug']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /profile chained: AssumeRole for 3600 s with profile base's credentials \(role chaining: at most 3600 s\)/);
    const left = Date.parse((JSON.parse(r.stdout) as { Expiration: string }).Expiration) - Date.now();
    assert.ok(left <= 3600_000 && left > 3500_000, `expires in ${left} ms`);
    const q = (await w.emu.stats()).requests.filter((x) => x.action === 'AssumeRole' && x.roleArn === ROLE('ReadOnly')).at(-1)!;
    assert.equal(q.durationSeconds, 3600);
  });

  // The bug: keyrole silently asked for an hour instead of what the profile said.
  test('regression: a chained role at 7200 s is refused before any call, in one line naming the fix', async () => {
    await w.emu.resetStats();
    const r = await w.keyrole(['process', 'chained-long']);
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^keyrole: profile chained-long asks for a 7200 s role, but the role is assumed with profile base's credentials, which are temporary, and AWS allows a role assumed with temporary credentials at most 3600 s \(role chaining\); lower keyrole_duration_seconds \(or --duration\) to 3600 or below\n$/);
    assert.deepEqual((await w.emu.stats()).calls, {}, 'nothing asked of AWS');
    const doc = await w.keyrole(['doctor', 'chained-long', '--no-network']);
    assert.match(doc.stdout, /problem +profile +profile chained-long asks for a 7200 s role/);
  });

  test('chains of three work, and the identity is the last role', async () => {
    const r = await w.keyrole(['process', 'third']);
    assert.equal(r.code, 0, r.stderr);
    const blob = JSON.parse(r.stdout) as { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };
    const id = await w.run('aws', ['sts', 'get-caller-identity', '--output', 'text', '--query', 'Arn'], { env: { AWS_ACCESS_KEY_ID: blob.AccessKeyId, AWS_SECRET_ACCESS_KEY: blob.SecretAccessKey, AWS_SESSION_TOKEN: blob.SessionToken, AWS_DEFAULT_REGION: 'us-east-1' } });
    assert.equal(id.code, 0, id.stderr);
    assert.match(id.stdout, /assumed-role\/Admin\//);
    // A hit reads the last role's entry only, however deep the chain.
    const hit = await w.keyrole(['process', 'third', '--debug']);
    assert.equal(hit.stderr.match(/cache (hit|miss)/g)?.length, 1, hit.stderr);
  });

  test('a cycle is an error naming the cycle', async () => {
    const r = await w.keyrole(['process', 'loop-a']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^keyrole: the profiles source each other in a cycle: loop-a → loop-b → loop-a; /);
  });

  test('the external id is sent, and its absence is denied', async () => {
    const ok = await w.keyrole(['process', 'partner']);
    assert.equal(ok.code, 0, ok.stderr);
    const denied = await w.keyrole(['process', 'partner-no-id']);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /STS denied/);
  });

  /** The last AssumeRole the emulator saw for a role: what the call carried on the wire. */
  const lastAssumeRole = async (roleArn: string) => {
    const q = (await w.emu.stats()).requests.filter((x) => x.action === 'AssumeRole' && x.roleArn === roleArn).at(-1);
    assert.ok(q?.carried, `no AssumeRole of ${roleArn} reached the emulator`);
    assert.ok(q.ok, `the AssumeRole of ${roleArn} failed with ${q.code}`);
    return q.carried;
  };

  test('every role parameter reaches AssumeRole through keyrole process', async () => {
    await w.keyrole(['cache', 'clear']);
    const r = await w.keyrole(['process', 'tagged', '--cache', 'none']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await lastAssumeRole(ROLE('Partner')), EXPECTED_CALL);
  });

  test('every role parameter reaches AssumeRole through the AWS CLI (credential_process), and the identity shows the session name', async () => {
    await w.keyrole(['cache', 'clear']);
    const cli = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'tagged', '--output', 'text', '--query', 'Arn'], { env: { AWS_DEFAULT_REGION: 'us-east-1' } });
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout.trim(), `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Partner/alice-session`);
    assert.deepEqual(await lastAssumeRole(ROLE('Partner')), EXPECTED_CALL);
  });

  test('the role parameters reach the second call of a chain', async () => {
    const r = await w.keyrole(['process', 'tagged-chain', '--cache', 'none']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await lastAssumeRole(ROLE('Partner')), { ...EXPECTED_CALL, roleSessionName: 'alice-chained', durationSeconds: '900' });
  });

  test('--session-name names the session AssumeRole gets; configure --session-name writes it for the AWS CLI; a bad one is one line', async () => {
    const r = await w.keyrole(['process', 'base', '--session-name', 'ci-run-7', '--cache', 'none']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await lastAssumeRole(ROLE('Admin'))).roleSessionName, 'ci-run-7');

    const c = await w.keyrole(['configure', 'named', '--source', 'alice', '--role-arn', ROLE('Admin'), '--session-name', 'alice-ci']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(readFileSync(join(w.home, '.aws', 'config'), 'utf8'), /^\[profile named\]\n(?:.*\n)*?keyrole_role_session_name = alice-ci$/m);
    const cli = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'named', '--output', 'text', '--query', 'Arn'], { env: { AWS_DEFAULT_REGION: 'us-east-1' } });
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout.trim(), `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/alice-ci`);
    assert.equal((await lastAssumeRole(ROLE('Admin'))).roleSessionName, 'alice-ci');

    const bad = await w.keyrole(['process', 'base', '--session-name', 'two words']);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^keyrole: role session name "two words" is not valid for STS; use 2 to 64 characters from letters, digits and \+=,\.@_-\n$/);
  });

  test('tags are part of the cache key', async () => {
    await w.keyrole(['cache', 'clear']);
    const tagged = await w.keyrole(['process', 'tagged']);
    assert.equal(tagged.code, 0, tagged.stderr);
    const retagged = await w.keyrole(['process', 'retagged']);
    assert.equal(retagged.code, 0, retagged.stderr);
    const id = (x: { stdout: string }) => (JSON.parse(x.stdout) as { AccessKeyId: string }).AccessKeyId;
    assert.notEqual(id(retagged), id(tagged), 'a profile with other tags was served the first profile\'s entry');
    assert.deepEqual((await lastAssumeRole(ROLE('Partner'))).tags, [{ key: 'team', value: 'core' }, { key: 'env', value: 'dev' }]);
  });

});

// The two suites share nothing (each its world: keyring, emulator, home), so they run side by side.
describe('MFA and role chaining', { concurrency: true }, () => {
  mfa();
  roleChaining();
});
