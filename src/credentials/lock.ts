// Single flight across processes. Terraform and IDEs start dozens of credential_process
// calls at once; on a cold cache exactly one of them may call STS (or prompt for MFA) while
// the others wait for its result.
//
// The lock is a listening local socket: a socket file in keyrole's private directory (0700,
// owned by the user: src/credentials/cache.ts privateDir), or on Windows a named pipe. The
// kernel closes it when its holder dies, SIGKILL included, so a dead holder frees the lock
// at once instead of after a timeout (aws-sso-cli #1379). Waiters stay connected to the
// holder, which tells them when it is waiting for the person at a prompt, and learn of the
// release when the connection closes.
//
// Who may take part. Only the user: nobody else can create or connect to a socket in a
// 0700 directory. (Linux abstract sockets, used before, have no permissions at all: another
// local user could bind the name first and feed the waiter whatever it liked.) And even so,
// nothing read from a lock is trusted: the holder sends three fixed words (`working`,
// `prompt`, `failed`), lines are length-capped, anything else is dropped unread, and no
// text or exit code from the connection is ever printed or adopted. A failed holder leaves
// its error as a record file in the same private directory, which a waiter reads as it
// reads the cache; the next holder of any lock removes the records no wait can still need. One absolute deadline, fixed when the wait starts, bounds the whole
// wait however the holder's state changes, and a bounded number of rounds stops a holder
// that keeps closing the connection from making the waiter reconnect forever.
//
// Windows: a named pipe's name is first come, first served, and Node has no public API to
// set a pipe's security descriptor or to ask who serves one. The pipe's name therefore
// carries a random secret kept in the user's private directory (under %LOCALAPPDATA%, which
// other users cannot read), so another user cannot guess and take the name before the
// user does; and the pipe that libuv creates has the default DACL (full control for its
// creator, SYSTEM and Administrators; read-only for Everyone), so another user cannot
// connect as a waiter. A name stays visible in \\.\pipe\ while held; a user who copies it
// and creates that pipe later can at most make the waiter wait until the deadline and
// fail with LockTimeout, because of the rules above.
//
// Windows, exclusivity. A second server can listen on a pipe's name under Wine (no
// EADDRINUSE: eight parallel cold calls made seven AssumeRoles in the Windows lane), and
// while Windows refuses it (libuv asks for the first instance), a lock whose exclusivity
// rests on a behaviour the lane cannot check is unverified. So on Windows the lock is
// taken by creating a claim file in the private directory with exclusive create (`wx`,
// CREATE_NEW: one process wins on Windows and Wine alike), holding the holder's pid and a
// random nonce; only then does the holder listen on the pipe, which is what waiters
// connect to, as on POSIX. The claim is removed at release, before the pipe closes. A
// SIGKILLed holder leaves its claim behind without a pipe: a waiter that finds the claim
// but no pipe takes it for stale when its pid is no longer running, or when the pipe has
// not appeared within CLAIM_GRACE_MS of the claim (a live holder listens microseconds after
// claiming; this also covers a pid that Windows reused), and removes it if it still holds
// the same nonce. Otherwise the holder is between its two steps: the waiter tries again.

import type * as Net from 'node:net';
import { linkSync, lstatSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KeyroleError, isErrorCode } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { writeAtomic } from '../util/atomic.ts';

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

/**
 * A holder that may be signing a person in to IAM Identity Center: a browser sign-in or a
 * device code lasts up to 10 minutes (src/sso/authcode.ts, deviceflow.ts), and its waiters
 * wait that long and a margin, not an MFA prompt's two minutes.
 */
export const SIGN_IN_BOUNDS: WaitBounds = { workingMs: 45_000, promptMs: 15 * 60_000 };

