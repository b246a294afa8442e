// MFA and role chaining, end to end: the code is typed at a real pseudo-terminal (the
// /dev/tty prompt) with the real AWS CLI as the caller, codes come from oathtool, and one
// GetSessionToken session serves every role of the source.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { onPty } from './support/pty.ts';
import { requireTool } from './support/tools.ts';
import { baseEnv, KEYROLE, type RunResult } from './support/run.ts';
import { DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL } from './support/emulator.ts';

const ROLE = (name: string) => `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/${name}`;

/** The current TOTP code for a device, from oathtool; `step` shifts it by 30 s steps. */
function totp(step = 0, secret = DEMO_MFA_SECRET): string {
  requireTool('oathtool');
  const args = ['--totp', '-b', secret];
  if (step) args.push('-N', `now ${step >= 0 ? '+' : ''}${step * 30} seconds`);
  return execFileSync('oathtool', args, { encoding: 'utf8' }).trim();
}

/** Waits until at least `seconds` remain in the current 30 s TOTP window, so a code stays valid for the test. */
async function freshWindow(seconds = 10) {
  const left = 30 - (Math.floor(Date.now() / 1000) % 30);
  if (left < seconds) await new Promise((r) => setTimeout(r, left * 1000 + 200));
}

describe('MFA', () => {
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
    return { name, serial: dev.serial, code: (step = 0) => totp(step, dev.secret), secret: dev.secret, env: { AWS_CONFIG_FILE: cfg } };
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
    await freshWindow();
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
    await freshWindow();
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
    await freshWindow();
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
    await freshWindow();
    const u = await mfaUser();
    const a = await w.keyrole(['process', 'admin', '--mfa-token', u.code()], { env: u.env });
    assert.equal(a.code, 0, a.stderr);
    await w.keyrole(['cache', 'clear']);
    const b = await w.keyrole(['process', 'readonly'], { env: { ...u.env, KEYROLE_MFA_TOKEN: u.code(1) } });
    assert.equal(b.code, 0, b.stderr);
  });

  test('keyrole_mfa_process provides the code without a terminal', async () => {
    requireTool('oathtool');
    await freshWindow();
    const u = await mfaUser({ viaprocess: { keyrole_role_arn: ROLE('MfaAdmin') } });
    const cfg = u.env.AWS_CONFIG_FILE;
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('[profile viaprocess]', `[profile viaprocess]\nkeyrole_mfa_process = oathtool --totp -b ${u.secret}`));
    const r = await w.keyrole(['process', 'viaprocess'], { env: u.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await calls('GetSessionToken'), 1);
  });

  test('64 parallel callers on a cold cache: exactly one code asked, one GetSessionToken', async () => {
    await freshWindow(15);
    const u = await mfaUser();
    const counter = join(w.home, 'asked');
    writeFileSync(counter, '');
    const cfg = join(w.home, 'parallel.ini');
    writeFileSync(cfg, keyroleProfile('p', { region: 'us-east-1', keyrole_source: u.name, keyrole_mfa_serial: u.serial, keyrole_role_arn: ROLE('MfaAdmin'), keyrole_mfa_process: `echo x >> ${counter}; sleep 0.5; oathtool --totp -b ${u.secret}` }));
    const env = baseEnv({ ...w.env, AWS_CONFIG_FILE: cfg });
    const runs = await Promise.all(Array.from({ length: 64 }, () => new Promise<RunResult>((resolve) => {
      const c = spawn(KEYROLE, ['process', 'p'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = ''; let stderr = '';
      c.stdout.on('data', (d) => { stdout += d; });
      c.stderr.on('data', (d) => { stderr += d; });
      c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: 0 }));
    })));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(counter, 'utf8').split('\n').filter(Boolean).length, 1, 'the MFA process ran once');
    assert.equal(await calls('GetSessionToken'), 1);
    assert.equal(await calls('AssumeRole'), 1);
  });

  test('a wrong code at the terminal gets one more try', async () => {
    await freshWindow();
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
    await freshWindow();
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
    await freshWindow();
    const u = await mfaUser({ onassume: { keyrole_role_arn: ROLE('MfaAdmin'), keyrole_mfa_on_assume: 'true' } });
    const r = await w.keyrole(['process', 'onassume', '--mfa-token', u.code()], { env: u.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await calls('GetSessionToken'), 0);
    assert.equal(await calls('AssumeRole'), 1);
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

describe('role chaining and role parameters', () => {
  let w: World;
  before(async () => {
    w = await startWorld();
    w.writeConfig([
      keyroleProfile('base', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('chained', { keyrole_source_profile: 'base', keyrole_role_arn: ROLE('ReadOnly'), keyrole_duration_seconds: 7200 }),
      keyroleProfile('third', { keyrole_source_profile: 'chained', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('loop-a', { keyrole_source_profile: 'loop-b', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('loop-b', { keyrole_source_profile: 'loop-a', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('partner', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Partner'), keyrole_external_id: 'keyrole-demo-external-id' }),
      keyroleProfile('partner-no-id', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Partner') }),
      keyroleProfile('tagged', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin'), keyrole_tags: 'team=core, env=prod', keyrole_transitive_tag_keys: 'team', keyrole_source_identity: 'alice-laptop', keyrole_role_session_name: 'alice-session' }),
    ].join('\n'));
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  test('a chained role is capped at one hour, and --debug says so', async () => {
    const r = await w.keyrole(['process', 'chained', '--debug']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /role chaining\): STS caps that at 3600 s, so keyrole asks for 3600 s instead of 7200 s/);
    const left = Date.parse((JSON.parse(r.stdout) as { Expiration: string }).Expiration) - Date.now();
    assert.ok(left <= 3600_000 && left > 3500_000, `expires in ${left} ms`);
    const q = (await w.emu.stats()).requests.filter((x) => x.action === 'AssumeRole' && x.roleArn === ROLE('ReadOnly')).at(-1)!;
    assert.equal(q.durationSeconds, 3600);
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

  test('session name, source identity and tags reach STS and the cache key', async () => {
    const r = await w.keyrole(['process', 'tagged']);
    assert.equal(r.code, 0, r.stderr);
    const blob = JSON.parse(r.stdout) as { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };
    const id = await w.run('aws', ['sts', 'get-caller-identity', '--output', 'text', '--query', 'Arn'], { env: { AWS_ACCESS_KEY_ID: blob.AccessKeyId, AWS_SECRET_ACCESS_KEY: blob.SecretAccessKey, AWS_SESSION_TOKEN: blob.SessionToken, AWS_DEFAULT_REGION: 'us-east-1' } });
    assert.match(id.stdout, /assumed-role\/Admin\/alice-session/);
    const plain = await w.keyrole(['process', 'base']);
    assert.notEqual((JSON.parse(plain.stdout) as { AccessKeyId: string }).AccessKeyId, blob.AccessKeyId, 'tags are part of the cache key');
  });
});
