// Before a command runs: which store it uses, and, where that is keyrole's file store, its
// key unlocked first (src/keychain/unlocked.ts), because the passphrase prompt and scrypt
// are asynchronous and the keychain's reads and writes are not. Commands that read no
// secret are left alone.
//
// Where a D-Bus session exists and KEYROLE_KEYCHAIN is unset, a command that does not start
// with the credential cache asks the bus once whether a Secret Service is on it
// (secretServiceOnBus: the session the direct client opens anyway); nobody there makes it
// use the file store (src/keychain/selection.ts says why and when). The commands that
// start with the cache never ask here: their kernel-copy hit must touch no D-Bus, and their
// first Secret Service call, on a miss, finds the same answer (src/keychain/keychain.ts).
// doctor and status never ask a person for the passphrase: doctor reports on what the
// session has unlocked, and status runs inside shell prompts, where a passphrase prompt
// would hang the prompt (it unlocks from KEYROLE_PASSPHRASE_FILE only, and otherwise says
// the store is locked: fileStoreLocked).
// `keyrole process` leaves the unlock until it reads the keychain (deferUnlock): before the
// cache lookup where the keychain holds the cache, before a fetch otherwise
// (src/commands/process.ts, src/credentials/resolve.ts), so a hit from the file cache
// (keyrole_cache = file, KEYROLE_CACHE=file) never asks for the passphrase nor touches the store.

import { autoReason, chooseFileStore, mayChooseFileStore, noSecretServiceHere, storeName } from './selection.ts';
import { deferUnlock, prepareFileStore, unlockedIdentity } from './unlocked.ts';
import { storeExists } from './filestore.ts';
import { secretServiceOnBus } from './secretservice.ts';

/** Commands that never read or write the keychain, or open the store themselves (store, doctor). */
const NO_STORE = new Set(['completion', 'doctor', 'configure', 'store']);
/** Commands that read the store but unlock it from KEYROLE_PASSPHRASE_FILE only: never the terminal, nor KEYROLE_PASSPHRASE_COMMAND (pinentry, systemd-ask-password ask a person too). */
const ASKS_NOBODY = new Set(['status']);
/** Commands whose store is unlocked when they first need it (see above). */
const WHEN_NEEDED = new Set(['process']);
/** Commands that store a first secret, and so create the store when there is none. */
const CREATES = new Set(['setup', 'import', 'login', 'sso']);
/** Commands whose first keychain read is the credential cache's (a hit reads the kernel copy). */
const CACHE_FIRST = new Set(['process', 'exec', 'export', 'whoami', 'serve', 'status', 'console']);

/**
 * The store this process uses, decided before any synchronous call: the file store where
 * there is no D-Bus session, or (when `ask`) where the bus says no Secret Service is on it.
 * Says so once when the file store was chosen by itself (unless `say` is false: doctor
 * explains, and leaves the telling to the command that uses the store). `store` asks too.
 */
export async function chooseStore(o: { ask: boolean; say?: boolean }): Promise<void> {
  const say = o.say ?? true;
  if (o.ask && mayChooseFileStore() && storeName() === 'secret-service' && await secretServiceOnBus() === 'absent') {
    if (say) chooseFileStore('no-secret-service');
    else noSecretServiceHere();
  }
  if (say && autoReason() === 'no-bus') chooseFileStore('no-bus');
}

export async function prepareStore(command: string): Promise<void> {
  if (NO_STORE.has(command)) return;
  await chooseStore({ ask: !CACHE_FIRST.has(command) });
  if (storeName() !== 'file') return;
  if (ASKS_NOBODY.has(command) && !process.env.KEYROLE_PASSPHRASE_FILE) return;
  const prepare = () => prepareFileStore({ create: CREATES.has(command) });
  if (WHEN_NEEDED.has(command)) deferUnlock(prepare);
  else await prepare();
}

/** Whether the keychain is keyrole's file store and this session has not unlocked it (status says so rather than ask). */
export function fileStoreLocked(): boolean {
  return storeName() === 'file' && storeExists() && !unlockedIdentity();
}
