// What keyrole writes to the kernel keyring is sealed, so that no process of another user
// can read or forge it, and no other keyrole home of the same user can read it.
//
// Why: a kernel key grants its possessor rights to whoever possesses it, whatever their
// uid. Debian's `su` and `sudo` have no pam_keyinit, so `sudo -u other …` keeps the user's
// session keyring, the persistent keyring keyrole links into it, and every key in it: that
// process printed each cached secret (`keyctl print`) and replaced a copy with its own
// access key (`keyctl pupdate`), which keyrole then served. And the persistent keyring is
// one per uid, shared by every HOME of that user: a second HOME (another client, another
// CI project under one uid) was served the first one's credentials. The addon offers no
// keyctl_setperm, and possession cannot be taken away from a process that shares the
// session keyring, so the values themselves are protected:
//
// - A key file in keyrole's own private directory (keyroleHome(), 0700; the file 0600,
//   created once, exclusively): 32 bytes to seal with, 32 bytes to name with, and 8 bytes
//   of a public tag that tells this home's kernel keys from other homes'.
// - Each value is sealed with XChaCha20-Poly1305 (a random 24-byte nonce). The associated
//   data binds it to its service and its kernel name, and the sealed text carries the
//   account it was written for, checked on opening: a copy cannot be moved to another name.
// - The kernel name of an account is the tag and 128 bits of HMAC-SHA256 under the naming
//   key: names reveal nothing, and each home has its own.
// - Whatever fails to open (another home's, another user's, tampered, truncated) is
//   undefined to the caller: a miss, never an answer.
//
// Why @noble/ciphers and @noble/hashes, not node:crypto: a cache hit opens one value, and
// loading node:crypto costs 8–13 ms in the Node 24 the executable embeds (measured on this
// project's machine, against ~30 ms for `node -e 0`), more than the whole budget of a hit;
// the audited pure-JS ciphers cost well under a millisecond for one ~1.5 KB value.
// XChaCha20-Poly1305, not AES-GCM: AES in JS builds its tables first (3–9 ms cold, measured),
// and a 24-byte random nonce never needs a counter. node:crypto is loaded only to make
// random bytes (a write: a cache miss, which waits for STS anyway).

import { join } from 'node:path';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { existingPrivateDir, keyroleHome, privateDir, readPrivateFile } from '../util/home.ts';
import { writeAtomic } from '../util/atomic.ts';
import { KeyroleError } from '../util/errors.ts';
import { nodeRequire } from '../util/require.ts';

export const SEAL_KEY_FILE = 'kernel-keyring.key';
const KEY_BYTES = 32 + 32 + 8;
const VERSION = 1;
const NONCE_BYTES = 24;

export interface SealKey {
  seal: Uint8Array;
  name: Uint8Array;
  /** Public: the first characters of every kernel name this home writes. */
  tag: string;
}

export function sealKeyPath(): string {
  return join(keyroleHome(), SEAL_KEY_FILE);
}

const FIX = `delete it (keyrole makes a new one; the kernel keyring's copies made under it are then fetched anew), or point KEYROLE_HOME elsewhere`;

function fromBytes(b: Uint8Array): SealKey {
  return { seal: b.subarray(0, 32), name: b.subarray(32, 64), tag: Buffer.from(b.subarray(64, 72)).toString('hex') };
}

/**
 * This home's key, or undefined where there is none yet (then nothing in the kernel
 * keyring can be this home's). An unsafe file (a link, another user's, open to others, the
 * wrong size) is refused with one line: sealing under a key others can read seals nothing.
 */
export function readSealKey(): SealKey | undefined {
  const home = keyroleHome();
  if (!existingPrivateDir(home)) return undefined;
  const path = join(home, SEAL_KEY_FILE);
  const b = readPrivateFile(path, 'SealKeyUnsafe', FIX);
  if (b === undefined) return undefined;
  if (b.length !== KEY_BYTES) throw new KeyroleError('SealKeyUnsafe', `${path} is not a key keyrole wrote (${b.length} bytes)`, FIX);
  return fromBytes(new Uint8Array(b.buffer, b.byteOffset, KEY_BYTES));
}

