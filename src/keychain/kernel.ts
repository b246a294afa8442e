// The kernel keyring (keyutils), through the @napi-rs/keyring addon, as keyrole uses it in
// two ways: the whole keychain where the user chose it (KEYROLE_KEYCHAIN=keyutils:
// src/keychain/keyutils.ts), and the cache's fast tier beside the Secret Service (src/keychain/tier.ts).
// Every value is sealed under this keyrole home's key and named by it
// (src/keychain/seal.ts): another user who shares the session keyring reads only sealed
// bytes and cannot forge one, and another home of the same user sees nothing it can open.
//
// The addon adds each key to the session keyring and links it into the user's persistent
// keyring, which it links into every later session of the user: the keys are shared by
// the user's sessions, never written to disk, and gone at reboot or after three days
// unused (persistent_keyring_expiry). The kernel counts their bytes against a per-user
// quota (/proc/key-users; 20,000 bytes for a user other than root by default).

import { readFileSync } from 'node:fs';
import { KeyroleError, oneLine } from '../util/errors.ts';
import { loadKeyring } from './native.ts';
import { debug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { kernelName, open, readSealKey, seal, sealKeyForWrite, isOurName, type SealKey } from './seal.ts';
import type { Entry as EntryType } from '@napi-rs/keyring';

let primed = false;
/**
 * The addon resolves the session keyring and then links the persistent keyring into it
 * (KEYCTL_GET_PERSISTENT), which gives a process that has no session keyring of its own
 * (containers, services, cron: they fall back on the shared default one) a new session
 * keyring. The first entry a process makes therefore searches the old keyring, where the
 * user's keys are not, and every later one the new. One entry made and dropped first makes
 * every entry the process uses see the same keyring. Regression (strace, this project's
 * container): a fresh process missed an entry it found on its second read.
 */
export function primeKeyutils(): void {
  if (primed) return;
  primed = true;
  try {
    new (loadKeyring().Entry)('keyrole:prime', 'session', { linux: { store: 'keyutils' } });
  } catch { /* the real entry reports it */ }
}

/** The addon's entry for a kernel name (what is stored there is sealed). */
function rawEntry(service: string, name: string): EntryType {
  primeKeyutils();
  return new (loadKeyring().Entry)(service, name, { linux: { store: 'keyutils' } });
}

const message = (err: unknown) => oneLine(printable(String((err as Error)?.message ?? err)));

/**
 * The names of `service` in the kernel keyring. The addon's search (findCredentials) asks
 * the Secret Service whatever the store, so keyrole reads /proc/keys, the kernel's own list
 * of the keys this process may view (`keyring:<name>@<service>` is how the addon names
 * them). /proc/keys also shows keys of this user's other sessions that cannot be read from
 * here: callers open each.
 */
export function kernelNames(service: string, action: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/keys', 'utf8');
  } catch (err) {
    throw new KeyroleError('KeyringUnavailable', `cannot ${action}: the kernel keyring cannot be listed (/proc/keys: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'check that this kernel has keys support (CONFIG_KEYS), or use the Secret Service (unset KEYROLE_KEYCHAIN)');
  }
  const suffix = `@${service}`;
  const found = new Set<string>();
  for (const line of text.split('\n')) {
    // id flags usage timeout perm uid gid type description: summary
    const m = /^\S+\s+\S+\s+\d+\s+\S+\s+[0-9a-f]+\s+\d+\s+\d+\s+user\s+keyring:(.*): \S+$/.exec(line);
    if (m && m[1].endsWith(suffix) && m[1].length > suffix.length) found.add(m[1].slice(0, -suffix.length));
  }
  return [...found].sort();
}

function readBytes(service: string, name: string): Uint8Array | null {
  const b = rawEntry(service, name).getSecret();
  return b === null ? null : Uint8Array.from(b);
}

/** The value of `account`, or null: none, or nothing this home sealed for it (debug line). The addon's errors are thrown. */
export function sealedGet(service: string, account: string, k: SealKey | undefined = readSealKey()): string | null {
  if (!k) return null;
  const name = kernelName(k, service, account);
  const bytes = readBytes(service, name);
  if (bytes === null) return null;
  const v = open(k, service, name, bytes);
  if (!v || v.account !== account) {
    debug(`kernel keyring: ${service}/${printable(account)} does not open under this keyrole home's key (another home's or user's, or rewritten); a miss`);
    return null;
  }
  return v.value;
}

export function sealedSet(service: string, account: string, value: string): void {
  const k = sealKeyForWrite();
  rawEntry(service, kernelName(k, service, account)).setSecret(seal(k, service, account, value));
}

/** Deletes `account`'s sealed value and any unsealed one an earlier keyrole stored under the account itself. */
export function sealedDelete(service: string, account: string): boolean {
  const k = readSealKey();
  const sealed = k ? rawEntry(service, kernelName(k, service, account)).deleteCredential() : false;
  return legacyDelete(service, account) || sealed;
}

/** An unsealed value an earlier keyrole stored under the account itself (read once to be sealed anew), or null. */
export function legacyGet(service: string, account: string): string | null {
  return rawEntry(service, account).getPassword();
}

export function legacyDelete(service: string, account: string): boolean {
  try {
    return rawEntry(service, account).deleteCredential();
  } catch {
    return false;
  }
}

export interface KernelListing {
  /** This home's values that open. */
  entries: { account: string; value: string }[];
  /** Names of this home's shape that do not open (rewritten, truncated). */
  broken: string[];
  /** Names that are not sealed names of any home: unsealed values of an earlier keyrole. */
  legacy: string[];
}

/** What the kernel keyring holds for `service` that this process can read, sorted out. */
export function kernelListing(service: string, action: string, legacyName: (name: string) => boolean): KernelListing {
  const out: KernelListing = { entries: [], broken: [], legacy: [] };
  const names = kernelNames(service, action);
  const k = readSealKey();
  for (const name of names) {
    if (k && isOurName(k, name)) {
      let bytes: Uint8Array | null;
      try { bytes = readBytes(service, name); } catch { continue; }
      if (bytes === null) continue; // another session's, not reachable from here
      const v = open(k, service, name, bytes);
      if (v) out.entries.push(v);
      else out.broken.push(name);
    } else if (legacyName(name)) {
      try { if (legacyGet(service, name) !== null) out.legacy.push(name); } catch { /* unreadable: not ours to judge */ }
    }
  }
  out.entries.sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0));
  return out;
}