/** The bounds, with KEYROLE_PROMPT_WAIT_SECONDS to shorten (or lengthen) the wait on someone else's prompt. */
export function waitBounds(base: WaitBounds = DEFAULT_BOUNDS): WaitBounds {
  const raw = process.env.KEYROLE_PROMPT_WAIT_SECONDS;
  const n = raw !== undefined && /^\d+$/.test(raw.trim()) ? Number(raw) * 1000 : undefined;
  return n === undefined ? base : { ...base, promptMs: n };
}

/**
 * The whole wait, however the holder's state alternates: one working phase, one prompt,
 * and the working phase after it. Fixed when the wait starts; nothing the holder sends
 * moves it.
 */
export function waitLimitMs(bounds: WaitBounds): number {
  return 2 * bounds.workingMs + bounds.promptMs;
}

// The longest line a holder sends is `working`; a waiter reads no more than this per line.
const MAX_LINE = 16;
// Rounds of "the holder went away without a result, try again": a holder that fails with an
// unexpected error hands over to one waiter, which hands over to the next only if it fails
// too. More rounds than this means something keeps closing the connection.
const MAX_ROUNDS = 8;

/**
 * A lock's place: `socket`, what the holder listens on and waiters connect to, and `file`,
 * its file in the private directory: the socket file itself, or on Windows the claim (see
 * the opening comment). A failed holder's record lives beside `file`.
 */
export interface LockPlace { socket: string; file: string }

function failedFile(place: LockPlace): string {
  return `${place.file}.failed`;
}

/**
 * Removes the failure records in `dir` that no waiter can still be reading: a waiter reads a
 * record only once the holder says `failed`, within one wait, and no wait outlasts
 * waitLimitMs. Without this every failed refresh left its `<hash>.lock.failed` behind for
 * good (a profile that failed once and was never fetched again kept its record). Run when a
 * lock is taken: a cache miss, never a hit.
 */
function sweepFailures(dir: string, bounds: WaitBounds): void {
  const before = Date.now() - Math.max(waitLimitMs(bounds), waitLimitMs(DEFAULT_BOUNDS));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.endsWith('.lock.failed')) continue;
    try {
      const st = lstatSync(join(dir, n));
      if (st.isFile() && st.mtimeMs < before) unlinkSync(join(dir, n));
    } catch { /* gone already, or not ours to judge */ }
  }
}

/**
 * Where the lock for `name` lives: a socket file in the private directory, or on Windows a
 * named pipe whose name carries the user's lock secret (see the opening comment) and a
 * claim file in the private directory.
 */
export async function lockPlace(name: string, privateDir: () => string): Promise<LockPlace> {
  const dir = privateDir();
  // sun_path holds 108 bytes on Linux, 104 on macOS: keep the name short. A longer path
  // (a very deep KEYROLE_HOME) makes listen fail with EINVAL, and keyrole goes on without
  // single flight rather than truncate the name.
  const file = join(dir, `${name.slice(0, 16)}.lock`);
  if (process.platform === 'win32') return { socket: `\\\\.\\pipe\\keyrole-${await lockSecret(dir)}-${name}`, file };
  return { socket: file, file };
}

/** What the holder of lock `name` listens on (the socket file, or on Windows the pipe). */
export async function lockAddress(name: string, privateDir: () => string): Promise<string> {
  return (await lockPlace(name, privateDir)).socket;
}

/** A random value, created once, readable only by the user (Windows pipe names). */
async function lockSecret(dir: string): Promise<string> {
  const path = join(dir, 'lock-secret');
  const read = () => {
    try {
      const s = readFileSync(path, 'utf8').trim();
      return /^[0-9a-f]{32}$/.test(s) ? s : undefined;
    } catch {
      return undefined;
    }
  };
  const have = read();
  if (have) return have;
  const { randomBytes } = await import('node:crypto');
  try {
    writeFileSync(path, randomBytes(16).toString('hex'), { mode: 0o600, flag: 'wx' });
  } catch {
    // Another process wrote it first (then it is read below), or a broken file is in the way.
    if (!read()) writeAtomic(path, randomBytes(16).toString('hex'));
  }
  const s = read();
  if (!s) throw new KeyroleError('LockUnusable', `cannot keep the lock secret in ${path}`, 'check that directory');
  return s;
}

