// The cache's hashes in 32-bit lanes (src/credentials/cache.ts fnv1a64, fnv1a128) against
// the textbook BigInt form of FNV-1a: entry names and parameter digests must not change
// between versions (an older keyrole reads the same store), so every value must match.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cacheKey, canonicalParams, fnv1a128, fnv1a64, paramsDigest } from '../../src/credentials/cache.ts';

function reference64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

function reference128(text: string): string {
  let h = 0x6c62272e07bb014262b821756295c58dn;
  const mask = (1n << 128n) - 1n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x0000000001000000000000000000013bn) & mask;
  }
  return h.toString(16).padStart(32, '0');
}

/** Random text: mostly printable ASCII, some code units anywhere in 0–0xffff (lone surrogates too). */
function randomText(): string {
  const bytes = randomBytes(2 + randomBytes(1)[0] * 4);
  let s = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const u = bytes.readUInt16LE(i);
    s += String.fromCharCode(u % 10 < 8 ? 32 + (u % 95) : u);
  }
  return s;
}

test('the published FNV-1a test vectors ("", "a", "foobar")', () => {
  assert.equal(fnv1a64(''), 'cbf29ce484222325');
  assert.equal(fnv1a64('a'), 'af63dc4c8601ec8c');
  assert.equal(fnv1a64('foobar'), '85944171f73967e8');
  assert.equal(fnv1a128(''), '6c62272e07bb014262b821756295c58d');
  assert.equal(fnv1a128('a'), 'd228cb696f1a8caf78912b704e4a8964');
});

test('every value equals the BigInt reference (5,000 random texts, up to 1 KB)', () => {
  for (let n = 0; n < 5000; n++) {
    const text = randomText();
    assert.equal(fnv1a64(text), reference64(text), JSON.stringify(text));
    assert.equal(fnv1a128(text), reference128(text), JSON.stringify(text));
  }
});

test('cacheKey and paramsDigest are these hashes of the canonical parameters', () => {
  const params = { source: 'alice', roleArn: 'arn:aws:iam::111122223333:role/Admin', durationSeconds: 3600, tags: [['k', 'v']] };
  assert.equal(cacheKey(params), reference64(canonicalParams(params)));
  assert.equal(paramsDigest(canonicalParams(params)), `fnv128:${reference128(canonicalParams(params))}`);
});
