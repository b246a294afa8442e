// keyrole's hand-written age entries (src/keychain/agefile.ts) against the reference
// TypeScript implementation (the age-encryption package, by age's author): what keyrole
// writes, the package decrypts with the X25519 identity; what does not carry keyrole's
// stanza, or was tampered with, keyrole does not open.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decrypter, Encrypter, generateIdentity, identityToRecipient } from 'age-encryption';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { base64nopad } from '@scure/base';
import { decodeIdentity, decrypt, derivedKeys, encodeIdentity, encrypt, identityFromSecret, randomBytes, recipientOf } from '../../src/keychain/agefile.ts';

const id = identityFromSecret(randomBytes(32));

test('an entry keyrole writes is a standard age file: the package decrypts it with the identity', async () => {
  for (const size of [0, 1, 1500, 64 * 1024, 64 * 1024 + 1, 200_000]) {
    const plain = randomBytes(size);
    const d = new Decrypter();
    d.addIdentity(encodeIdentity(id.secret));
    assert.deepEqual(Buffer.from(await d.decrypt(encrypt(id, plain))), Buffer.from(plain), `${size} bytes`);
  }
});

test('keyrole opens its own entries, and not one with a byte changed', () => {
  const file = encrypt(id, new TextEncoder().encode('{"v":1}'));
  assert.equal(new TextDecoder().decode(decrypt(id, file)), '{"v":1}');
  // The header's stanzas, the keyrole stanza's body, the header MAC, the payload nonce and the payload.
  const header = new TextDecoder().decode(file).split('\n---')[0].length;
  for (const at of [30, 100, header - 40, header - 2, header + 10, header + 50, header + 60, header + 70, file.length - 1]) {
    const bad = Uint8Array.from(file);
    bad[at] ^= 1;
    assert.equal(decrypt(id, bad), undefined, `byte ${at}`);
  }
  assert.equal(decrypt(id, file.subarray(0, file.length - 5)), undefined, 'truncated');
  assert.equal(decrypt(identityFromSecret(randomBytes(32)), file), undefined, 'another store\'s key');
});

test('the identity and recipient encodings are age-keygen\'s', async () => {
  const ref = await generateIdentity();
  const secret = decodeIdentity(ref);
  assert.ok(secret);
  assert.equal(encodeIdentity(secret), ref);
  assert.equal(recipientOf(secret), await identityToRecipient(ref));
});

test('a file the package encrypts to the recipient has no keyrole stanza: not opened (keyrole writes every entry itself)', async () => {
  const e = new Encrypter();
  e.addRecipient(recipientOf(id.secret));
  assert.equal(decrypt(id, await e.encrypt('x')), undefined);
});

test('an entry an earlier keyrole wrote (keyrole-filestore-v1 stanza: the file key alone) still opens', async () => {
  // Written by keyrole 0.1's agefile.ts to this identity (a test key).
  const old = decodeIdentity('AGE-SECRET-KEY-1QYPQXPQ9QCRSSZG2PVXQ6RS0ZQG3YYC5Z5TPWXQERGD3C8G7RUSQGPQYEE')!;
  const file = Buffer.from('YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSB2eTBka2ptSnBOaWNURmFHTnNKa2QxRFJFZEk3cWVJbndIdTFJRDk0WFRnClpwVTh6dzNwQk56NXlNYmFBdzlUZ0tCaEYrYnp6d2JEQ20zUHZ1b3Y1Q2cKLT4ga2V5cm9sZS1maWxlc3RvcmUtdjEgVG9Ga0pyMnMwU3lWZUdQQwoyVW5DYVFGYTJQRnBOd2hxOXMremFUYlF0OVlNVFBDVXorV3hlRFdkMlY4Ci0tLSBzcWtuZFNYUXpYdGlBNllKRFVpVzA1d2Y4eUs2MGpDZmI0M3lEUGlCZ0hRCllRH6VsC+KKsdup7x6/VfOOcmXaCh0ZvhIizzjORV+yrC1AAYu8rIt4mvlzZEST6IOvstC/aDRt0txvd8l18fODDhj5x+nMfDZxGrzq+1/9YZKw', 'base64');
  assert.equal(new TextDecoder().decode(decrypt(identityFromSecret(old), file)), '{"written":"by keyrole 0.1 (keyrole-filestore-v1)"}');
  const bad = Uint8Array.from(file);
  bad[bad.length - 20] ^= 1;
  assert.equal(decrypt(identityFromSecret(old), bad), undefined, 'a byte of the payload changed');
});

test('the keyrole stanza\'s header key must be age\'s: the header MAC is still checked with it', () => {
  const plain = new TextEncoder().encode('{"v":2}');
  const text = Buffer.from(encrypt(id, plain)).toString('latin1');
  // The keyrole stanza re-made under the identity's own wrap key around a wrong header key:
  // its Poly1305 tag is right, so only the header MAC check can refuse the entry.
  const m = /\n-> keyrole-filestore-v2 (\S+)\n((?:[A-Za-z0-9+/]{64}\n)*[A-Za-z0-9+/]{0,63}\n)---/.exec(text);
  assert.ok(m, 'new entries carry the v2 stanza');
  const nonce = base64nopad.decode(m[1]);
  const keys = chacha20poly1305(id.wrapKey, nonce).decrypt(base64nopad.decode(m[2].replace(/\n/g, '')));
  keys[40] ^= 1;
  const body = base64nopad.encode(chacha20poly1305(id.wrapKey, nonce).encrypt(keys)).replace(/(.{64})/g, '$1\n');
  const forged = text.replace(m[2], `${body}${body.endsWith('\n') ? '' : '\n'}`);
  assert.notEqual(forged, text);
  assert.equal(decrypt(id, Buffer.from(forged, 'latin1')), undefined);
  // The same surgery without the change opens: the test's own re-encoding is sound.
  keys[40] ^= 1;
  const same = base64nopad.encode(chacha20poly1305(id.wrapKey, nonce).encrypt(keys)).replace(/(.{64})/g, '$1\n');
  assert.equal(new TextDecoder().decode(decrypt(id, Buffer.from(text.replace(m[2], `${same}${same.endsWith('\n') ? '' : '\n'}`), 'latin1'))), '{"v":2}');
});

test('an identity rebuilt from its kept derived keys is the derived one (the session copy, src/keychain/unlocked.ts)', () => {
  assert.deepEqual(identityFromSecret(id.secret, derivedKeys(id)), id);
  assert.deepEqual(identityFromSecret(id.secret, new Uint8Array(10)), id, 'a copy whose keys are not 64 bytes is derived anew');
  const file = encrypt(identityFromSecret(id.secret, derivedKeys(id)), new TextEncoder().encode('x'));
  assert.equal(new TextDecoder().decode(decrypt(id, file)), 'x');
});
