// KEYROLE_KEYCHAIN=keyutils: the kernel keyring as the whole keychain, chosen explicitly for
// a headless machine (it is gone at reboot: src/keychain/selection.ts volatileStoreNotice).
// Every value is sealed under this keyrole home's key (src/keychain/kernel.ts); values an
// earlier keyrole stored unsealed, under the account's own name, are still read, and sealed
// anew on the way.

import { debug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { kernelListing, legacyDelete, legacyGet, sealedSet, sealedGet } from './kernel.ts';

/** Names an earlier keyrole stored values under, unsealed: the account itself (anything but a sealed name). */
const legacyKeyutilsName = (name: string) => !/^[0-9a-f]{40}$/.test(name);

/** A keyutils read; an unsealed value an earlier keyrole stored is sealed anew on the way. */
export function keyutilsGet(service: string, account: string): string | null {
  const v = sealedGet(service, account);
  if (v !== null) return v;
  const legacy = legacyGet(service, account);
  if (legacy === null) return null;
  sealedSet(service, account, legacy);
  legacyDelete(service, account);
  debug(`kernel keyring: sealed ${service}/${printable(account)}, stored unsealed by an earlier keyrole`);
  return legacy;
}

/** Every account of `service`, sealed or left unsealed by an earlier keyrole. */
export function keyutilsAccounts(service: string, action: string): string[] {
  const l = kernelListing(service, action, legacyKeyutilsName);
  return [...new Set([...l.entries.map((e) => e.account), ...l.legacy])].sort();
}
