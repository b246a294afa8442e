// Which store keyrole's keychain is, and what a person is told about it. On Linux the store
// is pinned to the Secret Service: the addon's default would otherwise fall back to the
// kernel keyring without a word when no D-Bus session exists, and the user's keys would land
// in a store that is gone at reboot. The kernel keyring is an explicit choice
// (KEYROLE_KEYCHAIN=keyutils), as is keyrole's encrypted file store (KEYROLE_KEYCHAIN=file);
// the file store is also chosen by itself where no Secret Service can answer.
//
// One module owns the choice: the facade (src/keychain/keychain.ts), the addon's calls, the
// error wording, doctor and `keyrole store` all ask storeName() here, which reads the
// environment on every call (`keyrole store move` switches stores by setting it).

import { KeyroleError } from '../util/errors.ts';

export type StoreName = 'secret-service' | 'keyutils' | 'file' | 'native';

export function storeName(): StoreName {
  const chosen = (process.env.KEYROLE_KEYCHAIN ?? '').trim();
  if (chosen === 'file') return 'file';
  if (process.platform !== 'linux') return 'native';
  if (!chosen && storeAutoSelected()) return 'file';
  const choice = chosen || 'secret-service';
  if (choice === 'secret-service' || choice === 'keyutils') return choice;
  throw new KeyroleError('BadKeychainChoice', `KEYROLE_KEYCHAIN=${choice} is not a keychain keyrole knows`, 'use secret-service (the default), keyutils or file');
}

/**
 * Whether the file store is used because nothing else can be (Linux, KEYROLE_KEYCHAIN
 * unset, no D-Bus session: SSH servers, WSL, containers, CI). A session bus on which no
 * Secret Service answers is reported as such (keychainError) with the fix, rather than
 * probed on every call: the probe would cost the hot path a D-Bus round trip.
 */
export function storeAutoSelected(): boolean {
  return process.platform === 'linux' && !(process.env.KEYROLE_KEYCHAIN ?? '').trim() && !process.env.DBUS_SESSION_BUS_ADDRESS;
}

/**
 * What a person storing long-term keys must know about the chosen store, or undefined: the
 * kernel keyring (KEYROLE_KEYCHAIN=keyutils) lives in memory, so a reboot forgets the keys.
 */
export function volatileStoreNotice(): string | undefined {
  if (storeName() !== 'keyutils') return undefined;
  return 'KEYROLE_KEYCHAIN=keyutils keeps long-term keys in the kernel keyring, in memory only: they are gone at reboot, so keep a way to run keyrole setup again (or use the Secret Service)';
}

/** The store in words, for the one-line failures ("… is locked, so keyrole cannot …"). */
export function describeStore(): string {
  switch (storeName()) {
    case 'secret-service': return 'the Secret Service keychain';
    case 'keyutils': return 'the kernel keyring (keyutils)';
    case 'file': return 'keyrole\'s file store';
    default: return process.platform === 'darwin' ? 'the macOS Keychain' : 'Windows Credential Manager';
  }
}
