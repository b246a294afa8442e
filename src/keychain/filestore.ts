// The file store (KEYROLE_KEYCHAIN=file, or by itself where no Secret Service answers):
// keyrole's keychain for SSH servers, WSL, containers and CI, in files under keyrole's own
// directory. It holds everything the other stores hold (sources, cache entries, MFA and
// SSO sessions, client registrations): src/keychain/keychain.ts sends every getItem,
// setItem, deleteItem and listAccounts here when it is the store.
//
// The format is age (age-encryption.org/v1), so the user can always read their own store
// with Debian's `age` and needs no keyrole to get a key back out:
//
//   <keyrole home>/store/             0700, a real directory (src/util/home.ts's checks)
//     store.key.age                   the store's age identity (AGE-SECRET-KEY-1…), encrypted
//                                     to the passphrase: age's scrypt recipient, work factor 18
//     recipient                       the identity's public age1… recipient (not secret)
//     entries/<32 hex>.age            one entry: {"keyrole":1,"service","account","value"} as
//                                     JSON, encrypted to the identity (src/keychain/agefile.ts)
//
// Why this shape: the passphrase's scrypt (memory-hard, ~1 s) is paid once, to unwrap the
// store key, not per entry; a passphrase change rewraps that one file and re-encrypts
// nothing. One file per entry, each replaced atomically (src/util/atomic.ts), so two
// writers of different entries never lose each other's, and a SIGKILL at any step leaves
// the old file or the new one. File names are HMAC-SHA256 of service and account under a
// key derived from the identity: they reveal no profile, role or account.
//
// To read a store without keyrole:
//   age -d -o identity.txt ~/.aws/keyrole/store/store.key.age     (asks the passphrase)
//   age -d -i identity.txt ~/.aws/keyrole/store/entries/<name>.age

import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { existingPrivateDir, keyroleHome, privateDir, readPrivateFile } from '../util/home.ts';
import { writeAtomic } from '../util/atomic.ts';
import { KeyroleError } from '../util/errors.ts';
import { decrypt, encrypt, type AgeIdentity } from './agefile.ts';

export const KEY_FILE = 'store.key.age';
export const RECIPIENT_FILE = 'recipient';
const ENTRIES = 'entries';
const ENTRY = /^[0-9a-f]{32}\.age$/;
const utf8 = new TextEncoder();

export function storeDir(): string {
  return join(keyroleHome(), 'store');
}

export const keyFilePath = () => join(storeDir(), KEY_FILE);

const FIX = 'remove it or fix it (a regular file of yours, not open to others), or point KEYROLE_HOME elsewhere';

/** A file of the store's, read without following links and refused when unsafe; undefined when missing. */
export function readStoreFile(path: string): Buffer | undefined {
  return readPrivateFile(path, 'FileStoreUnusable', FIX);
}

/** Whether a store exists here (its key file does); its directory is checked on the way. */
export function storeExists(): boolean {
  const dir = existingPrivateDir(storeDir());
  return !!dir && readStoreFile(join(dir, KEY_FILE)) !== undefined;
}

/** The store's public recipient (age1…), or undefined where there is no store. */
export function storeRecipient(): string | undefined {
  const dir = existingPrivateDir(storeDir());
  return dir ? readStoreFile(join(dir, RECIPIENT_FILE))?.toString('utf8').trim() : undefined;
}

function entriesDir(create: boolean): string | undefined {
  if (create) return privateDir(join(privateDir(storeDir()), ENTRIES));
  const top = existingPrivateDir(storeDir());
  return top ? existingPrivateDir(join(top, ENTRIES)) : undefined;
}

/** The file name of an entry: reveals neither the service nor the account. */
export function entryName(id: AgeIdentity, service: string, account: string): string {
  return `${Buffer.from(hmac(sha256, id.nameKey, utf8.encode(`${service}\0${account}`)).subarray(0, 16)).toString('hex')}.age`;
}

interface Stored { service: string; account: string; value: string }

function openEntry(id: AgeIdentity, bytes: Uint8Array): Stored | undefined {
  const plain = decrypt(id, bytes);
  if (!plain) return undefined;
  try {
    const v = JSON.parse(Buffer.from(plain).toString('utf8')) as Record<string, unknown>;
    if (v.keyrole !== 1 || typeof v.service !== 'string' || typeof v.account !== 'string' || typeof v.value !== 'string') return undefined;
    return { service: v.service, account: v.account, value: v.value };
  } catch {
    return undefined;
  }
}

export function fileGet(id: AgeIdentity, service: string, account: string): string | null {
  const dir = entriesDir(false);
  if (!dir) return null;
  const bytes = readStoreFile(join(dir, entryName(id, service, account)));
  if (!bytes) return null;
  const e = openEntry(id, bytes);
  // An entry that does not open, or was moved here from another name, is not an answer.
  if (!e || e.service !== service || e.account !== account) {
    throw new KeyroleError('FileStoreUnusable', `an entry of the file store does not open under its key (${join(dir, entryName(id, service, account))}: truncated, edited or another store's)`, 'delete that file and store the item again (for a source: keyrole setup --force)');
  }
  return e.value;
}

export function fileSet(id: AgeIdentity, service: string, account: string, value: string): void {
  const dir = entriesDir(true)!;
  const plain = utf8.encode(JSON.stringify({ keyrole: 1, service, account, value }));
  try {
    writeAtomic(join(dir, entryName(id, service, account)), encrypt(id, plain));
  } catch (err) {
    throw new KeyroleError('FileStoreUnusable', `cannot write the file store in ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'check that keyrole\'s directory is writable and the disk not full');
  }
}

export function fileDelete(id: AgeIdentity, service: string, account: string): boolean {
  const dir = entriesDir(false);
  if (!dir) return false;
  try {
    unlinkSync(join(dir, entryName(id, service, account)));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new KeyroleError('FileStoreUnusable', `cannot delete from the file store in ${dir} (${(err as NodeJS.ErrnoException).code})`, 'check that keyrole\'s directory is writable');
  }
}

/** Every entry that opens (of one service, or all); what does not open is skipped. */
export function fileEntries(id: AgeIdentity, service?: string): Stored[] {
  const dir = entriesDir(false);
  if (!dir) return [];
  const out: Stored[] = [];
  for (const n of readdirSync(dir).filter((f) => ENTRY.test(f)).sort()) {
    let bytes: Buffer | undefined;
    try { bytes = readStoreFile(join(dir, n)); } catch { continue; }
    const e = bytes && openEntry(id, bytes);
    if (e && (service === undefined || e.service === service) && n === entryName(id, e.service, e.account)) out.push(e);
  }
  return out;
}

export function fileAccounts(id: AgeIdentity, service: string): string[] {
  return fileEntries(id, service).map((e) => e.account).sort();
}
