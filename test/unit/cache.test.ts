// cache.ts pure parts: cache keys, the refresh window, freshness, and the entry codec.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKey, decodeEntry, encodeEntry, fresh, refreshWindowMs, remainingMs, REFRESH_WINDOW_MS, lookup, noStore, parseStoreKind, type CacheEntry, type CacheStore } from '../../src/credentials/cache.ts';
import { planProfile } from '../../src/credentials/plan.ts';
import { encodeSource } from '../../src/keychain/keychain.ts';
import { KeyroleError } from '../../src/util/errors.ts';
import type { AwsFiles } from '../../src/config/files.ts';
import type { Settings } from '../../src/config/settings.ts';

const NO_FILES: AwsFiles = { configPath: '/nonexistent/config', credentialsPath: '/nonexistent/credentials', config: {}, credentials: {} };
const keyFor = (s: Settings) => planProfile(NO_FILES, s).key;

const NOW = Date.parse('2030-06-01T12:00:00.000Z');
const MIN = 60_000;

function entry(expiresInMs: number, clockOffsetMs = 0, extra: Partial<CacheEntry> = {}): CacheEntry {
  return {
    params: '[["source","alice"]]',
    profile: 'prod',
    source: 'alice',
    roleArn: 'arn:aws:iam::111122223333:role/Admin',
    credentials: {
      accessKeyId: 'ASIAEXAMPLEEXAMPLE01',
      secretAccessKey: 'secret/with+chars0123456789abcdefghijklm',
      sessionToken: 'FwoGZXIvYXdzEtoken/with+chars==',
      expiration: new Date(NOW + expiresInMs),
      accountId: '111122223333',
      arn: 'arn:aws:sts::111122223333:assumed-role/Admin/keyrole-alice-bob',
    },
    clockOffsetMs,
    storedAt: new Date(NOW - 5 * MIN),
    ...extra,
  };
}

describe('cacheKey', () => {
  const base = { source: 'alice', roleArn: 'arn:aws:iam::111122223333:role/Admin', durationSeconds: 3600, region: 'eu-west-1' };

  test('is 16 lower-case hex characters (a valid cache file name)', () => {
    assert.match(cacheKey(base), /^[0-9a-f]{16}$/);
  });

  test('is stable under key order', () => {
    const reversed = Object.fromEntries(Object.entries(base).reverse());
    assert.equal(cacheKey(reversed), cacheKey(base));
    assert.equal(cacheKey({ ...base }), cacheKey(base));
  });

  test('changes with any field', () => {
    const k = cacheKey(base);
    const variants: Record<string, unknown>[] = [
      { ...base, source: 'bob' },
      { ...base, roleArn: 'arn:aws:iam::111122223333:role/Other' },
      { ...base, durationSeconds: 3601 },
      { ...base, durationSeconds: '3600' },
      { ...base, region: 'eu-west-2' },
      { ...base, extra: 'x' },
      { ...base, extra: null },
      { source: 'alice' },
    ];
    const keys = variants.map(cacheKey);
    for (const v of keys) assert.notEqual(v, k);
    assert.equal(new Set(keys).size, keys.length, 'all variants differ from each other too');
  });

  test('does not mix up values across fields', () => {
    assert.notEqual(cacheKey({ a: 'b', c: 'd' }), cacheKey({ a: 'b,c', c: undefined }));
    assert.notEqual(cacheKey({ a: 'x', b: 'y' }), cacheKey({ a: 'y', b: 'x' }));
  });

  test('ignores undefined fields', () => {
    assert.equal(cacheKey({ ...base, externalId: undefined }), cacheKey(base));
    assert.equal(cacheKey({ externalId: undefined, ...base, mfa: undefined }), cacheKey(base));
  });
});

describe('planProfile (src/credentials/plan.ts): the parameters that go into the key', () => {
  const s: Settings = {
    profile: 'prod', source: 'alice', roleArn: 'arn:aws:iam::111122223333:role/Admin', durationSeconds: 3600,
    region: 'eu-west-1', regionFrom: 'x', endpoint: undefined, endpointFrom: 'x', sessionName: 'keyrole-alice-bob', shadowing: [],
    sourceKind: 'keychain', sourceProfile: undefined, sso: undefined, mfaSerial: undefined, mfaOnAssume: false, mfaProcess: undefined,
    sessionDurationSeconds: 43200, externalId: undefined, sourceIdentity: undefined, tags: [], transitiveTagKeys: [], policyArns: [], durationExplicit: false,
  };

  test('profiles with the same parameters share an entry', () => {
    assert.equal(keyFor({ ...s, profile: 'other', regionFrom: 'y', endpointFrom: 'y', shadowing: ['role_arn'] }), keyFor(s));
  });

  test('the default regional endpoint and the same URL given explicitly share an entry', () => {
    assert.equal(keyFor({ ...s, endpoint: 'https://sts.eu-west-1.amazonaws.com' }), keyFor(s));
  });

  test('every parameter that changes what STS returns changes the key', () => {
    const variants: Settings[] = [
      { ...s, source: 'bob' },
      { ...s, roleArn: 'arn:aws:iam::111122223333:role/Other' },
      { ...s, roleArn: undefined },
      { ...s, durationSeconds: 7200 },
      { ...s, sessionName: 'other' },
      { ...s, region: 'us-east-1' },
      { ...s, endpoint: 'http://127.0.0.1:4566' },
    ];
    const keys = variants.map(keyFor);
    for (const k of keys) assert.notEqual(k, keyFor(s));
    assert.equal(new Set(keys).size, keys.length);
  });
});

