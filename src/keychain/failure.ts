// How a keychain failure reads: the addon's platform errors (and the bus's, which they
// carry) turned into one line that says which part is missing and what to do. The direct
// D-Bus client words its own timeouts and broken buses (src/keychain/secretservice.ts), the
// addon's watchdog its own (src/keychain/addon.ts).

import { KeyroleError, oneLine } from '../util/errors.ts';
import { printable } from '../util/printable.ts';
import { duplicateItemsFix, unlockKeychainFix } from '../util/platform.ts';
import { QUOTA_FIX, describeQuota, isQuotaError, keyQuota } from './kernel.ts';
import { describeStore, storeName } from './selection.ts';

/** Turns the addon's platform errors into one line that says which part is missing. */
export function keychainError(err: unknown, action: string): KeyroleError {
  // The addon's text carries the bus's own error messages: outside text.
  const msg = oneLine(printable(String((err as Error)?.message ?? err))).slice(0, 300);
  if (/IsLocked|is locked|locked collection|prompt was dismissed/i.test(msg)) {
    return new KeyroleError('KeychainLocked', `${describeStore()} is locked, so keyrole cannot ${action}`,
      unlockKeychainFix(process.platform));
  }
  if (storeName() === 'keyutils' && isQuotaError(msg)) {
    const q = keyQuota();
    return new KeyroleError('KeyringQuota', `the kernel keyring refused to let keyrole ${action}: this user's key quota is full${q ? ` (${describeQuota(q)})` : ''}`,
      QUOTA_FIX);
  }
  const ambiguous = /matched by (\d+) credentials/i.exec(msg);
  if (ambiguous) {
    return new KeyroleError('KeychainAmbiguous', `${describeStore()} holds ${ambiguous[1]} entries where keyrole expects one, so it cannot ${action} (another tool stored one under the same name)`,
      duplicateItemsFix(process.platform));
  }
  if (/DBUS_SESSION_BUS_ADDRESS|autolaunch|ServiceUnknown|org\.freedesktop\.secrets|was not provided by any \.service|Connection refused|No such file or directory/i.test(msg)) {
    const why = process.env.DBUS_SESSION_BUS_ADDRESS ? 'no Secret Service answers on this D-Bus session' : 'there is no D-Bus session (DBUS_SESSION_BUS_ADDRESS is unset)';
    return new KeyroleError('NoSecretService', `no Secret Service is running: ${why}, so keyrole cannot ${action}`,
      'start gnome-keyring (or KeePassXC\'s Secret Service) in this session, or set KEYROLE_KEYCHAIN=file to use keyrole\'s encrypted file store');
  }
  return new KeyroleError('KeychainError', `${describeStore()} failed when keyrole tried to ${action}: ${msg}`, 'check that the keychain is running and unlocked');
}
