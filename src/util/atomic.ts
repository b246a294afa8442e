// The one atomic file write of keyrole: the cache files, the clock memory, the used-MFA-code
// record, the installed keychain addon, the AWS config and the AWS CLI's SSO token file all
// go through it, so every one has the same crash guarantees:
//
// - the new content goes to a temp file in the target's directory (a rename is only atomic
//   within one file system), created exclusively, never through a symlink, with the final
//   mode from the start (the temp may hold a secret);
// - the temp file is flushed (fsync) before the rename, and the directory after it, so a
//   crash or power loss leaves the old content or the new one, never a torn or empty file;
// - a failed write removes its temp file;
// - a writer killed between create and rename (SIGKILL, OOM) leaves a temp file nobody would
//   ever delete, possibly holding a token: its name carries the writer's pid, and the next
//   write into the same directory removes those whose writer is dead or that are old.
//
// Hand-written: the npm `write-file-atomic` does the same steps but is asynchronous-first,
// sweeps nothing a dead writer leaves, and would be a runtime dependency on the hot path.

import { closeSync, constants, fchmodSync, fsyncSync, linkSync, lstatSync, openSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { debug } from './debug.ts';

export interface AtomicOptions {
  /** The file's mode (default 0600: most of what keyrole writes is secret). */
  mode?: number;
  /**
   * Never replace: the file appears whole or, when it exists already, the write fails with
   * EEXIST and the existing file stays (a key two processes may create at once).
   */
  exclusive?: boolean;
}

/** A temp file left by a writer older than this is removed even if its pid is alive again (reused). */
export const STALE_TEMP_MS = 10 * 60_000;

// `.<target name>.<pid>.<random>.tmp`: hidden, recognisable, and the writer's pid in it.
const TEMP = /^\..+\.(\d+)\.[0-9a-z]{6,}\.tmp$/;

export function tempName(target: string, pid = process.pid): string {
  return join(dirname(target), `.${basename(target)}.${pid}.${Math.random().toString(36).slice(2, 10).padEnd(8, '0')}.tmp`);
}

/**
 * Replaces `path`'s content atomically (see the opening comment). Throws the file system's
 * error (with its `code`) after removing the temp file; the caller words the message.
 */
export function writeAtomic(path: string, data: string | Uint8Array, o: AtomicOptions = {}): void {
  const mode = o.mode ?? 0o600;
  const dir = dirname(path);
  const tmp = tempName(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), mode);
    // The umask may have taken bits away from a wider requested mode.
    fchmodSync(fd, mode);
    writeFileSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (o.exclusive) {
      // link(2) refuses an existing target, where rename(2) would replace it.
      linkSync(tmp, path);
      unlinkSync(tmp);
    } else {
      renameWithRetry(tmp, path);
    }
  } catch (err) {
    if (fd !== undefined) try { closeSync(fd); } catch { /* already failing */ }
    try { unlinkSync(tmp); } catch { /* never created, or renamed */ }
    throw err;
  }
  syncDir(dir);
  sweepTemps(dir);
}

// Windows: a reader (an antivirus, the AWS CLI) holding the target open makes rename fail
// with EPERM/EBUSY/EACCES for a moment; POSIX renames never do, so there it is one try.
function renameWithRetry(from: string, to: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      renameSync(from, to);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (process.platform !== 'win32' || attempt >= 10 || !(code === 'EPERM' || code === 'EBUSY' || code === 'EACCES')) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 * (attempt + 1));
    }
  }
}

/** Makes the rename durable; where a directory cannot be opened or flushed (Windows), the rename stands as it is. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch (err) {
    debug(`could not flush directory ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  } finally {
    if (fd !== undefined) try { closeSync(fd); } catch { /* nothing to do */ }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: a process of another user holds that pid; it is alive.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the temp files of dead writers in `dir` (and any older than `olderThanMs`, whose
 * pid may have been reused). Never this process's own, never anything but a regular file.
 * Returns the names removed.
 */
export function sweepTemps(dir: string, olderThanMs = STALE_TEMP_MS, now = Date.now()): string[] {
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  const removed: string[] = [];
  for (const n of names) {
    const m = TEMP.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    const path = join(dir, n);
    try {
      const st = lstatSync(path);
      if (!st.isFile()) continue;
      if (alive(pid) && now - st.mtimeMs < olderThanMs) continue;
      unlinkSync(path);
      removed.push(n);
      debug(`removed ${n}, left by a writer that died before renaming it`);
    } catch { /* gone already */ }
  }
  return removed;
}