// node:net loads lazily: only a cache miss takes the lock, and the module costs ~2 ms.
let net: typeof Net;

function listenAt(path: string): Promise<Net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(err);
    });
    server.listen({ path, exclusive: true }, () => resolve(server));
  });
}

/**
 * Takes the lock: a listening socket at `address`, or undefined when another holder has it.
 *
 * A socket file appears at bind() and accepts connections only after listen(); a waiter
 * that connects in between is refused, takes the file for a dead holder's and removes it,
 * and two processes then hold the lock (seen on CI: 64 parallel cold calls, two AssumeRoles).
 * So the socket is bound and listening under a random name first and then hard-linked to
 * the lock's name, which creates the name only if it does not exist: whatever a waiter
 * finds at `address` already listens. The random name also keeps libuv's unlink-on-close
 * (by name) away from a file another holder may have put at `address` since.
 * A crash between the two steps leaves an unused `.l…` socket file behind, never a lock.
 */
async function listen(place: LockPlace): Promise<Net.Server | undefined> {
  const address = place.socket;
  const { randomBytes } = await import('node:crypto');
  if (isPipe(address)) return listenClaimed(place, randomBytes(8).toString('hex'));
  const tmp = join(dirname(address), `.l${randomBytes(4).toString('hex')}`);
  const server = await listenAt(tmp);
  if (!server) throw new Error(`${tmp} is in use`);
  try {
    linkSync(tmp, address);
    return server;
  } catch (err) {
    server.close();
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  } finally {
    try { unlinkSync(tmp); } catch { /* closed and removed already */ }
  }
}

const isPipe = (address: string) => address.startsWith('\\\\');

// ---- Windows: the claim file (see the opening comment) ----

/** How long a claim may stand without its pipe before waiters take it for stale. */
const CLAIM_GRACE_MS = 10_000;

