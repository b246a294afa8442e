// Each platform's semantics given to the code that depends on them, so a Linux run of the
// suite catches a regression on macOS and Windows: Windows' Credential Manager size limit
// (2,560 bytes per generic credential) and how keyrole's values are written there.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEntry, paramsDigest, sameParams, canonicalParams, cacheKey, decodeEntry } from '../../src/credentials/cache.ts';
import { encodeRecord } from '../../src/sso/record.ts';
import { CREDENTIAL_MANAGER_MAX_BYTES, readValue, storedBytes, valueProblem, writeValue } from '../../src/keychain/keychain.ts';
import { newSessionToken } from '../../emulator/state.ts';

// A regional AssumeRole token at the top of its observed range (750–770 characters).
const REAL_TOKEN = `IQoJb3JpZ2luX2Vj${'A'.repeat(770 - 16)}`;
const SSO_PARAMS = canonicalParams({
  kind: 'sso', session: 'my-company-sso', startUrl: 'https://d-1234567890.awsapps.com/start/#/', ssoRegion: 'eu-central-1',
  accountId: '111122223333', roleName: 'AWSAdministratorAccess',
});

function bigEntry(params: string): string {
  return encodeEntry({
    params,
    profile: 'p'.repeat(64),
    source: 'sso:my-company-sso',
    roleArn: `arn:aws:iam::111122223333:role/${'path/'.repeat(4)}${'R'.repeat(64)}`,
    credentials: {
      accessKeyId: `ASIA${'X'.repeat(16)}`, secretAccessKey: 's'.repeat(40), sessionToken: REAL_TOKEN, expiration: new Date('2030-01-01T00:00:00Z'),
      accountId: '111122223333', arn: `arn:aws:sts::111122223333:assumed-role/${'R'.repeat(64)}/${'S'.repeat(64)}`,
    },
    clockOffsetMs: -123_456,
    storedAt: new Date('2030-01-01T00:00:00Z'),
  });
}

describe('Windows Credential Manager: 2,560 bytes per credential', () => {
  test('a cache entry with a real-length token, long names and an SSO role fits, with room to spare', () => {
    const value = bigEntry(paramsDigest(SSO_PARAMS));
    assert.equal(valueProblem(value, 'win32'), undefined);
    assert.ok(storedBytes(value) <= CREDENTIAL_MANAGER_MAX_BYTES - 900, `${storedBytes(value)} bytes`);
    // As UTF-16 (the addon's setPassword) the same entry would not fit: why keyrole writes UTF-8 there.
    assert.ok(value.length * 2 > CREDENTIAL_MANAGER_MAX_BYTES, `${value.length * 2} bytes as UTF-16`);
  });

  test('an IAM Identity Center record as the emulator issues it fits', () => {
    const b64 = (n: number) => 'A'.repeat(Math.ceil((n * 4) / 3));
    const value = encodeRecord({
      startUrl: 'https://d-1234567890.awsapps.com/start/#/', region: 'eu-central-1', scopes: ['sso:account:access'],
      clientId: b64(16), clientSecret: `eyJraWQiOiJrZXktMTU2NDAyODA5OSIsImFsZyI6IkhTMzg0In0.${b64(240)}.${b64(48)}`,
      registrationExpiresAt: new Date(), accessToken: `aoa${b64(300)}`, expiresAt: new Date(), refreshToken: `aor${b64(300)}`, obtainedAt: new Date(),
    });
    assert.equal(valueProblem(value, 'win32'), undefined, `${storedBytes(value)} bytes`);
  });

  test('a value over the limit is refused before the store is asked, on Windows only', () => {
    const value = 'x'.repeat(CREDENTIAL_MANAGER_MAX_BYTES + 1);
    assert.match(valueProblem(value, 'win32') ?? '', /2561 bytes, over Credential Manager's 2560/);
    assert.equal(valueProblem(value, 'linux'), undefined);
    assert.equal(valueProblem(value, 'darwin'), undefined);
    assert.equal(valueProblem('x'.repeat(CREDENTIAL_MANAGER_MAX_BYTES), 'win32'), undefined);
  });

  test('Windows values are written and read as UTF-8 bytes, elsewhere as the addon\'s password', () => {
    const calls: string[] = [];
    let stored: Uint8Array | string | null = null;
    const fake = {
      setSecret: (b: Uint8Array) => { calls.push('setSecret'); stored = b; },
      getSecret: () => { calls.push('getSecret'); return stored instanceof Uint8Array ? Array.from(stored) : null; },
      setPassword: (p: string) => { calls.push('setPassword'); stored = p; },
      getPassword: () => { calls.push('getPassword'); return typeof stored === 'string' ? stored : null; },
    };
    const value = '{"profile":"prød"}';
    writeValue(fake, value, 'win32');
    assert.equal((stored as unknown as Uint8Array).length, Buffer.byteLength(value));
    assert.equal(readValue(fake, 'win32'), value);
    writeValue(fake, value, 'darwin');
    assert.equal(readValue(fake, 'darwin'), value);
    assert.deepEqual(calls, ['setSecret', 'getSecret', 'setPassword', 'getPassword']);
    stored = null;
    assert.equal(readValue(fake, 'win32'), null);
  });
});

describe('the entry stores a digest of its parameters', () => {
  test('the digest tells parameters apart and is not the entry\'s name', () => {
    const other = canonicalParams({ kind: 'sso', session: 'my-company-sso', accountId: '111122223333', roleName: 'ReadOnly' });
    assert.notEqual(paramsDigest(SSO_PARAMS), paramsDigest(other));
    assert.match(paramsDigest(SSO_PARAMS), /^fnv128:[0-9a-f]{32}$/);
    assert.ok(!paramsDigest(SSO_PARAMS).includes(cacheKey(JSON.parse(SSO_PARAMS) as Record<string, unknown>)));
  });

  test('an entry is matched by its digest, and an older version\'s entry by its canonical text', () => {
    assert.ok(sameParams(paramsDigest(SSO_PARAMS), SSO_PARAMS));
    assert.ok(sameParams(SSO_PARAMS, SSO_PARAMS));
    assert.ok(!sameParams(paramsDigest('[["source","bob"]]'), SSO_PARAMS));
    // An older version compares the stored text with its canonical text: a digest is a miss there, not a crash.
    const e = decodeEntry(bigEntry(paramsDigest(SSO_PARAMS)));
    assert.ok(e && e.params !== SSO_PARAMS);
  });
});

test('the emulator issues session tokens as long as the regional STS endpoints do', () => {
  for (let i = 0; i < 50; i++) {
    const n = newSessionToken().length;
    assert.ok(n >= 750 && n <= 770, `${n} characters`);
  }
});
