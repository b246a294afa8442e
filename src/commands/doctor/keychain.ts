// doctor's keychain check: reachable and unlocked.

import { getItem } from '../../keychain/keychain.ts';
import { listSources } from '../../keychain/sources.ts';
import { storeName } from '../../keychain/selection.ts';
import { SOURCE_SERVICE } from '../../keychain/sourcekeys.ts';
import { fromError, ok, warning, type Check } from './check.ts';
import { storeDir, storeExists } from '../../keychain/filestore.ts';
import { sessionKey } from '../../keychain/unlocked.ts';
import { storeAutoSelected } from '../../keychain/selection.ts';

/** The file store: where, why, and whether this session has it unlocked (doctor never asks the passphrase). */
function fileStoreCheck(): Check {
  const why = storeAutoSelected() ? ' (chosen by itself: no D-Bus session)' : ' (KEYROLE_KEYCHAIN=file)';
  if (!storeExists()) return warning('keychain', `keyrole's file store${why} is not created yet (${storeDir()})`, 'create it with keyrole setup <source>');
  const s = sessionKey();
  if (!s) return warning('keychain', `keyrole's file store${why} in ${storeDir()} (age, scrypt) is locked in this session`, 'the next keyrole call asks for its passphrase (or set KEYROLE_PASSPHRASE_FILE or KEYROLE_PASSPHRASE_COMMAND)');
  const n = listSources().length;
  return ok('keychain', `keyrole's file store${why} in ${storeDir()} (age, scrypt) is unlocked until ${new Date(s.until).toISOString()} (${n} source${n === 1 ? '' : 's'})`);
}

export function keychainCheck(): Check {
  try {
    if (storeName() === 'file') return fileStoreCheck();
    // A read, not only a search: a search on a bus with no Secret Service comes back empty.
    getItem(SOURCE_SERVICE, 'keyrole-doctor-probe', 'read the keychain');
    const n = listSources().length;
    const store = storeName();
    const label = store === 'secret-service' ? 'Secret Service' : store === 'keyutils' ? 'kernel keyring' : process.platform === 'darwin' ? 'macOS Keychain' : 'Credential Manager';
    return ok('keychain', `${label} reachable and unlocked (${n} source${n === 1 ? '' : 's'})`);
  } catch (err) {
    return fromError('keychain', err);
  }
}