/** Claims the lock with an exclusive create, then listens on the pipe; undefined when another holder has it. */
async function listenClaimed(place: LockPlace, nonce: string): Promise<Net.Server | undefined> {
  try {
    writeFileSync(place.file, `${process.pid} ${nonce}`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  }
  let server: Net.Server | undefined;
  try {
    server = await listenAt(place.socket);
  } finally {
    // Someone else's pipe (an older keyrole's, which took no claim): ours is not the lock.
    if (!server) removeClaim(place.file, nonce);
  }
  if (server) claims.set(server, nonce);
  return server;
}

const claims = new WeakMap<Net.Server, string>();

function readClaim(file: string): { pid: number; nonce: string; ageMs: number } | undefined {
  try {
    const [pid, nonce] = readFileSync(file, 'utf8').slice(0, 64).split(' ');
    return { pid: Number(pid), nonce: nonce ?? '', ageMs: Date.now() - lstatSync(file).mtimeMs };
  } catch {
    return undefined;
  }
}

/** Removes the claim if it still holds `nonce` (another holder may own the name since). */
function removeClaim(file: string, nonce: string): void {
  if (readClaim(file)?.nonce !== nonce) return;
  try { unlinkSync(file); } catch { /* already gone */ }
}

function running(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a waiter that found no pipe makes of the claim: none, a holder about to listen, or a dead holder's. */
function claimState(file: string): 'none' | 'pending' | 'stale' {
  const c = readClaim(file);
  if (!c) return 'none';
  if (running(c.pid) && c.ageMs < CLAIM_GRACE_MS) return 'pending';
  removeClaim(file, c.nonce);
  debug('removed the lock of a keyrole that died');
  return 'stale';
}

function inode(address: string): number | undefined {
  try {
    return lstatSync(address).ino;
  } catch {
    return undefined;
  }
}

function hold(server: Net.Server, place: LockPlace): HeldLock {
  const address = place.socket;
  const waiters = new Set<Net.Socket>();
  let state: HolderState = 'working';
  const mine = isPipe(address) ? undefined : inode(address);
  const claim = claims.get(server);
  // A record left by an earlier holder is not this holder's news.
  try { unlinkSync(failedFile(place)); } catch { /* none */ }
  server.on('connection', (s) => {
    waiters.add(s);
    s.on('error', () => waiters.delete(s));
    s.on('close', () => waiters.delete(s));
    // Waiters send nothing; anything that arrives is not read.
    s.pause();
    s.write(`${state}\n`);
  });
  return {
    setState(next) {
      state = next;
      for (const s of waiters) s.write(`${next}\n`);
    },
    fail(err) {
      try {
        writeAtomic(failedFile(place), JSON.stringify({ code: err.code, message: err.message, fix: err.fix, exitCode: err.exitCode, at: Date.now() }));
      } catch (e) {
        debug(`could not leave the failure for the waiters (${(e as Error).message}); each will try for itself`);
        return;
      }
      for (const s of waiters) s.write('failed\n');
    },
    release() {
      // The name goes first, then the socket: a socket file that is there always listens
      // (see listen). Only our own file: after a stale-lock removal another holder may own
      // the name.
      if (mine !== undefined && inode(address) === mine) {
        try { unlinkSync(address); } catch { /* already gone */ }
      }
      if (claim !== undefined) removeClaim(place.file, claim);
      for (const s of waiters) s.end();
      server.close();
    },
  };
}

/** A failure the holder recorded after `since`, rebuilt from fields that pass the checks. */
function holderFailure(place: LockPlace, since: number): KeyroleError | undefined {
  try {
    const v = JSON.parse(readFileSync(failedFile(place), 'utf8').slice(0, 4096)) as Record<string, unknown>;
    if (typeof v.at !== 'number' || v.at < since) return undefined;
    if (!isErrorCode(v.code) || typeof v.message !== 'string') return undefined;
    const fix = typeof v.fix === 'string' ? printable(v.fix).slice(0, 500) : undefined;
    const exitCode = typeof v.exitCode === 'number' && Number.isInteger(v.exitCode) && v.exitCode >= 1 && v.exitCode <= 125 ? v.exitCode : 1;
    return new KeyroleError(v.code, printable(v.message).slice(0, 500), fix, exitCode);
  } catch {
    return undefined;
  }
}

type WaitResult = 'released' | 'stale' | 'failed';

/** Waits until the holder at `place` lets go (or dies), within the bounds and before `deadline`. */
function waitForHolder(place: LockPlace, bounds: WaitBounds, started: number, deadline: number): Promise<WaitResult> {
  const address = place.socket;
  return new Promise((resolve, reject) => {
    const before = isPipe(address) ? undefined : inode(address);
    let sock: Net.Socket;
    let state: HolderState = 'working';
    let stateDeadline = Math.min(deadline, Date.now() + bounds.workingMs);
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (r: WaitResult | Error) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (retry) clearTimeout(retry);
      sock.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => finish(state === 'prompt'
        ? new KeyroleError('LockPrompt', 'another keyrole is waiting for input (an MFA code or a login) in another terminal, and it was not answered in time', 'answer that prompt, or run keyrole login <profile> first and retry')
        : new KeyroleError('LockTimeout', `another keyrole has been fetching these credentials for over ${Math.round((Date.now() - started) / 1000)} s`, 'retry; keyrole process --debug shows what it is waiting for')),
      Math.max(0, stateDeadline - Date.now()));
    };
    const onLine = (line: string) => {
      if (line === 'failed') return finish('failed');
      if ((line === 'prompt' || line === 'working') && line !== state) {
        // A new phase gets its own bound (a person who took a minute to type a code must
        // not make every waiter time out at once), never past the one deadline.
        state = line;
        stateDeadline = Math.min(deadline, Date.now() + (state === 'prompt' ? bounds.promptMs : bounds.workingMs));
        debug(`the lock holder is now ${state === 'prompt' ? 'waiting for input' : 'working'}`);
        arm();
      }
      // Anything else is not keyrole's protocol: dropped unread.
    };
    let buf = '';
    let skipping = false;
    let retry: NodeJS.Timeout | undefined;
    const connect = () => {
      const s = net.connect({ path: address });
      sock = s;
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        for (let rest = d; rest.length > 0;) {
          const i = rest.indexOf('\n');
          const part = i >= 0 ? rest.slice(0, i) : rest;
          rest = i >= 0 ? rest.slice(i + 1) : '';
          if (!skipping) buf += part;
          if (buf.length > MAX_LINE) {
            // Too long to be a word of the protocol: skip to the end of the line.
            buf = '';
            skipping = true;
          }
          if (i >= 0) {
            if (!skipping) onLine(buf);
            buf = '';
            skipping = false;
          }
          if (settled) return;
        }
      });
      s.on('close', () => {
        if (s === sock && !retry) finish('released');
      });
      s.on('error', (err: NodeJS.ErrnoException) => {
        // Windows: no pipe to connect to. Whether the holder let go, died or is about to
        // listen, its claim says (see the opening comment).
        if (isPipe(address)) {
          const claim = claimState(place.file);
          if (claim !== 'pending') return finish(claim === 'stale' ? 'stale' : 'released');
          retry = setTimeout(() => {
            retry = undefined;
            if (!settled) connect();
          }, 20);
          return;
        }
        // Refused: a socket file whose holder died (SIGKILL) before it could remove it. It is
        // stale only if it is still the same file: another process may have replaced it.
        if (err.code === 'ECONNREFUSED' && before !== undefined && inode(address) === before) {
          try { unlinkSync(address); debug('removed the lock of a keyrole that died'); } catch { /* someone else did */ }
          return finish('stale');
        }
        // Gone (ENOENT): the holder let go between our listen and connect.
        finish('released');
      });
    };
    // Armed at once, not on connect: nothing the other end does (or does not do) comes
    // before the deadline.
    arm();
    connect();
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
  const noLock = (why: string) => {
    debug(`cannot take the lock (${why}); going on without single flight`);
    return work({ setState() {}, fail() {}, release() {} });
  };
  let address: LockPlace;
  try {
    address = await lockPlace(name, privateDir);
  } catch (err) {
    // A private directory keyrole cannot use (a read-only home, a foreign owner): the lock
    // only saves STS calls, so the fetch goes on; the store reports its own problems.
    return noLock((err as Error).message);
  }
  const started = Date.now();
  const deadline = started + waitLimitMs(bounds);
  for (let round = 0; ; round++) {
    let server: Net.Server | undefined;
    try {
      server = await listen(address);
    } catch (err) {
      return noLock((err as Error).message);
    }
    if (server) {
      debug(`took the lock ${name.slice(0, 8)} after ${Date.now() - started} ms`);
      const held = hold(server, address);
      sweepFailures(dirname(address.file), bounds);
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
    if (round >= MAX_ROUNDS || Date.now() >= deadline) {
      throw new KeyroleError('LockTimeout', `another keyrole kept the lock for these credentials busy for ${Math.round((Date.now() - started) / 1000)} s without a result`, 'retry; keyrole process --debug shows what it is waiting for');
    }
    debug('another keyrole holds the lock; waiting for it');
    const waitStart = Date.now();
    const r = await waitForHolder(address, bounds, started, deadline);
    if (r === 'stale') continue;
    if (r === 'failed') {
      const e = holderFailure(address, waitStart);
      if (e) throw e;
    }
    const done = await ready();
    if (done !== undefined) {
      debug(`another keyrole fetched the credentials; waited ${Date.now() - started} ms`);
      return done;
    }
    // The holder failed or died without a result: try to take the lock ourselves.
  }
}
