// The first line a server the tests start prints on stdout: its address (the emulator's
// JSON, dbus-daemon's bus address), which also says it is ready. One helper, so each server
// is waited for the same way: a generous limit for a busy machine, and an early failure when
// the process cannot start or exits first.

import type { ChildProcess } from 'node:child_process';

const LIMIT_MS = 30_000;

/** The first line of `child`'s stdout (which stays drained afterwards, so the child never blocks on it). */
export function firstLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`${what} printed nothing within ${LIMIT_MS / 1000} s`))), LIMIT_MS);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      if (done) return;
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) finish(() => resolve(out.slice(0, nl)));
    });
    child.once('error', (err) => finish(() => reject(err)));
    child.once('exit', (code, signal) => finish(() => reject(new Error(`${what} exited (${code ?? signal}) before it printed its first line`))));
  });
}
