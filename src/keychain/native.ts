// Loads the @napi-rs/keyring addon. A Node single executable can only require built-in
// modules, so the build embeds the .node file and keyrole loads it with process.dlopen:
// from a copy beside the executable when the install put one there, otherwise from a
// copy extracted once into a private (0700) cache directory, named by its hash, so later
// runs load it in place instead of writing a fresh temp file every time.

import { dirname, join } from 'node:path';
import { lstatSync } from 'node:fs';
import { makeDirs } from '../util/dirs.ts';
import { writeAtomic } from '../util/atomic.ts';
import { userHome } from '../util/home.ts';
import { KeyroleError } from '../util/errors.ts';
import { writableByOthers } from '../util/platform.ts';
import { nodeRequire } from '../util/require.ts';

export type KeyringModule = typeof import('@napi-rs/keyring');

export const ADDON_FILE = `keyrole-keyring.${process.platform}-${process.arch}.node`;

let loaded: KeyringModule | undefined;

export function loadKeyring(): KeyringModule {
  if (loaded) return loaded;
  const sea = seaApi();
  loaded = sea ? loadFromSea(sea) : (nodeRequire()('@napi-rs/keyring') as KeyringModule);
  return loaded;
}

interface SeaApi {
  isSea(): boolean;
  getAsset(key: string): ArrayBuffer;
}

function seaApi(): SeaApi | undefined {
  try {
    const sea = nodeRequire()('node:sea') as SeaApi;
    return sea.isSea() ? sea : undefined;
  } catch {
    return undefined;
  }
}

function dlopen(path: string): KeyringModule {
  const mod = { exports: {} as KeyringModule };
  process.dlopen(mod, path);
  return mod.exports;
}

/** A file we may load code from: a regular file, ours or root's, not writable by others. */
function trustworthy(path: string): boolean {
  try {
    const st = lstatSync(path);
    const uid = process.getuid?.();
    return st.isFile() && !writableByOthers(st.mode) && (uid === undefined || st.uid === uid || st.uid === 0);
  } catch {
    return false;
  }
}

function loadFromSea(sea: SeaApi): KeyringModule {
  const beside = join(dirname(process.execPath), ADDON_FILE);
  if (trustworthy(beside)) return dlopen(beside);

  const hash = Buffer.from(sea.getAsset('keyring.sha256')).toString('utf8').trim().slice(0, 16);
  const dir = join(process.env.XDG_CACHE_HOME || join(userHome(), '.cache'), 'keyrole');
  const target = join(dir, `keyring-${hash}.node`);
  if (!trustworthy(target)) {
    try {
      makeDirs(dir);
      const st = lstatSync(dir);
      const uid = process.getuid?.();
      if (!st.isDirectory() || writableByOthers(st.mode) || (uid !== undefined && st.uid !== uid)) throw new Error(`${dir} is not a private directory of this user`);
      // The 3 MB asset is copied out only here, on the one run that installs the addon, and
      // node:crypto loaded only here: both would cost every later run a millisecond or more.
      const bytes = Buffer.from(sea.getAsset('keyring.node'));
      const { createHash } = nodeRequire()('node:crypto') as typeof import('node:crypto');
      if (createHash('sha256').update(bytes).digest('hex').slice(0, 16) !== hash) throw new Error('embedded addon is corrupt');
      // Written under a unique name then renamed, so a parallel run never loads a half-written file.
      writeAtomic(target, bytes);
    } catch (err) {
      throw new KeyroleError('AddonUnavailable', `cannot install the keychain addon in ${dir} (${(err as Error).message})`, 'make that directory writable by you and private, or set XDG_CACHE_HOME');
    }
  }
  return dlopen(target);
}
