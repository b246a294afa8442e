// The user's home as the AWS tools find it, keyrole's own directory (KEYROLE_HOME, default
// ~/.aws/keyrole) and the check every directory that may hold a secret passes: the
// credential cache, the clock memory, the used-MFA-code record, the locks.

import { Stats, chmodSync, lstatSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KeyroleError } from './errors.ts';
import { makeDirs } from './dirs.ts';

/** The home directory as the AWS tools find it: HOME, else USERPROFILE (Windows), else the OS's answer. */
export function userHome(): string {
  return process.env.HOME || process.env.USERPROFILE || homedir();
}

export function keyroleHome(): string {
  return process.env.KEYROLE_HOME || join(userHome(), '.aws', 'keyrole');
}

/**
 * A directory keyrole may keep secrets in: a real directory (not a symlink), owned by this
 * user, not writable by group or others. Created 0700 when missing.
 */
export function privateDir(dir: string): string {
  const fix = `remove it or fix it (chmod 700, owned by you, not a symlink), or point KEYROLE_HOME elsewhere`;
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyroleError('CacheDirUnusable', `cannot inspect ${dir} (${(err as NodeJS.ErrnoException).code})`, fix);
    try {
      makeDirs(dir);
      chmodSync(dir, 0o700); // mkdir's mode is filtered by umask; the directory must be 0700 whatever the umask
    } catch (e) {
      throw new KeyroleError('CacheDirUnusable', `cannot create ${dir} (${(e as NodeJS.ErrnoException).code})`, 'check that your home directory is writable, or set KEYROLE_HOME');
    }
    st = lstatSync(dir);
  }
  if (st.isSymbolicLink()) throw new KeyroleError('CacheDirSymlink', `${dir} is a symbolic link, and keyrole keeps secrets only in a real directory`, fix);
  if (!st.isDirectory()) throw new KeyroleError('CacheDirUnusable', `${dir} is not a directory`, fix);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new KeyroleError('CacheDirForeign', `${dir} belongs to another user (uid ${st.uid})`, fix);
  if ((st.mode & 0o022) !== 0) throw new KeyroleError('CacheDirWritable', `${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`, fix);
  return dir;
}
