// The age file format (age-encryption.org/v1, https://age-encryption.org/v1) for the file
// store's entries (src/keychain/filestore.ts): written and read here, synchronously.
//
// Why by hand, next to the age-encryption package (which keyrole uses for the
// passphrase-wrapped store key, src/keychain/unlocked.ts): keyrole's keychain interface is
// synchronous (getItem/setItem/deleteItem/listAccounts have some fifty callers), and the
// package's API is asynchronous only; loading it (with @noble/curves and the post-quantum
// recipients) costs a cache hit far more than its budget. The format is small: the
// symmetric parts use the audited @noble/hashes and @noble/ciphers the kernel seal already
// loads, and X25519, needed only to write an entry, is node:crypto's (loaded then, like the
// random bytes: a write waits for STS or a person anyway; @noble/curves' module set-up
// alone measured over 100 ms on this project's loaded machine). The tests check the format
// against the package (test/unit/agefile.test.ts) and Debian's `age` (test/filestore.e2e.test.ts).
//
// Every entry carries two stanzas that wrap the same file key:
// - `X25519`, the standard recipient: `age -d -i identity.txt` decrypts the entry.
// - `keyrole-filestore-v2`, a symmetric wrap under a key derived from the same identity, of
//   the file key, the payload nonce and the two keys age derives from them (HKDF-SHA256: the
//   header MAC's key, and the payload key), so that opening an entry on a
//   cache hit costs two ChaCha20-Poly1305 operations and the header MAC's HMAC, where X25519
//   in pure JS costs tens of milliseconds cold and each HKDF-SHA256 about a millisecond in
//   V8's interpreter (a hit runs these once: never long enough to be optimised). The
//   header MAC is still checked, with the key the stanza carries; the stanza is
//   authenticated (Poly1305) under a key only the identity gives, so nobody without the
//   identity can make one whose keys differ from age's derivation; the payload nonce it
//   carries must be the file's (a file with another nonce is refused, as age would refuse
//   it: its payload key would differ). Entries written by
//   earlier keyroles carry `keyrole-filestore-v1` (the file key alone) and are opened the
//   long way, deriving both keys. age implementations skip stanzas of a type they do not
//   know (the spec: "recipient stanzas of unknown type are ignored"), and the header MAC
//   covers both stanzas.

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { base64nopad, bech32 } from '@scure/base';
import { nodeRequire } from '../util/require.ts';

const INTRO = 'age-encryption.org/v1\n';
const KEYROLE_STANZA = 'keyrole-filestore-v2';
/** Earlier keyroles' stanza: the file key alone. */
const KEYROLE_STANZA_V1 = 'keyrole-filestore-v1';
const CHUNK = 64 * 1024;
const utf8 = new TextEncoder();

export interface AgeIdentity {
  /** The X25519 scalar. */
  secret: Uint8Array;
  /** Derived from the scalar: the key of the keyrole stanza. */
  wrapKey: Uint8Array;
  /** Derived from the scalar: the key that names the file store's entries (src/keychain/filestore.ts). */
  nameKey: Uint8Array;
}

const DERIVED_BYTES = 64;

/**
 * The identity of a scalar. `derived`: its two derived keys as derivedKeys() gave them
 * earlier (the session's kept copy, src/keychain/unlocked.ts), which spares a cache hit two
 * HKDFs; anything but 64 bytes is ignored and the keys are derived anew.
 */
export function identityFromSecret(secret: Uint8Array, derived?: Uint8Array): AgeIdentity {
  if (derived?.length === DERIVED_BYTES) return { secret, wrapKey: derived.slice(0, 32), nameKey: derived.slice(32) };
  return {
    secret,
    wrapKey: hkdf(sha256, secret, new Uint8Array(0), utf8.encode('keyrole-filestore-v1 wrap'), 32),
    nameKey: hkdf(sha256, secret, new Uint8Array(0), utf8.encode('keyrole-filestore-v1 names'), 32),
  };
}

/** The identity's derived keys, for identityFromSecret's `derived`. */
export function derivedKeys(id: AgeIdentity): Uint8Array {
  return concat([id.wrapKey, id.nameKey]);
}

/** `AGE-SECRET-KEY-1…`, as age-keygen writes it. */
export function encodeIdentity(secret: Uint8Array): string {
  return bech32.encode('age-secret-key-', bech32.toWords(secret), false).toUpperCase();
}

/** The scalar of an `AGE-SECRET-KEY-1…` line, or undefined. */
export function decodeIdentity(text: string): Uint8Array | undefined {
  try {
    const { prefix, words } = bech32.decode(text.trim().toLowerCase() as `${string}1${string}`, false);
    const b = bech32.fromWords(words);
    return prefix === 'age-secret-key-' && b.length === 32 ? Uint8Array.from(b) : undefined;
  } catch {
    return undefined;
  }
}

const crypto = () => nodeRequire()('node:crypto') as typeof import('node:crypto');

export function randomBytes(n: number): Uint8Array {
  return crypto().randomBytes(n);
}

// X25519 through node:crypto's key objects: a raw scalar or point goes in as DER
// (RFC 8410: PKCS#8 for the private key, SubjectPublicKeyInfo for the public one).
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

function privateKey(scalar: Uint8Array) {
  return crypto().createPrivateKey({ key: Buffer.concat([PKCS8_X25519, scalar]), format: 'der', type: 'pkcs8' });
}

function publicOf(scalar: Uint8Array): Uint8Array {
  const der = crypto().createPublicKey(privateKey(scalar)).export({ format: 'der', type: 'spki' });
  return Uint8Array.from(der.subarray(der.length - 32));
}