// ---- the quota ----

export interface KeyQuota { keys: number; maxKeys: number; bytes: number; maxBytes: number }

/** This user's kernel key quota (/proc/key-users), or undefined where it cannot be read. */
export function keyQuota(uid = process.getuid?.()): KeyQuota | undefined {
  if (uid === undefined) return undefined;
  try {
    for (const line of readFileSync('/proc/key-users', 'utf8').split('\n')) {
      // uid: usage nkeys/nikeys qnkeys/maxkeys qnbytes/maxbytes
      const m = /^\s*(\d+):\s+\d+\s+\d+\/\d+\s+(\d+)\/(\d+)\s+(\d+)\/(\d+)\s*$/.exec(line);
      if (m && Number(m[1]) === uid) return { keys: Number(m[2]), maxKeys: Number(m[3]), bytes: Number(m[4]), maxBytes: Number(m[5]) };
    }
  } catch { /* no keys support */ }
  return undefined;
}

export function describeQuota(q: KeyQuota): string {
  return `${q.bytes} of ${q.maxBytes} bytes and ${q.keys} of ${q.maxKeys} keys in use for uid ${process.getuid?.()} (/proc/key-users)`;
}

/** What to do about a full quota. */
export const QUOTA_FIX = 'other programs\' keys count too (keyctl show @u; keyctl show @s); keyrole cache clear removes this home\'s copies; root can raise the quota: sysctl kernel.keys.maxbytes / kernel.keys.maxkeys';

/** Whether an addon error is the kernel refusing for quota (EDQUOT). */
export function isQuotaError(err: unknown): boolean {
  return /quota/i.test(message(err));
}

export { message as kernelErrorMessage };
