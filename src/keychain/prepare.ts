// Before a command runs: where the store is keyrole's file store, its key is unlocked first
// (src/keychain/unlocked.ts), because the passphrase prompt and scrypt are asynchronous and
// the keychain's reads and writes are not. Commands that read no secret are left alone.
// doctor and status never ask a person for the passphrase: doctor reports on what the
// session has unlocked, and status runs inside shell prompts, where a passphrase prompt
// would hang the prompt (it unlocks from KEYROLE_PASSPHRASE_FILE only, and otherwise says
// the store is locked: fileStoreLocked).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateDir } from '../util/home.ts';
import { storeAutoSelected, storeName } from './keychain.ts';
import { storeDir } from './filestore.ts';
import { prepareFileStore, unlockedIdentity } from './unlocked.ts';
import { readStoreFile, storeExists } from './filestore.ts';

/** Commands that never read or write the keychain, open the store themselves (store), or never ask (doctor). */
const NO_STORE = new Set(['completion', 'doctor', 'configure', 'store']);
/** Commands that read the store but unlock it from KEYROLE_PASSPHRASE_FILE only: never the terminal, nor KEYROLE_PASSPHRASE_COMMAND (pinentry, systemd-ask-password ask a person too). */
const ASKS_NOBODY = new Set(['status']);
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
  if (storeAutoSelected()) noticeOnce();
  if (ASKS_NOBODY.has(command) && !process.env.KEYROLE_PASSPHRASE_FILE) return;
  await prepareFileStore({ create: CREATES.has(command) });
}

/** Whether the keychain is keyrole's file store and this session has not unlocked it (status says so rather than ask). */
export function fileStoreLocked(): boolean {
  return storeName() === 'file' && storeExists() && !unlockedIdentity();
}
