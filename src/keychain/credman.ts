// Windows Credential Manager as keyrole uses it through the addon: how much a credential
// holds, how keyrole's values are written so that they fit and always decode, and how its
// items are named so that a listing finds them. Pure functions of the value (and of the
// platform where it matters), so the suite checks them on Linux too.
//
// Size. Windows' Credential Manager holds at most 2,560 bytes per generic credential
// (CRED_MAX_CREDENTIAL_BLOB_SIZE). The addon's setPassword stores UTF-16, two bytes per
// character, which leaves 1,280 characters: a cache entry with a regional AssumeRole token
// (750–770 characters) and a long role ARN does not fit, nor does an IAM Identity Center
// record. keyrole's values are JSON, almost all ASCII, so on Windows they are stored as
// UTF-8 bytes (setSecret/getSecret), which doubles what fits. No earlier keyrole ran on
// Windows (its permission checks failed first), so no UTF-16 entries exist to be read.
// The other stores take far more (the kernel keyring 32 KB per key; the Secret Service
// and the macOS Keychain have no practical limit).
//
// Names and listing. CredEnumerateW's filter is a name prefix followed by one trailing `*`
// (documented so, and Wine matches it). The addon names a credential `<account>.<service>`
// and lists a service with the filter `*.<service>`, which matches nothing: list, cache
// list, cache clear and doctor saw nothing stored (found by the Windows lane,
// test/windows.e2e.test.ts). So on Windows keyrole gives the addon `<service>/<account>` as
// the user name, which makes the target `<service>/<account>.<service>`, and lists
// `<service>/*`. (The addon's withTarget would name the target directly, but on Windows it
// creates an empty credential for every entry it opens, reads included.)
// The addon's listing also decodes every blob it finds as UTF-16 and fails the whole call
// on one it cannot (an odd length, a lone surrogate), so keyrole's blobs are written so
// that they always decode: ASCII (keyrole's values are all JSON, where a non-ASCII
// character can be written as a \u escape with the same meaning) padded with a space to an
// even length, which JSON ignores. Still UTF-8 bytes, so still half the size of UTF-16.

import type { Entry as EntryType } from '@napi-rs/keyring';

export const CREDENTIAL_MANAGER_MAX_BYTES = 2560;

/** The bytes `value` takes in a store as keyrole writes it (UTF-8 everywhere, Windows included). */
export function storedBytes(value: string): number {
  return Buffer.byteLength(value, 'utf8');
}

/** Why the platform's store cannot hold `value`, or undefined if it can. */
export function valueProblem(value: string, platform: NodeJS.Platform): string | undefined {
  const n = platform === 'win32' ? windowsBlob(value).length : storedBytes(value);
  if (platform === 'win32' && n > CREDENTIAL_MANAGER_MAX_BYTES) return `${n} bytes, over Credential Manager's ${CREDENTIAL_MANAGER_MAX_BYTES}`;
  return undefined;
}

type ValueEntry = Pick<EntryType, 'getPassword' | 'setPassword' | 'getSecret' | 'setSecret'>;

/** The user name keyrole gives the addon on Windows for an item (see above). */
export function windowsUserName(service: string, account: string): string {
  return `${service}/${account}`;
}

/** The CredEnumerateW filter for every item of `service`: its targets' prefix and one `*`. */
export function windowsFilter(service: string): string {
  return `${windowsUserName(service, '')}*`;
}

/** The accounts among the user names a Windows listing found. */
export function windowsAccounts(service: string, userNames: string[]): string[] {
  const prefix = windowsUserName(service, '');
  return userNames.filter((u) => u.startsWith(prefix)).map((u) => u.slice(prefix.length));
}

/** The bytes keyrole stores for `value` in Credential Manager (see above). */
export function windowsBlob(value: string): Buffer {
  const ascii = value.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return Buffer.from(ascii.length % 2 === 0 ? ascii : `${ascii} `, 'ascii');
}

export function writeValue(e: ValueEntry, value: string, platform: NodeJS.Platform): void {
  if (platform === 'win32') e.setSecret(windowsBlob(value));
  else e.setPassword(value);
}

export function readValue(e: ValueEntry, platform: NodeJS.Platform): string | null {
  if (platform !== 'win32') return e.getPassword();
  const bytes = e.getSecret();
  // trimEnd: the padding (JSON.parse would skip it too).
  return bytes === null ? null : Buffer.from(bytes).toString('utf8').trimEnd();
}
