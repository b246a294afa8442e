// The file store's unlocked key (src/keychain/filestore.ts): one passphrase per login
// session, not per call.
//
// - In this process, the identity is kept in memory once unlocked: `serve` and
//   `exec --server` unlock once and serve for their whole life.
// - For the later calls of the session, the identity (never the passphrase) is kept in the
//   kernel keyring with the time it is good until (KEYROLE_UNLOCK_TIMEOUT, default 8 h;
//   0 keeps nothing), sealed and named under this keyrole home's key like the cache's
//   kernel copies (src/keychain/kernel.ts, src/keychain/seal.ts): another user who shares
//   the session keyring reads only sealed bytes, another home of the same user nothing.
//   The kernel keyring is never written to disk and is gone at reboot.
// - Otherwise the passphrase (src/keychain/passphrase.ts) opens store.key.age with the
//   age-encryption package (scrypt, work factor 18): asynchronous and ~1 s, so it runs
//   once, before the command (prepareFileStore, called by src/cli.ts), and the store's
//   synchronous reads and writes find the key here.

import { writeAtomic } from '../util/atomic.ts';
import { debug } from '../util/debug.ts';
import { KeyroleError } from '../util/errors.ts';
import { privateDir } from '../util/home.ts';
import { join } from 'node:path';
import { decodeIdentity, derivedKeys, encodeIdentity, identityFromSecret, randomBytes, recipientOf, type AgeIdentity } from './agefile.ts';
import { KEY_FILE, RECIPIENT_FILE, keyFilePath, readStoreFile, storeDir, storeExists, storeRecipient } from './filestore.ts';
import { sealedDelete, sealedGet, sealedSet } from './kernel.ts';

export const SCRYPT_WORK_FACTOR = 18;
const SESSION_SERVICE = 'keyrole:filestore';
const DEFAULT_TIMEOUT_MS = 8 * 3600_000;

let current: AgeIdentity | undefined;

// A command that may never need the store (`keyrole process` on a profile whose cache is a
// file: a hit reads no keychain) leaves its unlocking until the first read or write
// (src/keychain/prepare.ts): a hit then neither asks for a passphrase nor fetches the
// session's key. Once started, every caller waits for the same unlocking (one prompt).
let deferred: (() => Promise<void>) | undefined;
let unlocking: Promise<void> | undefined;

/** Leaves the store's unlocking to unlockDeferred(). */
export function deferUnlock(unlock: () => Promise<void>): void {
  deferred = unlock;
}

/** Unlocks the store now if a command left it for later; at once otherwise. */
export function unlockDeferred(): Promise<void> {
  if (deferred) {
    unlocking = deferred();
    deferred = undefined;
  }
  return unlocking ?? Promise.resolve();
}

/** KEYROLE_UNLOCK_TIMEOUT: seconds, or a number with s, m, h or d; 0 keeps the key in no session. */
export function unlockTimeoutMs(raw = process.env.KEYROLE_UNLOCK_TIMEOUT): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_TIMEOUT_MS;
  const m = /^(\d{1,7})\s*(s|m|h|d)?$/.exec(raw.trim());
  if (!m) throw new KeyroleError('BadUnlockTimeout', `KEYROLE_UNLOCK_TIMEOUT=${JSON.stringify(raw).slice(0, 40)} is not a duration`, 'use seconds or a number with s, m, h or d (8h, 30m); 0 asks in every process');
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

/** The kernel keyring's account of the session key: one per store (its recipient). */
const sessionAccount = (recipient: string) => `unlocked:${recipient}`;

/**
 * The kept copy: the identity, until when, and its two derived keys (base64), which spare
 * every hit two HKDFs (src/keychain/agefile.ts identityFromSecret); a copy without them (an
 * earlier keyrole's) is derived anew.
 */
interface SessionCopy { identity: string; until: number; derived?: string }

/** The session's kept key and until when, or undefined (none, expired, another store's). */
export function sessionKey(): { id: AgeIdentity; until: number } | undefined {
  const recipient = storeRecipient();
  if (!recipient) return undefined;
  let raw: string | null;
  try {
    raw = sealedGet(SESSION_SERVICE, sessionAccount(recipient));
  } catch (err) {
    debug(`file store: the kernel keyring cannot be read (${(err as Error).message}); asking for the passphrase`);
    return undefined;
  }
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as SessionCopy;
    const secret = decodeIdentity(v.identity);
    if (!secret || !(v.until > Date.now())) {
      // The kernel keeps a key until it is removed: an expired one goes now, not at reboot.
      try { sealedDelete(SESSION_SERVICE, sessionAccount(recipient)); } catch { /* asked again anyway */ }
      return undefined;
    }
    return { id: identityFromSecret(secret, typeof v.derived === 'string' ? Buffer.from(v.derived, 'base64') : undefined), until: v.until };
  } catch {
    return undefined;
  }
}

/** Keeps the unlocked key for the session's later calls (also the build's code-cache run: scripts/main-code-cache.ts). */
export function keepForSession(id: AgeIdentity, recipient: string): void {
  const ms = unlockTimeoutMs();
  if (ms === 0) return;
  try {
    const copy: SessionCopy = { identity: encodeIdentity(id.secret), until: Date.now() + ms, derived: Buffer.from(derivedKeys(id)).toString('base64') };
    sealedSet(SESSION_SERVICE, sessionAccount(recipient), JSON.stringify(copy));
  } catch (err) {
    debug(`file store: the kernel keyring refused the unlocked key (${(err as Error).message}); later calls ask again`);
  }
}

/** Forgets the session's kept key (keyrole store lock). */
export function lockSession(): boolean {
  current = undefined;
  const recipient = storeRecipient();
  return recipient ? sealedDelete(SESSION_SERVICE, sessionAccount(recipient)) : false;
}

