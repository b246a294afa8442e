// The user's home as the AWS tools find it, keyrole's own directory (KEYROLE_HOME, default
// ~/.aws/keyrole) and the check every directory that may hold a secret passes: the
// credential cache, the clock memory, the used-MFA-code record, the locks.

import { Stats, chmodSync, closeSync, constants, fstatSync, lstatSync, openSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { awsHome, defaultKeyroleHome, openToOthers, writableByOthers } from './platform.ts';
import { KeyroleError, type ErrorCode } from './errors.ts';
import { makeDirs } from './dirs.ts';

/** The home directory as the AWS CLI finds it (src/util/platform.ts: USERPROFILE on Windows, HOME elsewhere). */
export function userHome(): string {
  return awsHome(process.env, process.platform, homedir);
}

/** KEYROLE_HOME, else ~/.aws/keyrole (%LOCALAPPDATA%\keyrole on Windows, a directory only the user may open). */
export function keyroleHome(): string {
  return process.env.KEYROLE_HOME || defaultKeyroleHome(process.env, process.platform, userHome());
}

/**
 * A directory keyrole may keep secrets in: a real directory (not a symlink), owned by this
 * user, not writable by group or others. Created 0700 when missing. On Windows, where
 * stat has no owner or modes to tell, the checks left are the link (lstat reports
 * junctions as links) and the place: under %LOCALAPPDATA% by default (src/util/platform.ts).
 */
export function privateDir(dir: string): string {
  return checkPrivateDir(dir, true)!;
}

/**
 * privateDir's checks without creating anything: undefined when the directory does not
 * exist (a reader treats that as empty; only a writer creates it). Regression: a cache
 * read on a read-only home with no cache directory yet failed before STS was asked.
 */
export function existingPrivateDir(dir: string): string | undefined {
  return checkPrivateDir(dir, false);
}

function checkPrivateDir(dir: string, create: boolean): string | undefined {
  const fix = `remove it or fix it (chmod 700, owned by you, not a symlink), or point KEYROLE_HOME elsewhere`;
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyroleError('CacheDirUnusable', `cannot inspect ${dir} (${(err as NodeJS.ErrnoException).code})`, fix);
    if (!create) return undefined;
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
  if (writableByOthers(st.mode)) throw new KeyroleError('CacheDirWritable', `${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`, fix);
  return dir;
}

/**
 * A file of keyrole's own that holds a secret (the kernel keyring's sealing key, the file
 * store's files), read without following links, and refused with `code` and `fix` when it is
 * not a regular file of this user's closed to others; undefined when it does not exist.
 */
export function readPrivateFile(path: string, code: ErrorCode, fix: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') return undefined;
    if (errno === 'ELOOP') throw new KeyroleError(code, `${path} is a symbolic link`, fix);
    throw new KeyroleError(code, `cannot read ${path} (${errno})`, fix);
  }
  try {
    const st = fstatSync(fd);
    const uid = process.getuid?.();
    if (!st.isFile()) throw new KeyroleError(code, `${path} is not a regular file`, fix);
    if (uid !== undefined && st.uid !== uid) throw new KeyroleError(code, `${path} belongs to another user (uid ${st.uid})`, fix);
    if (openToOthers(st.mode)) throw new KeyroleError(code, `${path} is readable or writable by others (mode ${(st.mode & 0o777).toString(8)})`, fix);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
