// The OS keychain, through @napi-rs/keyring. On Linux the store is pinned to the Secret
// Service: the addon's default would otherwise fall back to the kernel keyring without a
// word when no D-Bus session exists, and the user's keys would land in a store that is
// gone at reboot. The kernel keyring is available as an explicit choice
// (KEYROLE_KEYCHAIN=keyutils) for headless machines, and serves the Secret Service store as
// the fast tier for short-lived cache entries (kernelTier, below).
//
// Every call is bounded in time. The hot path's Secret Service calls go through keyrole's
// own client (src/keychain/secretservice.ts: 5 s per call). The addon's calls are
// synchronous and cannot be interrupted, so on the Secret Service store a watchdog thread
// (bounded()) ends the process with one line when one has not returned within
// ADDON_TIMEOUT_MS. Regression: a bus that authenticated and then said nothing hung
// keyrole for over 100 s inside the addon.

import { readFileSync } from 'node:fs';
import { KeyroleError, oneLine } from '../util/errors.ts';
import { loadKeyring } from './native.ts';
import { debug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { duplicateItemsFix, unlockKeychainFix } from '../util/platform.ts';
import { nodeRequire } from '../util/require.ts';
import { readSecret, SecretServiceDeferred, writeSecret } from './secretservice.ts';
import type { Entry as EntryType, EntryOptions } from '@napi-rs/keyring';
import type * as WorkerThreads from 'node:worker_threads';

export const SOURCE_SERVICE = 'keyrole:source';

export type StoreName = 'secret-service' | 'keyutils' | 'native';

export function storeName(): StoreName {
  if (process.platform !== 'linux') return 'native';
  const choice = (process.env.KEYROLE_KEYCHAIN || 'secret-service').trim();
  if (choice === 'secret-service' || choice === 'keyutils') return choice;
  throw new KeyroleError('BadKeychainChoice', `KEYROLE_KEYCHAIN=${choice} is not a keychain keyrole knows`, 'use secret-service (the default) or keyutils');
}

function entryOptions(): EntryOptions {
  const store = storeName();
  return store === 'native' ? {} : { linux: { store } };
}

function describeStore(): string {
  switch (storeName()) {
    case 'secret-service': return 'the Secret Service keychain';
    case 'keyutils': return 'the kernel keyring (keyutils)';
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
  const ambiguous = /matched by (\d+) credentials/i.exec(msg);
  if (ambiguous) {
    return new KeyroleError('KeychainAmbiguous', `${describeStore()} holds ${ambiguous[1]} entries where keyrole expects one, so it cannot ${action} (another tool stored one under the same name)`,
      duplicateItemsFix(process.platform));
  }
  if (/DBUS_SESSION_BUS_ADDRESS|autolaunch|ServiceUnknown|org\.freedesktop\.secrets|was not provided by any \.service|Connection refused|No such file or directory/i.test(msg)) {
    const why = process.env.DBUS_SESSION_BUS_ADDRESS ? 'no Secret Service answers on this D-Bus session' : 'there is no D-Bus session (DBUS_SESSION_BUS_ADDRESS is unset)';
    return new KeyroleError('NoSecretService', `no Secret Service is running: ${why}, so keyrole cannot ${action}`,
      'start gnome-keyring (or KeePassXC\'s Secret Service) in this session, or set KEYROLE_KEYCHAIN=keyutils to use the kernel keyring');
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
  if (storeName() === 'keyutils') primeKeyutils();
  try {
    return new (loadKeyring().Entry)(service, process.platform === 'win32' ? windowsUserName(service, account) : account, entryOptions());
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
  const n = platform === 'win32' ? windowsBlob(value).length : storedBytes(value);
  if (platform === 'win32' && n > CREDENTIAL_MANAGER_MAX_BYTES) return `${n} bytes, over Credential Manager's ${CREDENTIAL_MANAGER_MAX_BYTES}`;
  return undefined;
}

type ValueEntry = Pick<EntryType, 'getPassword' | 'setPassword' | 'getSecret' | 'setSecret'>;

// ---- Credential Manager: names and listing ----
// CredEnumerateW's filter is a name prefix followed by one trailing `*` (documented so, and
// Wine matches it). The addon names a credential `<account>.<service>` and lists a service
// with the filter `*.<service>`, which matches nothing: list, cache list, cache clear and
// doctor saw nothing stored (found by the Windows lane, test/windows.e2e.test.ts). So on
// Windows keyrole gives the addon `<service>/<account>` as the user name, which makes the
// target `<service>/<account>.<service>`, and lists `<service>/*`. (The addon's withTarget
// would name the target directly, but on Windows it creates an empty credential for every
// entry it opens, reads included.)
// The addon's listing also decodes every blob it finds as UTF-16 and fails the whole call
// on one it cannot (an odd length, a lone surrogate), so keyrole's blobs are written so
// that they always decode: ASCII (keyrole's values are all JSON, where a non-ASCII
// character can be written as a \u escape with the same meaning) padded with a space to an
// even length, which JSON ignores. Still UTF-8 bytes, so still half the size of UTF-16.

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

export function getItem(service: string, account: string, action: string, checkLocked = true): string | null {
  let value: string | null;
  try {
    value = bounded(action, () => readValue(entry(service, account), process.platform));
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
    bounded(action, () => writeValue(entry(service, account), value, process.platform));
  } catch (err) {
    if (err instanceof KeyroleError) throw err;
    throw keychainError(err, action);
  }
}

export function deleteItem(service: string, account: string, action: string): boolean {
  try {
    return bounded(action, () => entry(service, account).deleteCredential());
  } catch (err) {
    if (err instanceof KeyroleError) throw err;
    throw keychainError(err, action);
  }
}

/**
 * The accounts of `service` in the kernel keyring. The addon's search (findCredentials)
 * asks the Secret Service whatever the store, so keyrole reads /proc/keys, the kernel's own
 * list of the keys this process may view (`keyring:<account>@<service>` is how the addon
 * names them), and keeps those the keyring actually gives to this session: /proc/keys also
 * shows keys of this user's other sessions that cannot be read from here.
 */
function keyutilsAccounts(service: string, action: string, open: (account: string) => EntryType = (account) => entry(service, account)): string[] {
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
  return [...found].filter((account) => {
    try { return open(account).getPassword() !== null; } catch { return false; }
  }).sort();
}

// ---- the kernel keyring as the cache's fast tier (Linux, with the Secret Service store) ----
// A keychain cache hit through the Secret Service costs node:net and its streams (~8 ms of
// CPU: src/keychain/dbus.ts) plus the round trips; the same read from the kernel keyring
// costs loading the addon (~0.6 ms) and two system calls (~0.1 ms). So a cache entry
// keyrole can renew by itself is also copied to the kernel keyring, and reads look there
// first. The Secret Service stays the store of record and holds every entry: where the
// kernel refuses the copy (a session keyring the process may not write to, the 20,000-byte
// per-user quota) or does not give it back, the read falls through to the Secret Service
// and nothing is lost but time. Entries only a person can renew (MFA sessions),
// source keys and SSO sign-ins are never copied. The addon adds each key to the session
// keyring and links it into the user's persistent keyring, which it links into every later
// session of the user: the copies are shared by the user's sessions, readable by no other
// user (possessor permissions), never written to disk, and gone at reboot or after three
// days unused (persistent_keyring_expiry). KEYROLE_KERNEL_CACHE=off turns the copies off.

/** Whether the kernel keyring may hold copies of cache entries: Linux with the Secret Service store. */
export function kernelCopiesPossible(): boolean {
  return process.platform === 'linux' && storeName() === 'secret-service';
}

/** Whether copies are made and read now: possible, and not turned off. */
export function kernelTier(): boolean {
  return kernelCopiesPossible() && !/^(off|0|false|no)$/i.test((process.env.KEYROLE_KERNEL_CACHE ?? '').trim());
}

function kernelEntry(service: string, account: string): EntryType {
  primeKeyutils();
  return new (loadKeyring().Entry)(service, account, { linux: { store: 'keyutils' } });
}

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
function primeKeyutils(): void {
  if (primed) return;
  primed = true;
  try {
    new (loadKeyring().Entry)('keyrole:prime', 'session', { linux: { store: 'keyutils' } });
  } catch { /* the real entry reports it */ }
}

/** The value in the kernel keyring, or null (none, or a keyring this process may not use). */
export function kernelGet(service: string, account: string): string | null {
  try {
    return kernelEntry(service, account).getPassword();
  } catch (err) {
    debug(`kernel keyring: cannot read ${service}/${account} (${oneLine(printable(String((err as Error)?.message ?? err)))})`);
    return null;
  }
}

/** Copies to the kernel keyring; false when the kernel refused. */
export function kernelSet(service: string, account: string, value: string): boolean {
  try {
    kernelEntry(service, account).setPassword(value);
    return true;
  } catch (err) {
    debug(`kernel keyring: cannot store ${service}/${account} (${oneLine(printable(String((err as Error)?.message ?? err)))}); only the Secret Service keeps it`);
    return false;
  }
}

export function kernelDelete(service: string, account: string): boolean {
  try {
    return kernelEntry(service, account).deleteCredential();
  } catch {
    return false;
  }
}

/** The accounts of `service` this session can read from the kernel keyring; none where it cannot be listed. */
export function kernelAccounts(service: string): string[] {
  try {
    return keyutilsAccounts(service, 'list the kernel keyring', (account) => kernelEntry(service, account));
  } catch {
    return [];
  }
}

export function listAccounts(service: string, action: string): string[] {
  if (storeName() === 'keyutils') return keyutilsAccounts(service, action);
  try {
    if (process.platform === 'win32') {
      return windowsAccounts(service, bounded(action, () => loadKeyring().findCredentials(service, windowsFilter(service))).map((c) => c.account)).sort();
    }
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
