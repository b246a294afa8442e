// The sealing of what keyrole writes to the kernel keyring (src/keychain/seal.ts), without a
// kernel keyring: the key file's checks, and that a sealed value opens only under its own
// home's key and its own name, whole. The names are checked against node:crypto's HMAC.

import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kernelName, isOurName, open, readSealKey, seal, sealKeyForWrite, sealKeyPath, type SealKey } from '../../src/keychain/seal.ts';
import { KeyroleError } from '../../src/util/errors.ts';
import { keyQuota } from '../../src/keychain/kernel.ts';
import { quotaProblem } from '../../src/commands/doctor/kernel.ts';
import { tempDir } from '../support/tmp.ts';

const SERVICE = 'keyrole:cache';
const VALUE = JSON.stringify({ keyrole: 1, kind: 'cache', SecretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' });

function freshHome(): string {
  const home = join(tempDir('unit-seal-'), 'keyrole');
  process.env.KEYROLE_HOME = home;
  return home;
}

const refused = (fn: () => unknown, why: RegExp) => assert.throws(fn, (e: unknown) => e instanceof KeyroleError && e.code === 'SealKeyUnsafe' && why.test(e.message));

describe('the home\'s key file', () => {
  beforeEach(() => { freshHome(); });

  test('none until the first write; then 0600 in a 0700 directory, and the same key ever after', () => {
    assert.equal(readSealKey(), undefined);
    const k = sealKeyForWrite();
    assert.equal(statSync(sealKeyPath()).mode & 0o777, 0o600);
    assert.equal(statSync(join(sealKeyPath(), '..')).mode & 0o777, 0o700);
    assert.equal(readFileSync(sealKeyPath()).length, 72);
    assert.deepEqual(sealKeyForWrite(), k);
    assert.deepEqual(readSealKey(), k);
  });

  test('a key file open to others, a link, or of the wrong size is refused with its fix', () => {
    sealKeyForWrite();
    chmodSync(sealKeyPath(), 0o644);
    refused(() => readSealKey(), /readable or writable by others/);
    chmodSync(sealKeyPath(), 0o600);
    writeFileSync(sealKeyPath(), Buffer.alloc(32));
    refused(() => readSealKey(), /not a key keyrole wrote/);

    const home = freshHome();
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const elsewhere = join(home, '..', 'elsewhere.key');
    writeFileSync(elsewhere, Buffer.alloc(72), { mode: 0o600 });
    symlinkSync(elsewhere, sealKeyPath());
    refused(() => readSealKey(), /symbolic link/);
    refused(() => sealKeyForWrite(), /symbolic link/);
  });
});

describe('seal and open', () => {
  let k: SealKey;
  beforeEach(() => {
    freshHome();
    k = sealKeyForWrite();
  });

  test('names: the home\'s tag and 128 bits of HMAC-SHA256 under the naming key (node:crypto agrees); nothing of the account shows', () => {
    const raw = readFileSync(sealKeyPath());
    const want = raw.subarray(64, 72).toString('hex') + createHmac('sha256', raw.subarray(32, 64)).update(`${SERVICE}\0abcdef0123456789`).digest().subarray(0, 16).toString('hex');
    assert.equal(kernelName(k, SERVICE, 'abcdef0123456789'), want);
    assert.ok(isOurName(k, want));
    assert.notEqual(kernelName(k, 'keyrole:source', 'abcdef0123456789'), want, 'the service is part of the name');
  });

  test('a sealed value opens whole under its name, and holds no plaintext', () => {
    const name = kernelName(k, SERVICE, 'acct');
    const bytes = seal(k, SERVICE, 'acct', VALUE);
    assert.equal(Buffer.from(bytes).includes('wJalrXUtnFEMI'), false);
    assert.deepEqual(open(k, SERVICE, name, bytes), { account: 'acct', value: VALUE });
    assert.notDeepEqual(seal(k, SERVICE, 'acct', VALUE), bytes, 'a fresh nonce each time');
  });

  test('rewritten, truncated, moved to another name or service, or another home\'s: undefined, never an answer', () => {
    const name = kernelName(k, SERVICE, 'acct');
    const bytes = seal(k, SERVICE, 'acct', VALUE);
    for (let i = 0; i < bytes.length; i += 97) {
      const flipped = Uint8Array.from(bytes);
      flipped[i] ^= 1;
      assert.equal(open(k, SERVICE, name, flipped), undefined, `byte ${i} flipped`);
    }
    assert.equal(open(k, SERVICE, name, bytes.subarray(0, bytes.length - 1)), undefined, 'truncated');
    assert.equal(open(k, SERVICE, name, new Uint8Array(0)), undefined, 'empty');
    assert.equal(open(k, SERVICE, name, Buffer.from(VALUE)), undefined, 'an unsealed value');
    assert.equal(open(k, SERVICE, kernelName(k, SERVICE, 'other'), bytes), undefined, 'moved to another account\'s name');
    assert.equal(open(k, 'keyrole:source', name, bytes), undefined, 'moved to another service');
    freshHome();
    const other = sealKeyForWrite();
    assert.notEqual(other.tag, k.tag);
    assert.equal(open(other, SERVICE, name, bytes), undefined, 'another home\'s key');
  });
});

describe('the kernel\'s per-user quota', () => {
  test('read from /proc/key-users for this uid', () => {
    const line = readFileSync('/proc/key-users', 'utf8').split('\n').find((l) => l.trim().startsWith(`${process.getuid!()}:`));
    assert.ok(line, 'this uid has keys (the test runner\'s session keyring at least)');
    const [keys, maxKeys, bytes, maxBytes] = line.trim().split(/\s+/).slice(3).flatMap((f) => f.split('/')).map(Number);
    const q = keyQuota();
    assert.ok(q);
    assert.equal(q.maxKeys, maxKeys);
    assert.equal(q.maxBytes, maxBytes);
    // The counts move with every other process of this user: within reason of what was read.
    assert.ok(Math.abs(q.keys - keys) < 1000 && Math.abs(q.bytes - bytes) < 1_000_000);
  });

  test('doctor calls a quota full when another sealed entry would not fit, or no key may be added', () => {
    assert.equal(quotaProblem({ keys: 10, maxKeys: 200, bytes: 10_000, maxBytes: 20_000 }), undefined);
    assert.match(quotaProblem({ keys: 10, maxKeys: 200, bytes: 18_000, maxBytes: 20_000 }) ?? '', /nearly full: 18000 of 20000 bytes/);
    assert.match(quotaProblem({ keys: 200, maxKeys: 200, bytes: 100, maxBytes: 20_000 }) ?? '', /is full: .*200 of 200 keys/);
  });
});
