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
// (addon()) ends the process with one line when one has not returned within
// ADDON_TIMEOUT_MS. Regression: a bus that authenticated and then said nothing hung
// keyrole for over 100 s inside the addon.
//
// A process that serves for days (`serve`, `exec --server`: longLived()) must not be ended
// by that watchdog: an unlock prompt nobody answers, or a daemon stopped for a while, would
// take the endpoint down and leave exec's program without credentials. There each addon call
// runs in a short-lived keyrole child (`keyrole __keychain-call`, the same code under its own
// watchdog), whose end, or whose kill, fails that one request with the watchdog's line. A
// child, not a worker thread: a thread stuck in the addon can be neither stopped nor joined,
// and Node joins its threads on exit. The call's parameters and a value to store go over
// the child's stdin, never its argv. It costs a process start (~50 ms) on the addon's paths
// only: the hot path's reads and writes are the direct client's.

import { KeyroleError, isErrorCode, oneLine } from '../util/errors.ts';
import { selfArgv } from '../util/self.ts';
import { loadKeyring } from './native.ts';
import { debug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { duplicateItemsFix, unlockKeychainFix } from '../util/platform.ts';
import { nodeRequire } from '../util/require.ts';
import { switchedOff } from '../util/switch.ts';
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

/**
 * What a person storing long-term keys must know about the chosen store, or undefined: the
 * kernel keyring (KEYROLE_KEYCHAIN=keyutils) lives in memory, so a reboot forgets the keys.
 */
export function volatileStoreNotice(): string | undefined {
  if (storeName() !== 'keyutils') return undefined;
  return 'KEYROLE_KEYCHAIN=keyutils keeps long-term keys in the kernel keyring, in memory only: they are gone at reboot, so keep a way to run keyrole setup again (or use the Secret Service)';
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

/** One call of the addon, by name: what a child can be asked to make (addon(), longLived()). */
export type AddonOp =
  | { op: 'get'; service: string; account: string }
  | { op: 'set'; service: string; account: string; value: string }
  | { op: 'delete'; service: string; account: string }
  | { op: 'find'; service: string };

function runOp(o: AddonOp): string | null | boolean | string[] {
  switch (o.op) {
    case 'get': return readValue(entry(o.service, o.account), process.platform);
    case 'set': writeValue(entry(o.service, o.account), o.value, process.platform); return null;
    case 'delete': return entry(o.service, o.account).deleteCredential();
    case 'find':
      // Credential Manager's filter is a prefix and one trailing '*' (windowsFilter).
      if (process.platform === 'win32') return windowsAccounts(o.service, loadKeyring().findCredentials(o.service, windowsFilter(o.service)).map((c) => c.account));
      return loadKeyring().findCredentials(o.service).map((c) => c.account);
  }
}

let serving = false;
/** This process serves for days (`serve`, `exec --server`): the addon's calls are made in a child, so that a hang fails a request and not the process. */
export function longLived(): void {
  serving = true;
}

/** The op's result, or the process ended with one line if the addon has not returned within ADDON_TIMEOUT_MS. */
function addon<T extends ReturnType<typeof runOp>>(action: string, o: AddonOp): T {
  // The kernel keyring and the macOS and Windows stores never wait on another process's
  // whim (macOS may wait on a person at its own access prompt, which must not be cut short).
  if (storeName() !== 'secret-service') return runOp(o) as T;
  if (serving) return inChild(action, o) as T;
  if (!watchdog) {
    const { Worker } = nodeRequire()('node:worker_threads') as typeof WorkerThreads;
    watchdog = new Worker(WATCHDOG, { eval: true, stdout: false, stderr: false });
    watchdog.unref();
  }
  watchdog.postMessage({ line: timeoutLine(action), ms: ADDON_TIMEOUT_MS });
  try {
    return runOp(o) as T;
  } finally {
    watchdog.postMessage({});
  }
}

const TIMEOUT_FIX = 'check that gnome-keyring (or your Secret Service) is running and responsive and that no unlock prompt is waiting, and that DBUS_SESSION_BUS_ADDRESS points at your own session bus';
const timeoutMessage = (action: string) => `the Secret Service did not answer within ${ADDON_TIMEOUT_MS / 1000} s, so keyrole cannot ${printable(action)}`;
const timeoutLine = (action: string) => `keyrole: ${timeoutMessage(action)}; ${TIMEOUT_FIX}`;

/** The name of the child's command (src/cli.ts): not a command a person runs. */
export const KEYCHAIN_CALL = '__keychain-call';

/** Makes the call in a keyrole child and waits for it (see the module comment). */
function inChild(action: string, o: AddonOp): ReturnType<typeof runOp> {
  const { spawnSync } = nodeRequire()('node:child_process') as typeof import('node:child_process');
  const [file, ...args] = selfArgv();
  const r = spawnSync(file, [...args, KEYCHAIN_CALL], {
    input: JSON.stringify({ action, op: o }),
    // Its own watchdog ends it first; this bound is for a child that cannot even start.
    timeout: ADDON_TIMEOUT_MS + 30_000,
    killSignal: 'SIGKILL',
    maxBuffer: 4 * 1024 * 1024,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let answer: { ok?: ReturnType<typeof runOp>; error?: string; keyrole?: { code: string; message: string; fix?: string } } | undefined;
  try { answer = r.status === 0 ? JSON.parse(r.stdout) as typeof answer : undefined; } catch { /* below */ }
  if (answer && 'ok' in answer) return answer.ok!;
  if (answer?.keyrole && isErrorCode(answer.keyrole.code)) throw new KeyroleError(answer.keyrole.code, answer.keyrole.message, answer.keyrole.fix);
  if (answer?.error !== undefined) throw new Error(answer.error);
  debug(`keychain child for ${action}: ${r.signal ?? `exit ${r.status}`} ${oneLine(printable(r.stderr ?? '')).slice(0, 300)}`);
  throw new KeyroleError('KeychainTimeout', timeoutMessage(action), TIMEOUT_FIX);
}

/** `keyrole __keychain-call`: one addon call read from stdin, its result as JSON on stdout. */
export async function keychainCallMain(): Promise<void> {
  const { readFileSync: read } = nodeRequire()('node:fs') as typeof import('node:fs');
  const { action, op } = JSON.parse(read(0, 'utf8')) as { action: string; op: AddonOp };
  let out: object;
  try {
    out = { ok: addon(action, op) };
  } catch (err) {
    out = err instanceof KeyroleError ? { keyrole: { code: err.code, message: err.message, fix: err.fix } } : { error: String((err as Error)?.message ?? err) };
  }
  process.stdout.write(JSON.stringify(out));
}

function entry(service: string, account: string): EntryType {
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
      : store === 'keyutils' ? keyutilsGet(service, account) : addon<string | null>(action, { op: 'get', service, account });
  } catch (err) {
    if (err instanceof KeyroleError) throw err;
    throw keychainError(err, action);
  }
  if (value === null && checkLocked && storeName() === 'secret-service') {
    try {
      addon(action, { op: 'find', service });
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
    else addon(action, { op: 'set', service, account, value });
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
    return storeName() === 'keyutils' ? sealedDelete(service, account) : addon<boolean>(action, { op: 'delete', service, account });
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
    return addon<string[]>(action, { op: 'find', service }).sort();
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