describe('refresh window', () => {
  test('15 minutes for sessions of 1800 s and longer', () => {
    assert.equal(REFRESH_WINDOW_MS, 15 * MIN);
    for (const d of [1800, 3600, 7200, 43200]) assert.equal(refreshWindowMs(d), 15 * MIN, `duration ${d}`);
  });

  test('half the session below 1800 s', () => {
    assert.equal(refreshWindowMs(900), 450_000);
    assert.equal(refreshWindowMs(1200), 600_000);
    assert.equal(refreshWindowMs(1799), 899_500);
  });

  test('a fresh 900 s session is served from the cache (the window never exceeds the session)', () => {
    assert.equal(fresh(entry(900_000), 900, NOW), true);
  });
});

describe('fresh / remainingMs', () => {
  test('remainingMs without clock offset', () => {
    assert.equal(remainingMs(entry(20 * MIN), NOW), 20 * MIN);
  });

  test('exactly at the window boundary is fresh; one millisecond less is not', () => {
    assert.equal(fresh(entry(15 * MIN), 3600, NOW), true);
    assert.equal(fresh(entry(15 * MIN - 1), 3600, NOW), false);
    assert.equal(fresh(entry(15 * MIN), 3600, NOW + 1), false);
    assert.equal(fresh(entry(450_000), 900, NOW), true);
    assert.equal(fresh(entry(450_000 - 1), 900, NOW), false);
  });

  test('a server clock ahead of ours (positive offset) leaves less time', () => {
    const ahead = 2 * MIN;
    const e = entry(15 * MIN + ahead, ahead);
    assert.equal(remainingMs(e, NOW), 15 * MIN);
    assert.equal(fresh(e, 3600, NOW), true);
    assert.equal(fresh(e, 3600, NOW + 1), false);
    assert.equal(fresh(entry(15 * MIN + ahead - 1, ahead), 3600, NOW), false);
    // The same expiration without the offset would still look fresh.
    assert.equal(fresh(entry(15 * MIN + ahead - 1, 0), 3600, NOW), true);
  });

  test('a server clock behind ours (negative offset) leaves more time', () => {
    const behind = -3 * MIN;
    const e = entry(12 * MIN, behind);
    assert.equal(remainingMs(e, NOW), 15 * MIN);
    assert.equal(fresh(e, 3600, NOW), true);
    assert.equal(fresh(e, 3600, NOW + 1), false);
  });

  test('expired entries are never fresh', () => {
    assert.equal(fresh(entry(-1), 900, NOW), false);
    assert.ok(remainingMs(entry(-MIN), NOW) < 0);
  });
});

