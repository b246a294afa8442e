// The kernel keyring as the credential cache's fast tier (Linux, with the Secret Service
// store). A keychain cache hit through the Secret Service costs node:net and its streams
// (~8 ms of CPU: src/keychain/dbus.ts) plus the round trips; the same read from the kernel
// keyring costs loading the addon (~0.6 ms), two system calls (~0.1 ms) and opening the
// sealed value (src/keychain/seal.ts). So a cache entry keyrole can renew by itself is also
// copied to the kernel keyring, and reads look there first (src/credentials/cache.ts). The
// Secret Service stays the store of record and holds every entry: where the kernel refuses
// the copy (a session keyring the process may not write to, the per-user quota) or does not
// give it back, or the copy does not open under this home's key, the read falls through to
// the Secret Service and nothing is lost but time. Entries only a person can renew (MFA
// sessions), source keys and SSO sign-ins are never copied. The copies are sealed and named
// under this keyrole home's key (src/keychain/kernel.ts): no other user can read or forge
// them, and another home of the same user neither reads nor lists them.
// KEYROLE_KERNEL_CACHE=off turns the copies off.
//
// A cache hit runs through here and nothing else of the keychain: no D-Bus, no addon call
// but the kernel's.

import { debug } from '../util/debug.ts';
import { switchedOff } from '../util/switch.ts';
import { describeQuota, isQuotaError, kernelErrorMessage, kernelListing, keyQuota, legacyDelete, sealedDelete, sealedGet, sealedSet } from './kernel.ts';
import { storeName } from './selection.ts';

/**
 * Whether the kernel keyring may hold copies of cache entries: Linux with the Secret Service
 * or keyrole's file store. For the file store the copy is also what keeps a hit fast: an
 * entry opened from the store costs the session key's unsealing and an age entry's opening
 * on top (1.47x `node -e 0` against 1.29x, bench of 2026-12-08). A copy holds temporary
 * credentials only, as the Secret Service's copies do; `keyrole store lock` removes them with
 * the session's key (src/commands/store.ts), and a hit served from one asks no passphrase.
 */
export function kernelCopiesPossible(): boolean {
  const store = storeName();
  return process.platform === 'linux' && (store === 'secret-service' || store === 'file');
}

/** Whether copies are made and read now: possible, and not turned off. */
export function kernelTier(): boolean {
  return kernelCopiesPossible() && !switchedOff(process.env.KEYROLE_KERNEL_CACHE);
}

/** The copy's value, or null (none, one that does not open under this home's key, or a keyring this process may not use). */
export function kernelGet(service: string, account: string): string | null {
  try {
    return sealedGet(service, account);
  } catch (err) {
    debug(`kernel keyring: cannot read ${service}/${account} (${kernelErrorMessage(err)})`);
    return null;
  }
}

/** Copies to the kernel keyring; false when the kernel (or this home's key file) refused. */
export function kernelSet(service: string, account: string, value: string): boolean {
  try {
    sealedSet(service, account, value);
    return true;
  } catch (err) {
    const quota = isQuotaError(err) ? keyQuota() : undefined;
    debug(`kernel keyring: cannot store ${service}/${account} (${kernelErrorMessage(err)}${quota ? `: the quota is full, ${describeQuota(quota)}` : ''}); only the Secret Service keeps it`);
    return false;
  }
}

export function kernelDelete(service: string, account: string): boolean {
  try {
    return sealedDelete(service, account);
  } catch {
    return false;
  }
}

/** Cache names of earlier keyroles, which stored the copies unsealed under the entry's own name. */
const legacyCacheName = (name: string) => /^[0-9a-f]{16}$/.test(name);

/** This home's copies of `service` that this session can read and open; none where the keyring cannot be listed. */
export function kernelEntries(service: string): { account: string; value: string }[] {
  try {
    return kernelListing(service, 'list the kernel keyring', legacyCacheName).entries;
  } catch {
    return [];
  }
}

/**
 * Removes what must not stay in the kernel keyring, against its per-user quota: this home's
 * copies that `stale` rejects (expired) or that do not open (rewritten, truncated), and
 * the unsealed copies of earlier keyroles (readable by whoever shares the session keyring).
 * Runs on a write (a cache miss), never on a hit. Returns how many were removed.
 */
export function kernelSweep(service: string, stale: (value: string) => boolean): number {
  let removed = 0;
  try {
    const l = kernelListing(service, 'tidy the kernel keyring', legacyCacheName);
    for (const e of l.entries) if (stale(e.value) && kernelDelete(service, e.account)) removed++;
    for (const name of [...l.broken, ...l.legacy]) if (legacyDelete(service, name)) removed++;
  } catch (err) {
    debug(`kernel keyring: cannot tidy ${service} (${kernelErrorMessage(err)})`);
  }
  if (removed) debug(`kernel keyring: removed ${removed} expired, unreadable or unsealed cop${removed === 1 ? 'y' : 'ies'}`);
  return removed;
}
