// doctor's keychain check: reachable and unlocked.

import { getItem, listSources, storeName, SOURCE_SERVICE } from '../../keychain/keychain.ts';
import { fromError, ok, type Check } from './check.ts';

export function keychainCheck(): Check {
  try {
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