describe('encodeEntry / decodeEntry', () => {
  test('round trip keeps every field, dates included', () => {
    const e = entry(3_600_000, 1234);
    assert.deepEqual(decodeEntry(encodeEntry(e)), e);
  });

  test('round trip with the optional fields absent', () => {
    const e = entry(3_600_000, -50, { profile: undefined, roleArn: undefined });
    e.credentials.accountId = undefined;
    e.credentials.arn = undefined;
    const d = decodeEntry(encodeEntry(e));
    assert.deepEqual(d, e);
  });

  test('round trip keeps millisecond expirations exactly', () => {
    const e = entry(3_600_123);
    assert.equal(decodeEntry(encodeEntry(e))?.credentials.expiration.getTime(), NOW + 3_600_123);
  });

  const good = JSON.parse(encodeEntry(entry(3_600_000))) as Record<string, unknown>;
  const without = (k: string) => {
    const c = { ...good };
    delete c[k];
    return JSON.stringify(c);
  };
  const withField = (k: string, v: unknown) => JSON.stringify({ ...good, [k]: v });
  const encoded = encodeEntry(entry(3_600_000));

  const bad: [string, string][] = [
    ['empty string', ''],
    ['not JSON', 'hello'],
    ['JSON null', 'null'],
    ['JSON number', '42'],
    ['JSON string', JSON.stringify(encoded)],
    ['JSON array', '[]'],
    ['empty object', '{}'],
    ['truncated', encoded.slice(0, encoded.length - 10)],
    ['truncated to half', encoded.slice(0, encoded.length / 2)],
    ['a keyrole source entry (foreign kind)', encodeSource({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' })],
    ['an AWS CLI cache file', JSON.stringify({ Credentials: { AccessKeyId: 'ASIA', SecretAccessKey: 's', SessionToken: 't', Expiration: '2030-01-01T00:00:00Z' } })],
    ['keyrole version 2', withField('keyrole', 2)],
    ['keyrole "1" as a string', withField('keyrole', '1')],
    ['kind source', withField('kind', 'source')],
    ['no AccessKeyId', without('AccessKeyId')],
    ['no SecretAccessKey', without('SecretAccessKey')],
    ['no SessionToken', without('SessionToken')],
    ['no Expiration', without('Expiration')],
    ['no source', without('source')],
    ['AccessKeyId a number', withField('AccessKeyId', 12345)],
    ['SecretAccessKey empty', withField('SecretAccessKey', '')],
    ['SessionToken null', withField('SessionToken', null)],
    ['source an object', withField('source', { name: 'alice' })],
    ['Expiration not a date', withField('Expiration', 'tomorrow-ish')],
    ['Expiration a number', withField('Expiration', NOW)],
    ['Expiration empty', withField('Expiration', '')],
  ];
  for (const [what, raw] of bad) {
    test(`rejects ${what}`, () => {
      assert.equal(decodeEntry(raw), undefined);
    });
  }

  test('a non-numeric ClockOffsetMs counts as no offset', () => {
    assert.equal(decodeEntry(withField('ClockOffsetMs', 'lots'))?.clockOffsetMs, 0);
    assert.equal(decodeEntry(withField('ClockOffsetMs', null))?.clockOffsetMs, 0);
  });

  test('optional fields of the wrong type are dropped, not passed on', () => {
    const d = decodeEntry(JSON.stringify({ ...good, profile: 7, roleArn: ['x'], AccountId: 1, Arn: {} }));
    assert.ok(d);
    assert.equal(d.profile, undefined);
    assert.equal(d.roleArn, undefined);
    assert.equal(d.credentials.accountId, undefined);
    assert.equal(d.credentials.arn, undefined);
  });

  // An entry keyrole did not write whole must not come back with an Invalid Date in it:
  // the first storedAt.toISOString() would throw a RangeError.
  test('regression: a bad StoredAt is rejected or replaced, never an Invalid Date', () => {
    const d = decodeEntry(withField('StoredAt', 'not a date'));
    if (d !== undefined) assert.ok(!Number.isNaN(d.storedAt.getTime()), `storedAt is ${String(d.storedAt)}`);
  });
});

describe('lookup', () => {
  const mem = (value: string | null, getError?: Error): CacheStore => ({
    ...noStore(),
    kind: 'file',
    get: async () => {
      if (getError) throw getError;
      return value;
    },
  });

  test('a miss, a corrupt entry and a plain read error are all misses', async () => {
    assert.equal(await lookup(mem(null), 'k'), undefined);
    assert.equal(await lookup(mem('{"keyrole":1'), 'k'), undefined);
    assert.equal(await lookup(mem(null, new Error('EIO')), 'k'), undefined);
  });

  test('a valid entry is decoded', async () => {
    assert.deepEqual(await lookup(mem(encodeEntry(entry(MIN))), 'k'), entry(MIN));
  });

  test('security and keychain problems are raised, not hidden as misses', async () => {
    for (const code of ['CacheFileSymlink', 'CacheFileExposed', 'CacheDirWritable', 'KeychainLocked', 'NoSecretService'] as const) {
      await assert.rejects(() => lookup(mem(null, new KeyroleError(code, 'x')), 'k'), (e: unknown) => e instanceof KeyroleError && e.code === code);
    }
  });
});

describe('parseStoreKind', () => {
  test('accepts the three kinds, any case and padding', () => {
    assert.equal(parseStoreKind(' File ', 'x'), 'file');
    assert.equal(parseStoreKind('KEYCHAIN', 'x'), 'keychain');
    assert.equal(parseStoreKind('none', 'x'), 'none');
  });

  test('refuses anything else, naming where it came from', () => {
    assert.throws(() => parseStoreKind('disk', 'KEYROLE_CACHE'), (e: unknown) => e instanceof KeyroleError && e.code === 'BadCacheChoice' && e.message.startsWith('KEYROLE_CACHE = "disk"'));
  });
});