/** This home's key, made on first use (a write). Two processes making it at once agree on the first one linked. */
export function sealKeyForWrite(): SealKey {
  const have = readSealKey();
  if (have) return have;
  privateDir(keyroleHome());
  try {
    writeAtomic(sealKeyPath(), randomBytes(KEY_BYTES), { exclusive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new KeyroleError('SealKeyUnsafe', `cannot create ${sealKeyPath()} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'check that keyrole\'s directory is writable, or point KEYROLE_HOME elsewhere');
    }
  }
  const made = readSealKey();
  if (!made) throw new KeyroleError('SealKeyUnsafe', `${sealKeyPath()} vanished as it was made`, FIX);
  return made;
}

function randomBytes(n: number): Uint8Array {
  return (nodeRequire()('node:crypto') as typeof import('node:crypto')).randomBytes(n);
}

const utf8 = new TextEncoder();

/** The kernel keyring's name for `account` of `service` in this home. */
export function kernelName(k: SealKey, service: string, account: string): string {
  const mac = hmac(sha256, k.name, utf8.encode(`${service}\0${account}`));
  return k.tag + Buffer.from(mac.subarray(0, 16)).toString('hex');
}

/** Whether a kernel name has this home's shape (it may still fail to open). */
export function isOurName(k: SealKey, name: string): boolean {
  return name.length === k.tag.length + 32 && name.startsWith(k.tag) && /^[0-9a-f]+$/.test(name);
}

function aad(service: string, name: string): Uint8Array {
  return utf8.encode(`keyrole-kernel-v${VERSION}\0${service}\0${name}`);
}

/** The bytes to store under kernelName(k, service, account). */
export function seal(k: SealKey, service: string, account: string, value: string): Uint8Array {
  const name = kernelName(k, service, account);
  const acct = utf8.encode(account);
  const body = utf8.encode(value);
  const plain = new Uint8Array(2 + acct.length + body.length);
  plain[0] = acct.length >> 8;
  plain[1] = acct.length & 0xff;
  plain.set(acct, 2);
  plain.set(body, 2 + acct.length);
  const nonce = randomBytes(NONCE_BYTES);
  const sealed = xchacha20poly1305(k.seal, nonce, aad(service, name)).encrypt(plain);
  const out = new Uint8Array(1 + NONCE_BYTES + sealed.length);
  out[0] = VERSION;
  out.set(nonce, 1);
  out.set(sealed, 1 + NONCE_BYTES);
  return out;
}

/**
 * The account and value sealed under `name`, or undefined when the bytes are not this
 * home's sealing for that name (another home's or user's, rewritten, truncated).
 */
export function open(k: SealKey, service: string, name: string, bytes: Uint8Array): { account: string; value: string } | undefined {
  if (bytes.length < 1 + NONCE_BYTES + 16 + 2 || bytes[0] !== VERSION) return undefined;
  let plain: Uint8Array;
  try {
    plain = xchacha20poly1305(k.seal, bytes.subarray(1, 1 + NONCE_BYTES), aad(service, name)).decrypt(bytes.subarray(1 + NONCE_BYTES));
  } catch {
    return undefined;
  }
  const n = (plain[0] << 8) | plain[1];
  if (plain.length < 2 + n) return undefined;
  const dec = new TextDecoder('utf-8', { fatal: true });
  try {
    // Only this home's key seals, and the associated data binds the text to `name`: the
    // account inside is the one the name was made from (a reader by name still compares it).
    return { account: dec.decode(plain.subarray(2, 2 + n)), value: dec.decode(plain.subarray(2 + n)) };
  } catch {
    return undefined;
  }
}