/** The unlocked identity: this process's, else the session's. */
export function unlockedIdentity(): AgeIdentity | undefined {
  if (current) return current;
  const s = sessionKey();
  if (s) current = s.id;
  return current;
}

/** The identity for a read or write of the store; the store was prepared before the command. */
export function requireIdentity(action: string): AgeIdentity {
  const id = unlockedIdentity();
  if (id) return id;
  if (!storeExists()) throw new KeyroleError('FileStoreMissing', `keyrole's file store has no passphrase yet, so keyrole cannot ${action}`, 'create it with keyrole setup <source> at a terminal (or with KEYROLE_PASSPHRASE_FILE set)');
  throw new KeyroleError('FileStoreLocked', `keyrole's file store is locked, so keyrole cannot ${action}`, 'run the command at a terminal, or set KEYROLE_PASSPHRASE_FILE or KEYROLE_PASSPHRASE_COMMAND');
}

const LOST = 'if the passphrase is lost, so is the store: nobody can open it; delete the store directory and keyrole setup your sources again';

/** Opens store.key.age with a passphrase; one line and no change on a wrong one. */
export async function openKeyFile(p: string): Promise<AgeIdentity> {
  const bytes = readStoreFile(keyFilePath());
  if (!bytes) throw new KeyroleError('FileStoreMissing', `${keyFilePath()} is missing`, 'create the store with keyrole setup <source>');
  // Loaded only here and in wrapIdentity: a cache hit never needs it.
  const { Decrypter } = await import('age-encryption');
  const d = new Decrypter();
  d.addPassphrase(p);
  let text: string;
  try {
    text = await d.decrypt(bytes, 'text');
  } catch (err) {
    debug(`file store: the key file does not open (${(err as Error).message})`);
    throw new KeyroleError('FileStoreWrongPassphrase', 'the passphrase does not open keyrole\'s file store (wrong passphrase)', `try again; nothing was changed; ${LOST}`);
  }
  const line = text.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'));
  const secret = line && decodeIdentity(line);
  if (!secret) throw new KeyroleError('FileStoreUnusable', `${keyFilePath()} opens but holds no age identity`, 'restore it from a backup, or delete the store directory and keyrole setup your sources again');
  return identityFromSecret(secret);
}

/** store.key.age's bytes: the identity as an age identity file, encrypted to the passphrase. */
export async function wrapIdentity(id: AgeIdentity, p: string): Promise<Uint8Array> {
  const { Encrypter } = await import('age-encryption');
  const e = new Encrypter();
  e.setPassphrase(p);
  e.setScryptWorkFactor(SCRYPT_WORK_FACTOR);
  return e.encrypt(`# keyrole file store identity (age-keygen format)\n${encodeIdentity(id.secret)}\n`);
}

// The passphrase sources (a terminal prompt, a child process) are loaded only to ask: a
// cache hit in an unlocked session needs neither node:tty nor node:child_process.
const passphrase: typeof import('./passphrase.ts').passphrase = async (...a) => (await import('./passphrase.ts')).passphrase(...a);

/** Creates the store: a new identity, wrapped with a new passphrase. Two creators at once: the first one's stays. */
async function createStore(): Promise<AgeIdentity> {
  const p = await passphrase('create keyrole\'s file store', { twice: true });
  const id = identityFromSecret(randomBytes(32));
  const recipient = recipientOf(id.secret);
  const dir = privateDir(storeDir());
  const wrapped = await wrapIdentity(id, p);
  writeAtomic(join(dir, RECIPIENT_FILE), `${recipient}\n`, { exclusive: false });
  try {
    writeAtomic(join(dir, KEY_FILE), wrapped, { exclusive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new KeyroleError('FileStoreUnusable', `cannot create ${keyFilePath()} (${(err as NodeJS.ErrnoException).code})`, 'check that keyrole\'s directory is writable');
    // Another process made the store first: open its key with the same passphrase.
    const theirs = await openKeyFile(p);
    writeAtomic(join(dir, RECIPIENT_FILE), `${recipientOf(theirs.secret)}\n`);
    return theirs;
  }
  process.stderr.write(`keyrole: created an encrypted file store in ${dir} (age, scrypt); ${LOST}\n`);
  return id;
}

/**
 * Before a command that reads or writes the store: the key from this process, the session,
 * or the passphrase (which then creates the store when `create` and none exists).
 */
export async function prepareFileStore(o: { create: boolean }): Promise<void> {
  if (unlockedIdentity()) return;
  if (!storeExists()) {
    if (!o.create) return; // nothing stored yet: reads find nothing, a write says how to create it
    current = await createStore();
  } else {
    current = await openKeyFile(await passphrase('unlock keyrole\'s file store'));
  }
  keepForSession(current, storeRecipient() ?? recipientOf(current.secret));
}

/** Rewraps the store key under a new passphrase (keyrole store passphrase): no entry is touched. */
export async function changePassphrase(): Promise<void> {
  if (!storeExists()) throw new KeyroleError('FileStoreMissing', 'there is no file store here', 'create it with keyrole setup <source>');
  const old = await openKeyFile(await passphrase('unlock keyrole\'s file store'));
  // The new one from a file for scripts (KEYROLE_NEW_PASSPHRASE_FILE), else typed twice.
  const newFile = process.env.KEYROLE_NEW_PASSPHRASE_FILE;
  const next = newFile ? (await import('./passphrase.ts')).passphraseFromFile(newFile, 'KEYROLE_NEW_PASSPHRASE_FILE') : await passphrase('change the passphrase', { twice: true, terminalOnly: true });
  writeAtomic(keyFilePath(), await wrapIdentity(old, next));
  current = old;
}
