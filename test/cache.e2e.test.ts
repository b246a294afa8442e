// The cache, end to end with the executable: reuse and refresh at the window boundary
// (with the emulator issuing short-lived credentials, not by sleeping), what the key
// covers, 64 parallel cold callers, a SIGKILLed lock holder, corrupt entries, unsafe store
// paths, kills during the write, and the cache commands.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { keyroleProfile, resetWorld, worldWithSource, type World } from './support/world.ts';
import { baseEnv, KEYROLE, type RunResult } from './support/run.ts';
import { killAfterAnswer, tally, writeWindowMs, type KillOutcome } from './support/kill.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';
import { requireTool } from './support/tools.ts';
import { until } from './support/until.ts';
import { decodeEntry } from '../src/credentials/cache.ts';

const ROLE = (name: string) => `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/${name}`;
interface Blob { AccessKeyId: string; Expiration: string }

describe('credential cache', () => {
  let w: World;
  const assumeCalls = async () => (await w.emu.stats()).calls.AssumeRole ?? 0;

  before(async () => {
    w = await worldWithSource([
      keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('twin', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('short', { keyrole_source: 'alice', keyrole_role_arn: ROLE('ReadOnly'), keyrole_duration_seconds: 900 }),
      keyroleProfile('filed', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin'), keyrole_cache: 'file' }),
    ].join('\n'));
  });
  after(() => w?.stop());
  beforeEach(() => resetWorld(w));

  const proc = async (profile: string, args: string[] = [], env?: Record<string, string>): Promise<Blob> => {
    const r = await w.keyrole(['process', profile, ...args], { env });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Blob;
  };

  for (const store of ['keychain', 'file'] as const) {
    test(`${store} store: a second call is served from the cache`, async () => {
      const a = await proc('prod', ['--cache', store]);
      const b = await proc('prod', ['--cache', store]);
      assert.equal(b.AccessKeyId, a.AccessKeyId);
      assert.equal(await assumeCalls(), 1);
    });

    test(`${store} store: reused with 16 minutes left, refreshed with 14 (the 15-minute window)`, async () => {
      await w.emu.behaviour({ credentialLifetimeSeconds: 16 * 60 });
      const a = await proc('prod', ['--cache', store]);
      const b = await proc('prod', ['--cache', store]);
      assert.equal(b.AccessKeyId, a.AccessKeyId, 'reused at 16 min');
      assert.equal(await assumeCalls(), 1);
      await w.keyrole(['cache', 'clear']);
      await w.emu.behaviour({ credentialLifetimeSeconds: 14 * 60 });
      const c = await proc('prod', ['--cache', store]);
      const d = await proc('prod', ['--cache', store]);
      assert.notEqual(d.AccessKeyId, c.AccessKeyId, 'refreshed at 14 min');
      assert.equal(await assumeCalls(), 3);
    });
  }

  test('regression: the executable compiles from its code cache, and a miss\'s later reads need no addon fallback', async () => {
    const miss = await w.keyrole(['process', 'prod', '--debug']);
    assert.equal(miss.code, 0, miss.stderr);
    assert.match(miss.stderr, /cache miss/);
    assert.doesNotMatch(miss.stderr, /rejected the code cache/);
    assert.doesNotMatch(miss.stderr, /Secret Service over D-Bus could not/);
    const hit = await w.keyrole(['process', 'prod', '--debug']);
    assert.equal(hit.code, 0, hit.stderr);
    assert.match(hit.stderr, /cache hit for role .* in the keychain store/);
    assert.doesNotMatch(hit.stderr, /rejected the code cache/);
    assert.equal(await assumeCalls(), 1);
  });

  test('a 900 s role is reused while half its session remains, then refreshed', async () => {
    await w.emu.behaviour({ credentialLifetimeSeconds: 8 * 60 });
    const a = await proc('short');
    const b = await proc('short');
    assert.equal(b.AccessKeyId, a.AccessKeyId, '8 min left of a 15 min session: reused');
    await w.emu.behaviour({ credentialLifetimeSeconds: 7 * 60 });
    await w.keyrole(['cache', 'clear', 'short']);
    const c = await proc('short');
    const d = await proc('short');
    assert.notEqual(d.AccessKeyId, c.AccessKeyId, '7 min left: under half the session, refreshed');
  });

  test('when STS fails during a refresh, credentials with more than 6 minutes left are served; fewer are not', async () => {
    await w.emu.behaviour({ credentialLifetimeSeconds: 12 * 60 });
    const a = await proc('prod');
    await w.emu.behaviour({ faults: [{ action: 'AssumeRole', times: 20, kind: 'error', status: 503, code: 'ServiceUnavailable', message: 'Service Unavailable' }] });
    const r = await w.keyrole(['process', 'prod', '--debug']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Blob).AccessKeyId, a.AccessKeyId);
    assert.match(r.stderr, /refresh failed .*; serving the cached role .* which still has \d+ s left/);
    await w.keyrole(['cache', 'clear']);
    await w.emu.behaviour({ faults: [], credentialLifetimeSeconds: 5 * 60 });
    await proc('prod');
    await w.emu.behaviour({ faults: [{ action: 'AssumeRole', times: 20, kind: 'error', status: 503, code: 'ServiceUnavailable', message: 'Service Unavailable' }] });
    const b = await w.keyrole(['process', 'prod', '--debug']);
    assert.notEqual(b.code, 0, 'five minutes left is inside the JS SDK expiry window: fail, do not serve');
    assert.equal(b.stdout, '', 'nothing served');
    // The reason is STS's failure, and the cached entry was seen and judged too short, not missed.
    assert.match(b.stderr, /cached role .* has \d+ s left, under the refresh window/);
    assert.doesNotMatch(b.stderr, /serving the cached/);
    const last = b.stderr.trim().split('\n').at(-1)!;
    assert.match(last, /^keyrole: .*ServiceUnavailable/, `the reason line: ${b.stderr}`);
    await w.emu.behaviour({ faults: [] });
  });

  test('editing the role or the duration never serves the old credentials', async () => {
    const a = await proc('prod');
    const b = await proc('prod', ['--role-arn', ROLE('ReadOnly')]);
    assert.notEqual(b.AccessKeyId, a.AccessKeyId);
    const c = await proc('prod', ['--duration', '7200']);
    assert.notEqual(c.AccessKeyId, a.AccessKeyId);
    assert.notEqual(c.AccessKeyId, b.AccessKeyId);
    assert.equal(await assumeCalls(), 3);
    const again = await proc('prod');
    assert.equal(again.AccessKeyId, a.AccessKeyId, 'the original parameters still hit their own entry');
  });

  test('two profiles with identical parameters share one entry', async () => {
    const a = await proc('prod');
    const b = await proc('twin');
    assert.equal(b.AccessKeyId, a.AccessKeyId);
    assert.equal(await assumeCalls(), 1);
  });

  test('a cache hit makes no request and loads no SDK', async () => {
    const a = await proc('prod');
    await w.emu.resetStats();
    await w.emu.behaviour({ faults: [{ action: '*', times: 100, kind: 'reset' }] });
    const r = await w.keyrole(['process', 'prod', '--debug']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Blob).AccessKeyId, a.AccessKeyId);
    assert.match(r.stderr, /cache hit/);
    assert.doesNotMatch(r.stderr, /client-sts|STS (AssumeRole|GetSessionToken)/, 'no SDK loaded, no STS call on a hit');
    assert.equal((await w.emu.stats()).requests.length, 0, 'the emulator saw no request');
  });

  // Performance regression pin: the addon's read costs a Diffie-Hellman session (~10 ms) and
  // loading the addon; a keychain hit goes through keyrole's own client instead.
  test('a keychain hit reads the Secret Service directly, not through the addon', async () => {
    await proc('prod');
    // The Secret Service's read (the kernel keyring's copy, read first, is test/kernel-cache.e2e's).
    const r = await w.keyrole(['process', 'prod', '--debug'], { env: { KEYROLE_KERNEL_CACHE: 'off' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /cache hit .* in the keychain store/);
    assert.match(r.stderr, /Secret Service: a direct D-Bus connection \(plain session\)/);
    assert.doesNotMatch(r.stderr, /asking through the keychain addon/);
  });

  for (const store of ['keychain', 'file'] as const) {
    test(`${store} store: 64 parallel cold invocations make exactly one AssumeRole`, async () => {
      await w.emu.behaviour({ latencyMs: 300 });
      const env = baseEnv({ ...w.env, KEYROLE_CACHE: store });
      const runs = await Promise.all(Array.from({ length: 64 }, () => new Promise<RunResult>((resolve) => {
        const child = spawn(KEYROLE, ['process', 'prod'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => { stdout += d; });
        child.stderr.on('data', (d) => { stderr += d; });
        child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: 0 }));
      })));
      for (const r of runs) assert.equal(r.code, 0, r.stderr);
      const ids = new Set(runs.map((r) => (JSON.parse(r.stdout) as Blob).AccessKeyId));
      assert.equal(ids.size, 1, 'everyone got the same credentials');
      assert.equal(await assumeCalls(), 1);
    });
  }

  test('a lock holder killed with SIGKILL does not block the others', async () => {
    await w.emu.behaviour({ latencyMs: 2000 });
    const env = baseEnv({ ...w.env });
    const holder = spawn(KEYROLE, ['process', 'prod', '--debug'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => {
      let err = '';
      holder.stderr.on('data', (d) => { err += d; if (/took the lock/.test(err)) resolve(); });
    });
    const waiter = spawn(KEYROLE, ['process', 'prod', '--debug'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    waiter.stdout.on('data', (d) => { stdout += d; });
    const closed = new Promise<number | null>((r) => waiter.once('close', r));
    // Killed once the waiter is waiting on it (its own words), not after a guessed sleep.
    await new Promise<void>((resolve) => {
      waiter.stderr.on('data', (d) => { stderr += d; if (/another keyrole holds the lock/.test(stderr)) resolve(); });
    });
    const started = performance.now();
    holder.kill('SIGKILL');
    const code = await closed;
    const ms = performance.now() - started;
    assert.equal(code, 0, stderr);
    assert.match(stdout, /"AccessKeyId":"ASIA/);
    // Its own 2 s STS call after the kill; a lock the dead holder kept would hold it for 45 s.
    assert.ok(ms < 30_000, `the waiter took ${ms.toFixed(0)} ms after the kill`);
  });

  test('a failing holder passes its error to the waiters instead of each retrying STS', async () => {
    // The emulator holds the holder's one AssumeRole until the seven others are waiting on
    // its lock (their --debug line), so none of them can arrive after it failed, however
    // slowly a busy machine starts them (a 500 ms latency failed there: a late caller found
    // the lock free and asked STS itself, as it should).
    await w.emu.behaviour({ holdSts: true, faults: [{ action: 'AssumeRole', times: 1, kind: 'error', status: 403, code: 'AccessDenied', message: 'User: x is not authorized to perform: sts:AssumeRole' }] });
    try {
      const kids = Array.from({ length: 8 }, () => {
        const c = spawn(KEYROLE, ['process', 'prod'], { env: baseEnv({ ...w.env, KEYROLE_DEBUG: '1' }), stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        c.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
        const code = new Promise<number | null>((r) => c.once('close', (x) => r(x)));
        return { stderr: () => stderr, code };
      });
      await until('one AssumeRole held and seven keyroles waiting on its lock', async () => {
        const held = (await w.emu.control<{ held: number }>('GET', 'behaviour')).held;
        const waiting = kids.filter((k) => k.stderr().includes('another keyrole holds the lock; waiting for it')).length;
        return held === 1 && waiting === 7 ? true : undefined;
      });
      await w.emu.behaviour({ holdSts: false });
      for (const k of kids) {
        assert.notEqual(await k.code, 0);
        assert.match(k.stderr(), /STS denied/);
      }
      assert.equal(await assumeCalls(), 1);
    } finally {
      await w.emu.behaviour({ holdSts: false });
    }
  });

  test('corrupt or foreign entries are ignored and replaced, with a --debug note', async () => {
    const a = await proc('filed');
    const dir = join(w.home, '.aws', 'keyrole', 'cache');
    const [file] = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    for (const junk of ['{"keyrole":1,"kind":"cache","AccessKeyId":', '\u0000\u0001garbage', '{"some":"other tool"}']) {
      fs.writeFileSync(join(dir, file), junk, { mode: 0o600 });
      const r = await w.keyrole(['process', 'filed', '--debug']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /corrupt or foreign; it will be replaced/);
      assert.notEqual((JSON.parse(r.stdout) as Blob).AccessKeyId, a.AccessKeyId);
      JSON.parse(fs.readFileSync(join(dir, file), 'utf8'));
    }
  });

  test('a cache write that fails never costs the answer: the credentials STS gave, one warning line', async () => {
    const a = await proc('filed');
    const dir = join(w.home, '.aws', 'keyrole', 'cache');
    const [file] = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    // A directory where the entry goes: the read is a miss, the atomic rename fails (EISDIR).
    fs.rmSync(join(dir, file));
    fs.mkdirSync(join(dir, file), { mode: 0o700 });
    try {
      await w.emu.resetStats();
      const r = await w.keyrole(['process', 'filed']);
      assert.equal(r.code, 0, r.stderr);
      const blob = JSON.parse(r.stdout) as Blob & { SessionToken: string };
      assert.notEqual(blob.AccessKeyId, a.AccessKeyId);
      assert.ok(blob.SessionToken.length >= 750 && blob.SessionToken.length <= 770, `an AWS-length token (${blob.SessionToken.length})`);
      assert.match(r.stderr, /^keyrole: warning: the credentials were not cached \(.*cannot write the cache file.*\); the next call fetches anew\n$/);
      assert.equal(await assumeCalls(), 1);
    } finally {
      fs.rmSync(join(dir, file), { recursive: true, force: true });
    }
  });

  test('a symlinked or group-writable store is refused with one line', async () => {
    const real = join(w.home, 'elsewhere');
    fs.mkdirSync(real, { mode: 0o700 });
    const link = join(w.home, 'linked-home');
    fs.symlinkSync(real, link);
    const r1 = await w.keyrole(['process', 'prod', '--cache', 'file'], { env: { KEYROLE_HOME: link } });
    assert.notEqual(r1.code, 0);
    assert.equal(r1.stdout, '');
    assert.match(r1.stderr, /^keyrole: .*linked-home is a symbolic link.*\n$/);
    const open = join(w.home, 'open-home');
    fs.mkdirSync(open, { mode: 0o700 });
    fs.chmodSync(open, 0o775);
    const r2 = await w.keyrole(['process', 'prod', '--cache', 'file'], { env: { KEYROLE_HOME: open } });
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /^keyrole: .*open-home is writable by group or others \(mode 775\)/);
  });

  test('files are 0600 and directories 0700 whatever the umask', async () => {
    const home = join(w.home, 'umask-home');
    const r = await w.run('sh', ['-c', `umask 000; exec "${KEYROLE}" process prod --cache file`], { env: { KEYROLE_HOME: home } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(home).mode & 0o777, 0o700);
    assert.equal(fs.statSync(join(home, 'cache')).mode & 0o777, 0o700);
    for (const f of fs.readdirSync(join(home, 'cache'))) assert.equal(fs.statSync(join(home, 'cache', f)).mode & 0o777, 0o600);
  });

  // The file store's write is killed at each of its steps by strace, deterministically, in
  // test/robustness.process.test.ts; the keychain store writes through D-Bus, where no one
  // system call is the commit point, so its kills are timed by the run's own trace.
  test('regression (entry missing after SIGKILLs, CI): keychain store, SIGKILL after the STS answer, during the write, never loses or tears the entry', async (t) => {
    const st = requireTool('secret-tool');
    const entries = async () => {
      const r = await w.run(st, ['search', '--all', 'service', 'keyrole:cache']);
      return [...r.stdout.matchAll(/^secret = (.*)$/gm)].map((m) => m[1]);
    };
    await w.emu.behaviour({ credentialLifetimeSeconds: 14 * 60 }); // every call refreshes
    await proc('prod');
    const env = baseEnv(w.env);
    // The kills spread over the time from the STS answer to the end of a refresh, as long as
    // that takes on this machine now (a busy machine stretches it).
    const window = await writeWindowMs(['process', 'prod'], env);
    const outcomes: KillOutcome[] = [];
    for (let i = 0; i < 25; i++) {
      outcomes.push(await killAfterAnswer(['process', 'prod'], env, (window * i) / 25));
      const now = await entries();
      assert.equal(now.length, 1, `after kill ${i}: one entry, not ${now.length}`);
      assert.ok(decodeEntry(now[0]), `after kill ${i}: the entry is whole`);
    }
    const n = tally(outcomes);
    t.diagnostic(n.text);
    assert.ok(n.landed > 0, `no kill landed after the STS answer: ${n.text}`);
    const r = await w.keyrole(['process', 'prod']);
    assert.equal(r.code, 0, r.stderr);
  });

  test('cache list shows profile, role, time left and store; cache clear forgets', async () => {
    await proc('prod');
    await proc('filed');
    const list = await w.keyrole(['cache', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /PROFILE\s+ROLE\s+EXPIRES IN\s+STORE/);
    // Named by the profiles whose credential it is (prod and twin share one), each in its own store.
    assert.match(list.stdout, new RegExp(`prod, twin\\s+role ${ROLE('Admin').replace(/[/]/g, '\\/')}\\s+(59|60) min\\s+keychain`));
    assert.match(list.stdout, /\nfiled\s+role \S+\s+(59|60) min\s+file/);
    const one = await w.keyrole(['cache', 'clear', 'prod']);
    assert.match(one.stdout, /Cleared the cached credentials of profile prod/);
    assert.doesNotMatch((await w.keyrole(['cache', 'list'])).stdout, /keychain/);
    const all = await w.keyrole(['cache', 'clear']);
    assert.match(all.stdout, /Cleared 1 cached credential\./);
    assert.match((await w.keyrole(['cache', 'list'])).stdout, /The cache is empty/);
  });
});