function shared(scalar: Uint8Array, point: Uint8Array): Uint8Array {
  const publicKey = crypto().createPublicKey({ key: Buffer.concat([SPKI_X25519, point]), format: 'der', type: 'spki' });
  return Uint8Array.from(crypto().diffieHellman({ privateKey: privateKey(scalar), publicKey }));
}

/** `age1…`, the identity's public recipient. */
export function recipientOf(secret: Uint8Array): string {
  return bech32.encode('age', bech32.toWords(publicOf(secret)), false);
}

function stanzaBody(b: Uint8Array): string {
  // Lines of 64 columns, the last one shorter (empty when the body fills its last line).
  const s = base64nopad.encode(b);
  let out = '';
  for (let i = 0; i <= s.length; i += 64) out += s.slice(i, i + 64) + '\n';
  return out;
}

const ZERO_NONCE = new Uint8Array(12);

function payloadNonce(counter: number, last: boolean): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setUint32(7, counter);
  n[11] = last ? 1 : 0;
  return n;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

// age's two keys of a file key (age-encryption.org/v1, "Header" and "Payload").
const headerKeyOf = (fileKey: Uint8Array) => hkdf(sha256, fileKey, new Uint8Array(0), utf8.encode('header'), 32);
const payloadKeyOf = (fileKey: Uint8Array, nonce: Uint8Array) => hkdf(sha256, fileKey, nonce, utf8.encode('payload'), 32);

/** `plain` as an age file to the identity (both stanzas). */
export function encrypt(id: AgeIdentity, plain: Uint8Array): Uint8Array {
  const fileKey = randomBytes(16);
  const recipient = publicOf(id.secret);
  const eph = randomBytes(32);
  const share = publicOf(eph);
  const xKey = hkdf(sha256, shared(eph, recipient), concat([share, recipient]), utf8.encode('age-encryption.org/v1/X25519'), 32);
  const nonce = randomBytes(16);
  const headerKey = headerKeyOf(fileKey);
  const payloadKey = payloadKeyOf(fileKey, nonce);
  const wrapNonce = randomBytes(12);
  let header = INTRO
    + `-> X25519 ${base64nopad.encode(share)}\n` + stanzaBody(chacha20poly1305(xKey, ZERO_NONCE).encrypt(fileKey))
    + `-> ${KEYROLE_STANZA} ${base64nopad.encode(wrapNonce)}\n` + stanzaBody(chacha20poly1305(id.wrapKey, wrapNonce).encrypt(concat([fileKey, nonce, headerKey, payloadKey])))
    + '---';
  const mac = hmac(sha256, headerKey, utf8.encode(header));
  header += ` ${base64nopad.encode(mac)}\n`;
  const chunks: Uint8Array[] = [utf8.encode(header), nonce];
  for (let i = 0, c = 0; ; i += CHUNK, c++) {
    const last = i + CHUNK >= plain.length;
    chunks.push(chacha20poly1305(payloadKey, payloadNonce(c, last)).encrypt(plain.subarray(i, i + CHUNK)));
    if (last) break;
  }
  return concat(chunks);
}

/** The plaintext of an age file this identity's keyrole stanza opens, or undefined (anything else, tampered, truncated). */
export function decrypt(id: AgeIdentity, file: Uint8Array): Uint8Array | undefined {
  try {
    // The header is ASCII and ends at the first "\n--- …\n".
    const text = Buffer.from(file.subarray(0, Math.min(file.length, 4096))).toString('latin1');
    if (!text.startsWith(INTRO)) return undefined;
    const end = text.indexOf('\n---');
    if (end < 0) return undefined;
    const macEnd = text.indexOf('\n', end + 4);
    if (macEnd < 0) return undefined;
    const lines = text.slice(INTRO.length, end).split('\n');
    let keys: { header: Uint8Array; payload: (nonce: Uint8Array) => Uint8Array | undefined } | undefined;
    for (let i = 0; i < lines.length; i++) {
      const args = lines[i].split(' ');
      if (args[0] !== '->' || (args[1] !== KEYROLE_STANZA && args[1] !== KEYROLE_STANZA_V1) || args.length !== 3) continue;
      // The body: full lines of 64 columns, then one shorter (maybe empty).
      let b64 = '';
      for (let j = i + 1; j < lines.length; j++) {
        b64 += lines[j];
        if (lines[j].length < 64) break;
      }
      const wrapped = chacha20poly1305(id.wrapKey, base64nopad.decode(args[2])).decrypt(base64nopad.decode(b64));
      if (args[1] === KEYROLE_STANZA && wrapped.length === 96) keys = { header: wrapped.subarray(32, 64), payload: (nonce) => (equal(nonce, wrapped.subarray(16, 32)) ? wrapped.subarray(64) : undefined) };
      else if (args[1] === KEYROLE_STANZA_V1 && wrapped.length === 16) keys = { header: headerKeyOf(wrapped), payload: (nonce) => payloadKeyOf(wrapped, nonce) };
      break;
    }
    if (!keys) return undefined;
    const mac = base64nopad.decode(text.slice(end + 5, macEnd));
    const want = hmac(sha256, keys.header, file.subarray(0, end + 4));
    if (mac.length !== 32 || !equal(mac, want)) return undefined;
    const rest = file.subarray(macEnd + 1);
    const payloadKey = keys.payload(rest.subarray(0, 16));
    if (!payloadKey) return undefined;
    const out: Uint8Array[] = [];
    const body = rest.subarray(16);
    for (let i = 0, c = 0; ; i += CHUNK + 16, c++) {
      const last = i + CHUNK + 16 >= body.length;
      out.push(chacha20poly1305(payloadKey, payloadNonce(c, last)).decrypt(body.subarray(i, i + CHUNK + 16)));
      if (last) break;
    }
    return concat(out);
  } catch {
    return undefined;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  let d = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
