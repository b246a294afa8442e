// Before a command runs: where the store is keyrole's file store, its key is unlocked first
// (src/keychain/unlocked.ts), because the passphrase prompt and scrypt are asynchronous and
// the keychain's reads and writes are not. Commands that read no secret are left alone.
// `keyrole process` leaves it until it reads the keychain (deferUnlock): before the cache
// lookup where the keychain holds the cache, before a fetch otherwise (src/commands/process.ts,
// src/credentials/resolve.ts), so a hit from the file cache (keyrole_cache = file,
// KEYROLE_CACHE=file) never asks for the passphrase nor touches the store.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateDir } from '../util/home.ts';
import { storeAutoSelected, storeName } from './keychain.ts';
import { storeDir } from './filestore.ts';
import { deferUnlock, prepareFileStore } from './unlocked.ts';
import { readStoreFile } from './filestore.ts';

/** Commands that never read or write the keychain, or open the store themselves (store). */
const NO_STORE = new Set(['completion', 'doctor', 'configure', 'store']);
/** Commands whose store is unlocked when they first need it (see above). */
const WHEN_NEEDED = new Set(['process']);
/** Commands that store a first secret, and so create the store when there is none. */
const CREATES = new Set(['setup', 'import', 'login', 'sso']);

const NOTICE_FILE = 'auto-selected';

/** The one-line notice, once per keyrole home, that no Secret Service made keyrole use its file store. */
function noticeOnce(): void {
  const dir = privateDir(storeDir());
  if (readStoreFile(join(dir, NOTICE_FILE))) return;
  process.stderr.write(`keyrole: no D-Bus session (DBUS_SESSION_BUS_ADDRESS is unset), so keyrole keeps its keys in its encrypted file store in ${dir}; set KEYROLE_KEYCHAIN=file to say so, or start a Secret Service and run keyrole store move --to secret-service\n`);
  try { writeFileSync(join(dir, NOTICE_FILE), 'keyrole chose its file store: no Secret Service answered\n', { mode: 0o600, flag: 'wx' }); } catch { /* another process told it */ }
}

export async function prepareStore(command: string): Promise<void> {
  if (NO_STORE.has(command) || storeName() !== 'file') return;
  const prepare = async () => {
    if (storeAutoSelected()) noticeOnce();
    await prepareFileStore({ create: CREATES.has(command) });
  };
  if (WHEN_NEEDED.has(command)) deferUnlock(prepare);
  else await prepare();
}
