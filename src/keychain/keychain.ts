// The OS keychain, through @napi-rs/keyring. On Linux the store is pinned to the Secret
// Service: the addon's default would otherwise fall back to the kernel keyring without a
// word when no D-Bus session exists, and the user's keys would land in a store that is
// gone at reboot. The kernel keyring is available as an explicit choice
// (KEYROLE_KEYCHAIN=keyutils) for headless machines, and serves the Secret Service store as
// the fast tier for short-lived cache entries (kernelTier, below); either way every value
// keyrole puts there is sealed under this keyrole home's key (src/keychain/kernel.ts).
//
// Every call is bounded in time. The hot path's Secret Service calls go through keyrole's
// own client (src/keychain/secretservice.ts: 5 s per call). The addon's calls are
// synchronous and cannot be interrupted, so on the Secret Service store a watchdog thread
// (bounded()) ends the process with one line when one has not returned within
// ADDON_TIMEOUT_MS. Regression: a bus that authenticated and then said nothing hung
// keyrole for over 100 s inside the addon.

import { KeyroleError, oneLine } from '../util/errors.ts';
import { loadKeyring } from './native.ts';
import { debug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { duplicateItemsFix, unlockKeychainFix } from '../util/platform.ts';
import { nodeRequire } from '../util/require.ts';
import { readSecret, SecretServiceDeferred, writeSecret } from './secretservice.ts';
import { QUOTA_FIX, describeQuota, isQuotaError, kernelErrorMessage, kernelListing, keyQuota, legacyDelete, legacyGet, sealedDelete, sealedGet, sealedSet } from './kernel.ts';
import { fileAccounts, fileDelete, fileGet, fileSet, storeExists } from './filestore.ts';
import { requireIdentity, unlockedIdentity } from './unlocked.ts';
import type { AgeIdentity } from './agefile.ts';
import type { Entry as EntryType, EntryOptions } from '@napi-rs/keyring';
import type * as WorkerThreads from 'node:worker_threads';

export const SOURCE_SERVICE = 'keyrole:source';

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

function entryOptions(): EntryOptions {
  const store = storeName();
  return store === 'secret-service' || store === 'keyutils' ? { linux: { store } } : {};
}

function describeStore(): string {
  switch (storeName()) {
    case 'secret-service': return 'the Secret Service keychain';
    case 'keyutils': return 'the kernel keyring (keyutils)';
    case 'file': return 'keyrole\'s file store';
    default: return process.platform === 'darwin' ? 'the macOS Keychain' : 'Windows Credential Manager';
  }
}

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

// ---- the addon's calls, bounded ----

// Long enough for a person at the desktop's unlock prompt (the addon waits for it), short
// enough that a silent bus is not a hang: a gnome-keyring answers in milliseconds.
export const ADDON_TIMEOUT_MS = 30_000;

// The watchdog runs in its own thread, whose timers fire while the main thread is inside
// the addon. It writes the one line itself and ends the process with SIGKILL: a signal
// Node would have to handle on the blocked main thread never would be. getBuiltinModule,
// not require: the code runs as a module or as a script depending on the parent's flags.
const WATCHDOG = `
const { parentPort } = process.getBuiltinModule('node:worker_threads');
const { writeSync } = process.getBuiltinModule('node:fs');
let timer;
parentPort.on('message', (m) => {
  clearTimeout(timer);
  if (m.line) timer = setTimeout(() => { try { writeSync(2, m.line + '\\n'); } finally { process.kill(process.pid, 'SIGKILL'); } }, m.ms);
});`;

let watchdog: WorkerThreads.Worker | undefined;

/** fn(), or the process ended with one line if the addon has not returned within ADDON_TIMEOUT_MS. */
function bounded<T>(action: string, fn: () => T): T {
  // The kernel keyring and the macOS and Windows stores never wait on another process's
  // whim (macOS may wait on a person at its own access prompt, which must not be cut short).
  if (storeName() !== 'secret-service') return fn();
  if (!watchdog) {
    const { Worker } = nodeRequire()('node:worker_threads') as typeof WorkerThreads;
    watchdog = new Worker(WATCHDOG, { eval: true, stdout: false, stderr: false });
    watchdog.unref();
  }
  const line = `keyrole: the Secret Service did not answer within ${ADDON_TIMEOUT_MS / 1000} s, so keyrole cannot ${printable(action)}; `
    + 'check that gnome-keyring (or your Secret Service) is running and responsive and that no unlock prompt is waiting, and that DBUS_SESSION_BUS_ADDRESS points at your own session bus';
  watchdog.postMessage({ line, ms: ADDON_TIMEOUT_MS });
  try {
    return fn();
  } finally {
    watchdog.postMessage({});
  }
}

function entry(service: string, account: string): EntryType {
  try {
    return new (loadKeyring().Entry)(service, account, entryOptions());
  } catch (err) {
    if (err instanceof KeyroleError) throw err;
    throw keychainError(err, `open ${service}/${account}`);
  }
}

/**
 * Reads an item. The Secret Service answers "not found" for items of a locked collection,
 * so a miss is double-checked with a search, which does report the lock (unless the
 * caller can treat a miss as a miss, as the cache does: the source read that follows it
 * reports the lock, and the check costs a second D-Bus session).
 */
// ---- what a value takes in each store ----

/**
 * Windows' Credential Manager holds at most 2,560 bytes per generic credential
 * (CRED_MAX_CREDENTIAL_BLOB_SIZE). The addon's setPassword stores UTF-16, two bytes per
 * character, which leaves 1,280 characters: a cache entry with a regional AssumeRole token
 * (750–770 characters) and a long role ARN does not fit, nor does an IAM Identity Center
 * record. keyrole's values are JSON, almost all ASCII, so on Windows they are stored as
 * UTF-8 bytes (setSecret/getSecret), which doubles what fits. No earlier keyrole ran on
 * Windows (its permission checks failed first), so no UTF-16 entries exist to be read.
 * The other stores take far more (the kernel keyring 32 KB per key; the Secret Service
 * and the macOS Keychain have no practical limit).
 */
export const CREDENTIAL_MANAGER_MAX_BYTES = 2560;

/** The bytes `value` takes in a store as keyrole writes it (UTF-8 everywhere, Windows included). */
export function storedBytes(value: string): number {
  return Buffer.byteLength(value, 'utf8');
}

/** Why the platform's store cannot hold `value`, or undefined if it can. */
export function valueProblem(value: string, platform: NodeJS.Platform): string | undefined {
  const n = storedBytes(value);
  if (platform === 'win32' && n > CREDENTIAL_MANAGER_MAX_BYTES) return `${n} bytes, over Credential Manager's ${CREDENTIAL_MANAGER_MAX_BYTES}`;
  return undefined;
}

type ValueEntry = Pick<EntryType, 'getPassword' | 'setPassword' | 'getSecret' | 'setSecret'>;

export function writeValue(e: ValueEntry, value: string, platform: NodeJS.Platform): void {
  if (platform === 'win32') e.setSecret(Buffer.from(value, 'utf8'));
  else e.setPassword(value);
}

export function readValue(e: ValueEntry, platform: NodeJS.Platform): string | null {
  if (platform !== 'win32') return e.getPassword();
  const bytes = e.getSecret();
  return bytes === null ? null : Buffer.from(bytes).toString('utf8');
}

/** The file store's key for a read or delete; undefined where no store exists yet (nothing in it). */
function fileIdentity(action: string): AgeIdentity | undefined {
  return unlockedIdentity() ?? (storeExists() ? requireIdentity(action) : undefined);
}

export function getItem(service: string, account: string, action: string, checkLocked = true): string | null {
  let value: string | null;
  try {
    const store = storeName();
    const id = store === 'file' ? fileIdentity(action) : undefined;
    value = store === 'file' ? (id ? fileGet(id, service, account) : null)
      : store === 'keyutils' ? keyutilsGet(service, account) : bounded(action, () => readValue(entry(service, account), process.platform));
  } catch (err) {
    if (err instanceof KeyroleError) throw err;
    throw keychainError(err, action);
  }
  if (value === null && checkLocked && storeName() === 'secret-service') {
    try {
      bounded(action, () => loadKeyring().findCredentials(service));
    } catch (err) {
      throw keychainError(err, action);
    }
  }
  return value;
}

export function setItem(service: string, account: string, value: string, action: string): void {
  try {
    const problem = valueProblem(value, process.platform);
    if (problem) throw new KeyroleError('KeychainValueTooLarge', `${describeStore()} cannot hold what keyrole tried to store to ${action}: ${problem}`, 'use the file store for the cache (KEYROLE_CACHE=file); report this to keyrole with the size');
    if (storeName() === 'file') fileSet(requireIdentity(action), service, account, value);
    else if (storeName() === 'keyutils') sealedSet(service, account, value);
    else bounded(action, () => writeValue(entry(service, account), value, process.platform));
  } catch (err) {
    if (err instanceof KeyroleError) throw err;
    throw keychainError(err, action);
  }
}

export function deleteItem(service: string, account: string, action: string): boolean {
  try {
    if (storeName() === 'file') {
      const id = fileIdentity(action);
      return id ? fileDelete(id, service, account) : false;
    }
    return storeName() === 'keyutils' ? sealedDelete(service, account) : bounded(action, () => entry(service, account).deleteCredential());
  } catch (err) {
    if (err instanceof KeyroleError) throw err;
    throw keychainError(err, action);
  }
}

// ---- the kernel keyring as the cache's fast tier (Linux, with the Secret Service store) ----
// A keychain cache hit through the Secret Service costs node:net and its streams (~8 ms of
// CPU: src/keychain/dbus.ts) plus the round trips; the same read from the kernel keyring
// costs loading the addon (~0.6 ms), two system calls (~0.1 ms) and opening the sealed
// value (src/keychain/seal.ts). So a cache entry keyrole can renew by itself is also copied
// to the kernel keyring, and reads look there first. The Secret Service stays the store of
// record and holds every entry: where the kernel refuses the copy (a session keyring the
// process may not write to, the per-user quota) or does not give it back, or the copy does
// not open under this home's key, the read falls through to the Secret Service and nothing
// is lost but time. Entries only a person can renew (MFA sessions), source keys and SSO
// sign-ins are never copied. The copies are sealed and named under this keyrole home's key
// (src/keychain/kernel.ts): no other user can read or forge them, and another home of the
// same user neither reads nor lists them. KEYROLE_KERNEL_CACHE=off turns the copies off.

/** Whether the kernel keyring may hold copies of cache entries: Linux with the Secret Service store. */
export function kernelCopiesPossible(): boolean {
  return process.platform === 'linux' && storeName() === 'secret-service';
}

/** Whether copies are made and read now: possible, and not turned off. */
export function kernelTier(): boolean {
  return kernelCopiesPossible() && !/^(off|0|false|no)$/i.test((process.env.KEYROLE_KERNEL_CACHE ?? '').trim());
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

// ---- KEYROLE_KEYCHAIN=keyutils: the kernel keyring as the whole keychain ----

/** Names an earlier keyrole stored values under, unsealed: the account itself (anything but a sealed name). */
const legacyKeyutilsName = (name: string) => !/^[0-9a-f]{40}$/.test(name);

/** A keyutils read; an unsealed value an earlier keyrole stored is sealed anew on the way. */
function keyutilsGet(service: string, account: string): string | null {
  const v = sealedGet(service, account);
  if (v !== null) return v;
  const legacy = legacyGet(service, account);
  if (legacy === null) return null;
  sealedSet(service, account, legacy);
  legacyDelete(service, account);
  debug(`kernel keyring: sealed ${service}/${printable(account)}, stored unsealed by an earlier keyrole`);
  return legacy;
}

function keyutilsAccounts(service: string, action: string): string[] {
  const l = kernelListing(service, action, legacyKeyutilsName);
  return [...new Set([...l.entries.map((e) => e.account), ...l.legacy])].sort();
}

export function listAccounts(service: string, action: string): string[] {
  if (storeName() === 'keyutils') return keyutilsAccounts(service, action);
  if (storeName() === 'file') {
    const id = fileIdentity(action);
    return id ? fileAccounts(id, service) : [];
  }
  try {
    return bounded(action, () => loadKeyring().findCredentials(service)).map((c) => c.account).sort();
  } catch (err) {
    throw keychainError(err, action);
  }
}

// ---- the hot path: the cache entry and, on a miss, the source ----
// These go to the Secret Service directly over D-Bus (src/keychain/secretservice.ts): one
// connection and one "plain" session per process, where the addon opens a new connection
// and a new Diffie-Hellman session for every call: ~10 ms of modular exponentiation on both
// ends of the bus, most of a keychain cache hit and of a miss's write. Whatever the direct
// client cannot answer for certain (no unix socket, a locked collection, two matching
// items) goes to the addon, which reports it as it always has; a silent or broken bus
// fails at once instead (secretservice.ts).

function direct<T>(action: string, fast: () => Promise<T>, slow: () => T): Promise<T> {
  return fast().catch((err: unknown) => {
    if (!(err instanceof SecretServiceDeferred)) throw err;
    debug(`Secret Service over D-Bus could not ${action} (${oneLine(err.message)}); asking through the keychain addon`);
    return slow();
  });
}

export async function getItemFast(service: string, account: string, action: string, checkLocked = true): Promise<string | null> {
  const slow = () => getItem(service, account, action, checkLocked);
  if (storeName() !== 'secret-service') return slow();
  return direct(action, () => readSecret(service, account), slow);
}

export async function setItemFast(service: string, account: string, value: string, action: string): Promise<void> {
  const slow = () => setItem(service, account, value, action);
  if (storeName() !== 'secret-service') return slow();
  return direct(action, () => writeSecret(service, account, value), slow);
}

// ---- sources: a profile's long-term IAM user keys ----

export interface SourceKeys {
  accessKeyId: string;
  secretAccessKey: string;
  storedAt?: string;
}

const ACCESS_KEY_ID = /^AKIA[A-Z0-9]{16}$/;
const SECRET_ACCESS_KEY = /^[A-Za-z0-9/+]{40}$/;

/** Why a pair is not a long-term IAM user key, or undefined when it looks like one. */
export function keyShapeProblem(accessKeyId: string, secretAccessKey: string): string | undefined {
  if (/^ASIA/.test(accessKeyId)) return 'the access key id starts with ASIA, so it is a temporary key; keyrole stores long-term IAM user keys (AKIA…)';
  if (!ACCESS_KEY_ID.test(accessKeyId)) return 'the access key id is not AKIA followed by 16 capital letters or digits';
  if (!SECRET_ACCESS_KEY.test(secretAccessKey)) return 'the secret access key is not 40 characters of letters, digits, / and +';
  return undefined;
}

export function encodeSource(keys: SourceKeys): string {
  return JSON.stringify({ keyrole: 1, kind: 'source', AccessKeyId: keys.accessKeyId, SecretAccessKey: keys.secretAccessKey, StoredAt: keys.storedAt });
}

/** Parses a stored source; undefined when the entry is not something keyrole wrote. */
export function decodeSource(raw: string): SourceKeys | undefined {
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    if (v.keyrole !== 1 || v.kind !== 'source') return undefined;
    const id = v.AccessKeyId;
    const secret = v.SecretAccessKey;
    if (typeof id !== 'string' || typeof secret !== 'string' || keyShapeProblem(id, secret)) return undefined;
    return { accessKeyId: id, secretAccessKey: secret, storedAt: typeof v.StoredAt === 'string' ? v.StoredAt : undefined };
  } catch {
    return undefined;
  }
}

export function readSource(name: string): SourceKeys {
  return sourceFrom(name, getItem(SOURCE_SERVICE, name, `read source "${name}"`));
}

/** readSource on the hot path (a cache miss). */
export async function loadSource(name: string): Promise<SourceKeys> {
  return sourceFrom(name, await getItemFast(SOURCE_SERVICE, name, `read source "${name}"`));
}

function sourceFrom(name: string, raw: string | null): SourceKeys {
  if (raw === null) {
    throw new KeyroleError('SourceNotFound', `source "${name}" is not in ${describeStore()}`, `store its keys with: keyrole setup ${name}`);
  }
  const keys = decodeSource(raw);
  if (!keys && /"keyrole"\s*:\s*([2-9]|\d{2,})/.test(raw)) {
    throw new KeyroleError('SourceFromNewerKeyrole', `the keychain entry for source "${name}" was written by a newer keyrole`, 'upgrade keyrole, or store the keys again with keyrole setup --force');
  }
  if (!keys) {
    throw new KeyroleError('SourceCorrupt', `the keychain entry for source "${name}" is not in keyrole's format (edited by hand or written by another tool)`, `store the keys again with: keyrole setup ${name} --force`);
  }
  return keys;
}

export function sourceExists(name: string): boolean {
  return getItem(SOURCE_SERVICE, name, `read source "${name}"`) !== null;
}

export function writeSource(name: string, keys: SourceKeys): void {
  setItem(SOURCE_SERVICE, name, encodeSource(keys), `store source "${name}"`);
}

export function removeSource(name: string): boolean {
  return deleteItem(SOURCE_SERVICE, name, `remove source "${name}"`);
}

export function listSources(): string[] {
  return listAccounts(SOURCE_SERVICE, 'list sources');
}
