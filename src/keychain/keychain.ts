// The keychain: getItem, setItem, deleteItem and listAccounts, each sent to the store
// src/keychain/selection.ts names (the Secret Service through the addon or keyrole's own
// D-Bus client, the kernel keyring, keyrole's file store, the macOS Keychain or Windows
// Credential Manager), with every failure turned into one line (src/keychain/failure.ts).
// The rest of keyrole reads and writes keys only through here; what is a source is
// src/keychain/sources.ts, the cache's kernel copies src/keychain/tier.ts.
//
// The hot path: the cache entry and, on a miss, the source (getItemFast, setItemFast). These
// go to the Secret Service directly over D-Bus (src/keychain/secretservice.ts): one
// connection and one "plain" session per process, where the addon opens a new connection
// and a new Diffie-Hellman session for every call: ~10 ms of modular exponentiation on both
// ends of the bus, most of a keychain cache hit and of a miss's write. Whatever the direct
// client cannot answer for certain (no unix socket, a locked collection, two matching
// items) goes to the addon, which reports it as it always has; a silent or broken bus
// fails at once instead (secretservice.ts). A bus on which nobody owns the Secret Service's
// name is where keyrole may use its file store by itself (src/keychain/selection.ts).

import { KeyroleError, oneLine } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { NoSecretServiceOnBus, readSecret, SecretServiceDeferred, writeSecret } from './secretservice.ts';
import { sealedDelete, sealedSet } from './kernel.ts';
import { fileAccounts, fileDelete, fileGet, fileSet, storeExists } from './filestore.ts';
import { prepareFileStore, requireIdentity, unlockedIdentity } from './unlocked.ts';
import { addon } from './addon.ts';
import { keychainError } from './failure.ts';
import { valueProblem } from './credman.ts';
import { keyutilsAccounts, keyutilsGet } from './keyutils.ts';
import { chooseFileStore, describeStore, mayChooseFileStore, storeName } from './selection.ts';
import type { AgeIdentity } from './agefile.ts';

/** The file store's key for a read or delete; undefined where no store exists yet (nothing in it). */
function fileIdentity(action: string): AgeIdentity | undefined {
  return unlockedIdentity() ?? (storeExists() ? requireIdentity(action) : undefined);
}

/**
 * Reads an item. The Secret Service answers "not found" for items of a locked collection,
 * so a miss is double-checked with a search, which does report the lock (unless the
 * caller can treat a miss as a miss, as the cache does: the source read that follows it
 * reports the lock, and the check costs a second D-Bus session).
 */
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

function direct<T>(action: string, fast: () => Promise<T>, slow: () => T): Promise<T> {
  return fast().catch(async (err: unknown) => {
    if (err instanceof NoSecretServiceOnBus && mayChooseFileStore()) {
      // The first Secret Service call of a command that starts with the cache (a kernel-copy
      // hit never gets here): keyrole uses its file store from here on (selection.ts), this
      // call included, unlocked as prepare.ts would have before the command.
      chooseFileStore('no-secret-service');
      await prepareFileStore({ create: false });
      return slow();
    }
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
