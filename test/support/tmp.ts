// Every temporary directory a test or the demo makes (throw-away homes, keyrings holding
// test secrets, sockets) lives under one parent per process: /tmp/keyrole-run-<pid>-<random>.
// The parent is removed when the process exits, normally, by an uncaught error, or by
// SIGINT/SIGTERM/SIGHUP. SIGKILL cannot be caught: the next process that makes a temp dir
// first sweeps the parents of processes that no longer exist. One helper, so no test
// forgets a case (a run once left 36 directories in /tmp). The servers a test or the demo
// starts (the emulator, D-Bus, chronyd) end the same way, so a Ctrl-C leaves none behind.

import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const RUN_PREFIX = 'keyrole-run-';
const NAME = new RegExp(`^${RUN_PREFIX}(\\d+)-[0-9a-f]+$`);

let root: string | undefined;
const children = new Set<ChildProcess>();
let hooked = false;

/** Whether process `pid` still runs (a zombie does not). */
export function alive(pid: number): boolean {
  // A killed process whose parent died too stays a zombie until init reaps it, which some
  // inits (this machine's) do late; kill(pid, 0) counts a zombie as alive.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync('/proc/self/stat')) return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Removes the run directories of processes that are gone (killed with SIGKILL); returns them. */
export function sweepDeadRuns(base = tmpdir()): string[] {
  const swept: string[] = [];
  let names: string[];
  try { names = readdirSync(base); } catch { return swept; }
  for (const n of names) {
    const m = NAME.exec(n);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    try {
      rmSync(join(base, n), { recursive: true, force: true, maxRetries: 3 });
      swept.push(join(base, n));
    } catch { /* another process sweeps it, or a mount is still inside: next time */ }
  }
  return swept;
}

function cleanUp(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  if (root) rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  root = undefined;
}

function onSignal(signal: NodeJS.Signals): void {
  try { cleanUp(); } catch { /* exiting anyway */ }
  // With no other listener, end the way the signal would have.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

/** This process's parent directory for temp dirs, created (and dead runs swept) on first use. */
export function runDir(): string {
  if (root) return root;
  sweepDeadRuns();
  root = join(tmpdir(), `${RUN_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  // 0711: a test's other local user (and chronyd, which drops root) may pass through to a
  // directory it was given; nobody else can list what is here.
  mkdirSync(root, { mode: 0o711 });
  chmodSync(root, 0o711);
  hook();
  return root;
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', cleanUp);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, onSignal);
}

/** A server started for a test or the demo: killed when this process ends, if still running. */
export function endWithRun<T extends ChildProcess>(child: T): T {
  hook();
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A new private directory under the run directory (gone when the process ends). */
export function tempDir(prefix = 'tmp-'): string {
  return mkdtempSync(join(runDir(), prefix));
}
