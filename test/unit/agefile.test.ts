// keyrole's hand-written age entries (src/keychain/agefile.ts) against the reference
// TypeScript implementation (the age-encryption package, by age's author): what keyrole
// writes, the package decrypts with the X25519 identity; what does not carry keyrole's
// stanza, or was tampered with, keyrole does not open.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decrypter, Encrypter, generateIdentity, identityToRecipient } from 'age-encryption';
import { decodeIdentity, decrypt, encodeIdentity, encrypt, identityFromSecret, randomBytes, recipientOf } from '../../src/keychain/agefile.ts';

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
  for (const at of [30, 100, file.length - 1]) {
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
