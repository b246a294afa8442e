// Creating a directory and its missing parents, each with one mkdir(2). Node's own
// `mkdirSync(path, { recursive: true })` loops forever where mkdir answers ENOENT for a
// path whose parent exists (procfs, sysfs: `KEYROLE_HOME=/proc/nope` spun at 96% CPU for
// ten minutes), so keyrole walks the parents itself: at most one mkdir per path component,
// and the first error is thrown as it came.

import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Creates `dir` and its missing parents with `mode` (before umask); throws the first fs error. */
export function makeDirs(dir: string, mode = 0o700): void {
  const missing: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    try {
      statSync(p);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode });
    } catch (err) {
      // Another process made it meanwhile: fine. Anything else (ENOENT from procfs, EROFS,
      // EACCES) is the answer.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** Whether `path` is a regular file (following links); false for anything that cannot be stat'ed. */
export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
