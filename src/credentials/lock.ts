// Single flight across processes. Terraform and IDEs start dozens of credential_process
// calls at once; on a cold cache exactly one of them may call STS (or prompt for MFA) while
// the others wait for its result.
//
// The lock is a listening local socket: on Linux an abstract Unix socket, on Windows a
// named pipe, elsewhere a socket file in keyrole's private directory. The kernel closes it
// when its holder dies, SIGKILL included, so a dead holder frees the lock at once instead
// of after a timeout (aws-sso-cli #1379). Waiters stay connected to the holder, which tells
// them when it is waiting for the person at a prompt, and learn of the release when the
// connection closes.

import type * as Net from 'node:net';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { KeyroleError, isErrorCode } from '../util/errors.ts';
import { debug } from '../util/debug.ts';

export type HolderState = 'working' | 'prompt';

export interface HeldLock {
  setState(state: HolderState): void;
  /** Tells the waiters the fetch failed, so they report it instead of each retrying STS. */
  fail(err: KeyroleError): void;
  release(): void;
}

export interface WaitBounds {
  /** How long to wait for a holder that is talking to AWS. */
  workingMs: number;
  /** How long to wait for a holder that is waiting for a person to answer a prompt. */
  promptMs: number;
}

export const DEFAULT_BOUNDS: WaitBounds = { workingMs: 45_000, promptMs: 120_000 };

/** The bounds, with KEYROLE_PROMPT_WAIT_SECONDS to shorten (or lengthen) the wait on someone else's prompt. */
export function waitBounds(): WaitBounds {
  const raw = process.env.KEYROLE_PROMPT_WAIT_SECONDS;
  const n = raw !== undefined && /^\d+$/.test(raw.trim()) ? Number(raw) * 1000 : undefined;
  return n === undefined ? DEFAULT_BOUNDS : { ...DEFAULT_BOUNDS, promptMs: n };
}

function uidTag(): string {
  const uid = process.getuid?.();
  return uid !== undefined ? String(uid) : userInfo().username.replace(/[^\w.-]/g, '_');
}

export function lockAddress(name: string, privateDir: () => string): string {
  if (process.platform === 'linux') return `\0keyrole/${uidTag()}/${name}`;
  if (process.platform === 'win32') return `\\\\.\\pipe\\keyrole-${uidTag()}-${name}`;
  // sun_path is at most 104 bytes on macOS: keep the name short.
  return join(privateDir(), `${name.slice(0, 16)}.lock`);
}

// node:net loads lazily: only a cache miss takes the lock, and the module costs ~2 ms.
let net: typeof Net;

function listen(address: string): Promise<Net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(err);
    });
    server.listen({ path: address, exclusive: true }, () => resolve(server));
  });
}

function hold(server: Net.Server, address: string): HeldLock {
  const waiters = new Set<Net.Socket>();
  let state: HolderState = 'working';
  server.on('connection', (s) => {
    waiters.add(s);
    s.on('error', () => waiters.delete(s));
    s.on('close', () => waiters.delete(s));
    s.write(`${state}\n`);
  });
  return {
    setState(next) {
      state = next;
      for (const s of waiters) s.write(`${next}\n`);
    },
    fail(err) {
      const line = `failed ${JSON.stringify({ code: err.code, message: err.message, fix: err.fix, exitCode: err.exitCode })}\n`;
      for (const s of waiters) s.write(line);
    },
    release() {
      for (const s of waiters) s.end();
      server.close();
      if (!address.startsWith('\0') && !address.startsWith('\\\\')) {
        try { unlinkSync(address); } catch { /* already gone */ }
      }
    },
  };
}

type WaitResult = 'released' | 'stale';

/** Waits until the holder at `address` lets go (or dies), within the bounds. */
function waitForHolder(address: string, bounds: WaitBounds, deadlineAt: { working: number }): Promise<WaitResult> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ path: address });
    let state: HolderState = 'working';
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (r: WaitResult | Error) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      sock.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const arm = () => {
      if (timer) clearTimeout(timer);
      const limit = state === 'prompt' ? bounds.promptMs : Math.max(0, deadlineAt.working - Date.now());
      timer = setTimeout(() => finish(state === 'prompt'
        ? new KeyroleError('LockPrompt', 'another keyrole is waiting for input (an MFA code or a login) in another terminal, and it was not answered in time', 'answer that prompt, or run keyrole login <profile> first and retry')
        : new KeyroleError('LockTimeout', `another keyrole has been fetching these credentials for over ${Math.round(bounds.workingMs / 1000)} s`, 'retry; keyrole process --debug shows what it is waiting for')), limit);
    };
    sock.setEncoding('utf8');
    let buf = '';
    sock.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('failed ')) {
          try {
            const e = JSON.parse(line.slice(7)) as { code: unknown; message: string; fix?: string; exitCode?: number };
            if (!isErrorCode(e.code)) throw new Error('not a code keyrole knows');
            finish(new KeyroleError(e.code, e.message, e.fix, e.exitCode));
          } catch {
            finish('released');
          }
        } else if ((line === 'prompt' || line === 'working') && line !== state) {
          // Back from a prompt, the holder gets a full working bound again: a person who
          // took a minute to type a code must not make every waiter time out at once.
          if (state === 'prompt') deadlineAt.working = Date.now() + bounds.workingMs;
          state = line;
          debug(`the lock holder is now ${state === 'prompt' ? 'waiting for input' : 'working'}`);
          arm();
        }
      }
    });
    sock.on('connect', arm);
    sock.on('close', () => finish('released'));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      // Refused or missing: the holder died and left a socket file (not on Linux/Windows).
      finish(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'stale' : 'released');
    });
  });
}

/**
 * Runs `work` as the only holder of lock `name`, unless `ready()` finds the result first
 * (another process produced it while we waited).
 */
export async function singleFlight<T>(
  name: string,
  ready: () => T | undefined | Promise<T | undefined>,
  work: (lock: HeldLock) => Promise<T>,
  privateDir: () => string,
  bounds: WaitBounds = waitBounds(),
): Promise<T> {
  net ??= await import('node:net');
  const address = lockAddress(name, privateDir);
  const deadline = { working: Date.now() + bounds.workingMs };
  const started = performance.now();
  for (;;) {
    let server: Net.Server | undefined;
    try {
      server = await listen(address);
    } catch (err) {
      debug(`cannot take lock (${(err as Error).message}); going on without single flight`);
      return work({ setState() {}, fail() {}, release() {} });
    }
    if (server) {
      debug(`took the lock ${name.slice(0, 8)} after ${(performance.now() - started).toFixed(1)} ms`);
      const held = hold(server, address);
      try {
        // Another process may have finished between our cache miss and taking the lock.
        const done = await ready();
        if (done !== undefined) return done;
        return await work(held);
      } catch (err) {
        if (err instanceof KeyroleError) held.fail(err);
        throw err;
      } finally {
        held.release();
      }
    }
    debug('another keyrole holds the lock; waiting for it');
    const r = await waitForHolder(address, bounds, deadline);
    if (r === 'stale') {
      try { unlinkSync(address); } catch { /* someone else removed it */ }
      continue;
    }
    const done = await ready();
    if (done !== undefined) {
      debug(`another keyrole fetched the credentials; waited ${(performance.now() - started).toFixed(1)} ms`);
      return done;
    }
    // The holder failed or died without a result: try to take the lock ourselves.
  }
}
