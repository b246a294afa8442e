// doctor's keychain check: which store keyrole uses and why, and whether it is reachable
// and unlocked. The store is decided as a command would decide it (src/keychain/prepare.ts
// chooseStore, src/keychain/selection.ts), without saying the once-only notice.

import { getItem } from '../../keychain/keychain.ts';
import { listSources } from '../../keychain/sources.ts';
import { autoReasonWords, autoReason, storeName } from '../../keychain/selection.ts';
import { SOURCE_SERVICE } from '../../keychain/sourcekeys.ts';
import { chooseStore } from '../../keychain/prepare.ts';
import { secretServiceOnBus } from '../../keychain/secretservice.ts';
import { fromError, ok, warning, type Check } from './check.ts';
import { storeDir, storeExists } from '../../keychain/filestore.ts';
import { sessionKey } from '../../keychain/unlocked.ts';

/** The file store: where, why, and whether this session has it unlocked (doctor never asks the passphrase). */
async function fileStoreCheck(): Promise<Check> {
  const auto = autoReasonWords();
  const why = auto ? ` (chosen by itself: ${auto})` : ' (KEYROLE_KEYCHAIN=file)';
  if (!storeExists()) return warning('keychain', `keyrole's file store${why} is not created yet (${storeDir()})`, 'create it with keyrole setup <source>');
  const s = sessionKey();
  if (!s) return warning('keychain', `keyrole's file store${why} in ${storeDir()} (age, scrypt) is locked in this session`, 'the next keyrole call asks for its passphrase (or set KEYROLE_PASSPHRASE_FILE or KEYROLE_PASSPHRASE_COMMAND)');
  const n = listSources().length;
  const state = `keyrole's file store${why} in ${storeDir()} (age, scrypt) is unlocked until ${new Date(s.until).toISOString()} (${n} source${n === 1 ? '' : 's'})`;
  // A file store kept beside a Secret Service that appeared since: said here, never switched.
  if (autoReason() === 'kept' && await secretServiceOnBus() === 'answers') {
    return warning('keychain', `${state}; a Secret Service answers on this D-Bus session now, and keyrole keeps using its file store so that your keys stay in one store`,
      'move every key there with keyrole store move --to secret-service (or set KEYROLE_KEYCHAIN=file to keep the file store)');
  }
  return ok('keychain', state);
}

export async function keychainCheck(): Promise<Check> {
  try {
    await chooseStore({ ask: true, say: false });
    if (storeName() === 'file') return await fileStoreCheck();
    // A read, not only a search: a search on a bus with no Secret Service comes back empty.
    getItem(SOURCE_SERVICE, 'keyrole-doctor-probe', 'read the keychain');
    const n = listSources().length;
    const store = storeName();
    const label = store === 'secret-service' ? 'Secret Service' : store === 'keyutils' ? 'kernel keyring' : process.platform === 'darwin' ? 'macOS Keychain' : 'Credential Manager';
    const why = store === 'native' ? '' : process.env.KEYROLE_KEYCHAIN?.trim() ? `, used because KEYROLE_KEYCHAIN=${store}` : ', used because it answers on this D-Bus session (KEYROLE_KEYCHAIN is unset)';
    return ok('keychain', `${label} reachable and unlocked (${n} source${n === 1 ? '' : 's'})${why}`);
  } catch (err) {
    return fromError('keychain', err);
  }
}
