// cache.ts pure parts: cache keys, the refresh window, freshness, and the entry codec.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKey, paramsDigest, decodeEntry, encodeEntry, servedAsIs, remainingMs, lookup, noStore, type CacheEntry, type CacheStore } from '../../src/credentials/cache.ts';
import { parseStoreKind } from '../../src/config/cachestore.ts';
import { refreshWindowMs, REFRESH_WINDOW_MS } from '../../src/credentials/windows.ts';
import { planProfile, layersOf, type LayerKind } from '../../src/credentials/plan.ts';
import { resolveSettings, type Settings, type SsoRef } from '../../src/config/settings.ts';
import { configSections, parseIni } from '../../src/config/ini.ts';
import type { AssumeRoleInput } from '../../src/aws/sts.ts';
import { withEnv } from '../support/env.ts';
import { encodeSource } from '../../src/keychain/sourcekeys.ts';
import { KeyroleError } from '../../src/util/errors.ts';
import type { AwsFiles } from '../../src/config/files.ts';

const NO_FILES: AwsFiles = { configPath: '/nonexistent/config', credentialsPath: '/nonexistent/credentials', config: {}, credentials: {} };
const keyFor = (s: Settings) => planProfile(NO_FILES, s).key;
// Every variable that changes a profile's region, STS endpoint or default session name.
const PLAN_ENV = ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_STS', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_STS_REGIONAL_ENDPOINTS', 'AWS_USE_FIPS_ENDPOINT', 'AWS_USE_DUALSTACK_ENDPOINT', 'USER', 'LOGNAME', 'USERNAME'];

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
    cache: { value: 'keychain', from: 'the default' },
  };

  test('profiles with the same parameters share an entry', () => {
    assert.equal(keyFor({ ...s, profile: 'other', regionFrom: 'y', endpointFrom: 'y', shadowing: ['role_arn'], cache: { value: 'file', from: '--cache' } }), keyFor(s));
  });

  test('the default regional endpoint and the same URL given explicitly share an entry', () => {
    assert.equal(keyFor({ ...s, endpoint: 'https://sts.eu-west-1.amazonaws.com' }), keyFor(s));
  });

  // What each field of the AssumeRole call (src/aws/sts.ts AssumeRoleInput) is made from,
  // and settings that change it. Typed by the call's fields, so a field added to the call
  // without a line here (and so, likely, without a place in the key) does not compile.
  // tokenCode is the one-time MFA code: a new one on every call, so it cannot be keyed.
  const ROLE_CALL_VARIANTS: Record<keyof AssumeRoleInput, Partial<Settings>[]> = {
    roleArn: [{ roleArn: 'arn:aws:iam::111122223333:role/Other' }],
    sessionName: [{ sessionName: 'other' }],
    durationSeconds: [{ durationSeconds: 7200 }],
    externalId: [{ externalId: 'ext-1' }, { externalId: 'ext-2' }],
    serialNumber: [{ mfaSerial: 'arn:aws:iam::111122223333:mfa/alice', mfaOnAssume: true }, { mfaSerial: 'arn:aws:iam::111122223333:mfa/bob', mfaOnAssume: true }],
    tokenCode: [],
    sourceIdentity: [{ sourceIdentity: 'alice' }, { sourceIdentity: 'bob' }],
    tags: [{ tags: [{ Key: 'team', Value: 'a' }] }, { tags: [{ Key: 'team', Value: 'b' }] }, { tags: [{ Key: 'project', Value: 'a' }] },
      { tags: [{ Key: 'team', Value: 'a' }, { Key: 'project', Value: 'x' }] }],
    transitiveTagKeys: [{ tags: [{ Key: 'team', Value: 'a' }], transitiveTagKeys: ['team'] }, { transitiveTagKeys: ['project'] }],
    policyArns: [{ policyArns: ['arn:aws:iam::aws:policy/ReadOnlyAccess'] }, { policyArns: ['arn:aws:iam::aws:policy/ViewOnlyAccess'] },
      { policyArns: ['arn:aws:iam::aws:policy/ReadOnlyAccess', 'arn:aws:iam::aws:policy/ViewOnlyAccess'] }],
  };
  // And what the call is signed with and sent to, which the call's input does not carry.
  const TARGET_VARIANTS: Partial<Settings>[] = [
    { source: 'bob' },
    { roleArn: undefined },
    { region: 'us-east-1' },
    { endpoint: 'http://127.0.0.1:4566' },
    // The signing region with the endpoint given (differs from the variant above only in it).
    { endpoint: 'http://127.0.0.1:4566', region: 'us-east-1' },
    // The MFA code sent with AssumeRole itself vs. the role signed by the shared MFA session.
    { mfaSerial: 'arn:aws:iam::111122223333:mfa/alice', mfaOnAssume: false },
  ];

  test('every parameter that changes what STS returns changes the key', () => {
    const variants = [...Object.values(ROLE_CALL_VARIANTS).flat(), ...TARGET_VARIANTS];
    const keys = variants.map((v) => keyFor({ ...s, ...v }));
    variants.forEach((v, i) => assert.notEqual(keys[i], keyFor(s), `${JSON.stringify(v)} leaves the key unchanged`));
    assert.equal(new Set(keys).size, keys.length, 'all variants differ from each other too');
  });

  test('every parameter of the MFA session changes its key, and a role\'s settings do not', () => {
    const m: Settings = { ...s, roleArn: undefined, mfaSerial: 'arn:aws:iam::111122223333:mfa/alice' };
    const mfaKey = (v: Partial<Settings>) => {
      const top = planProfile(NO_FILES, { ...m, ...v });
      const l = layersOf(top).find((x) => x.kind === 'mfa-session');
      assert.ok(l, `no mfa-session layer for ${JSON.stringify(v)}`);
      return l.key;
    };
    const variants: Partial<Settings>[] = [
      { source: 'bob' }, { mfaSerial: 'arn:aws:iam::111122223333:mfa/bob' }, { sessionDurationSeconds: 3600 },
      { region: 'us-east-1' }, { endpoint: 'http://127.0.0.1:4566' },
    ];
    const keys = variants.map(mfaKey);
    variants.forEach((v, i) => assert.notEqual(keys[i], mfaKey({}), `${JSON.stringify(v)} leaves the MFA session's key unchanged`));
    assert.equal(new Set(keys).size, keys.length);
    // The session is shared by every role of the source and device.
    const shared: Partial<Settings>[] = [{ roleArn: 'arn:aws:iam::111122223333:role/Admin' }, { sessionName: 'other' }, { durationSeconds: 7200 },
      { externalId: 'ext-1' }, { tags: [{ Key: 'team', Value: 'a' }] }, { policyArns: ['arn:aws:iam::aws:policy/ReadOnlyAccess'] }, { profile: 'other' }];
    for (const v of shared) assert.equal(mfaKey(v), mfaKey({}), `${JSON.stringify(v)} splits the shared MFA session`);
  });

  test('every parameter of an IAM Identity Center role changes its key', () => {
    const sso: SsoRef = { session: 'corp', startUrl: 'https://corp.awsapps.com/start', ssoRegion: 'eu-west-1', registrationScopes: [], accountId: '111122223333', roleName: 'ReadOnly' };
    const o: Settings = { ...s, sourceKind: 'sso', roleArn: undefined, sso, source: 'sso:x' };
    const ssoKey = (v: Partial<SsoRef>) => planProfile(NO_FILES, { ...o, sso: { ...sso, ...v } }).key;
    const variants: Partial<SsoRef>[] = [
      { session: 'other' }, { session: undefined }, { startUrl: 'https://other.awsapps.com/start' }, { ssoRegion: 'us-east-1' },
      { accountId: '444455556666' }, { roleName: 'Admin' },
    ];
    const keys = variants.map(ssoKey);
    variants.forEach((v, i) => assert.notEqual(keys[i], ssoKey({}), `${JSON.stringify(v)} leaves the key unchanged`));
    assert.equal(new Set(keys).size, keys.length);
  });

  // The keys and digests of every layer kind, as this and earlier versions compute them from
  // one config. Two keyrole versions share a store (plan.ts), so a change here is a break:
  // every user's cache misses once, and two versions side by side keep replacing each
  // other's entries. Update these only on purpose.
  const GOLDEN_CONFIG = `
[profile plain]
keyrole_source = alice
region = eu-west-1

[profile admin]
keyrole_source = alice
keyrole_role_arn = arn:aws:iam::111122223333:role/Admin
keyrole_role_session_name = alice-admin
keyrole_duration_seconds = 7200
keyrole_external_id = ext-123
keyrole_source_identity = alice
keyrole_tags = team=platform, project=keyrole
keyrole_transitive_tag_keys = team
keyrole_policy_arns = arn:aws:iam::aws:policy/ReadOnlyAccess
region = eu-west-1

[profile mfa-admin]
keyrole_source = alice
keyrole_role_arn = arn:aws:iam::111122223333:role/Admin
keyrole_mfa_serial = arn:aws:iam::111122223333:mfa/alice
keyrole_session_duration = 28800
region = us-west-2

[profile mfa-on-assume]
keyrole_source = alice
keyrole_role_arn = arn:aws:iam::111122223333:role/Admin
keyrole_mfa_serial = arn:aws:iam::111122223333:mfa/alice
keyrole_mfa_on_assume = true
endpoint_url = http://127.0.0.1:4566

[profile mfa-only]
keyrole_source = alice
keyrole_mfa_serial = arn:aws:iam::111122223333:mfa/alice

[profile sso-read]
keyrole_sso_session = corp
keyrole_sso_account_id = 111122223333
keyrole_sso_role_name = ReadOnly

[profile sso-legacy]
keyrole_sso_start_url = https://legacy.awsapps.com/start
keyrole_sso_region = us-east-1
keyrole_sso_account_id = 444455556666
keyrole_sso_role_name = Admin

[profile chained]
keyrole_source_profile = admin
keyrole_role_arn = arn:aws:iam::444455556666:role/Deploy
keyrole_external_id = ext-456

[profile chained-sso]
keyrole_sso_session = corp
keyrole_sso_account_id = 111122223333
keyrole_sso_role_name = ReadOnly
keyrole_role_arn = arn:aws:iam::444455556666:role/Deploy
region = eu-central-1

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1
sso_registration_scopes = sso:account:access
`;
  // profile → each layer top first: kind, key, paramsDigest(canonical).
  const GOLDEN: Record<string, [LayerKind, string, string][]> = {
    plain: [['session', '5c9098f5a93a6c7a', 'fnv128:768f452705ae0b89318499707fb494d2']],
    admin: [['role', '709f3a6e3fd1c5ca', 'fnv128:bf5b391fa2239632b6c4dacb2e056082']],
    'mfa-admin': [['role', '5703ad57bd567e32', 'fnv128:eeda66afd1b7b15dfa04fe2cd428e44a'], ['mfa-session', 'af3c9b93bbfef19c', 'fnv128:d30f01be051f3fef8b32c0c52139210c']],
    'mfa-on-assume': [['role', '501c9f9fbf8906e8', 'fnv128:fb44d1be89b57582c678ff4fef4e2ff8']],
    'mfa-only': [['mfa-session', 'c1fc13800336364b', 'fnv128:e1a53a2ae405f69333f1e4d673b26ccb']],
    'sso-read': [['sso-role', 'ba98f7502138de13', 'fnv128:0536f4023ec3f17f6224ad2d2ca4ee4b']],
    'sso-legacy': [['sso-role', '7ae6f25eb361f83f', 'fnv128:158e492282441c88e0db2328b31db527']],
    chained: [['chained-role', '147c9908f3cb7d5c', 'fnv128:b225295acb569d41ddaca6601af5c1fc'], ['role', '709f3a6e3fd1c5ca', 'fnv128:bf5b391fa2239632b6c4dacb2e056082']],
    'chained-sso': [['chained-role', 'c9f909871828792e', 'fnv128:a7c96a216f7cef32b4bbc7bd40e90d0e'], ['sso-role', 'ba98f7502138de13', 'fnv128:0536f4023ec3f17f6224ad2d2ca4ee4b']],
  };

  test('every layer kind keeps its key and digest across versions', () => {
    const files: AwsFiles = { ...NO_FILES, config: configSections(parseIni(GOLDEN_CONFIG)) };
    // The default session name carries the login name: the chained profile's base reads it from USER.
    const got = withEnv({ USER: 'alice' }, () => Object.fromEntries(Object.keys(GOLDEN).map((p) => [p,
      layersOf(planProfile(files, resolveSettings(files, p, {}, 'alice'))).map((l): [LayerKind, string, string] => [l.kind, l.key, paramsDigest(l.canonical)])])),
    PLAN_ENV);
    assert.deepEqual(got, GOLDEN);
    assert.deepEqual(new Set(Object.values(GOLDEN).flat().map(([kind]) => kind)), new Set(['session', 'mfa-session', 'role', 'sso-role', 'chained-role']), 'every kind has a golden');
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

  test('a new 900 s session is served from the cache (the window never exceeds the session)', () => {
    assert.equal(servedAsIs(entry(900_000), 900, NOW), true);
  });
});

describe('servedAsIs / remainingMs', () => {
  test('remainingMs without clock offset', () => {
    assert.equal(remainingMs(entry(20 * MIN), NOW), 20 * MIN);
  });

  test('exactly at the window boundary is served as it is; one millisecond less is not', () => {
    assert.equal(servedAsIs(entry(15 * MIN), 3600, NOW), true);
    assert.equal(servedAsIs(entry(15 * MIN - 1), 3600, NOW), false);
    assert.equal(servedAsIs(entry(15 * MIN), 3600, NOW + 1), false);
    assert.equal(servedAsIs(entry(450_000), 900, NOW), true);
    assert.equal(servedAsIs(entry(450_000 - 1), 900, NOW), false);
  });

  test('a server clock ahead of ours (positive offset) leaves less time', () => {
    const ahead = 2 * MIN;
    const e = entry(15 * MIN + ahead, ahead);
    assert.equal(remainingMs(e, NOW), 15 * MIN);
    assert.equal(servedAsIs(e, 3600, NOW), true);
    assert.equal(servedAsIs(e, 3600, NOW + 1), false);
    assert.equal(servedAsIs(entry(15 * MIN + ahead - 1, ahead), 3600, NOW), false);
    // The same expiration without the offset would still be served as it is.
    assert.equal(servedAsIs(entry(15 * MIN + ahead - 1, 0), 3600, NOW), true);
  });

  test('a server clock behind ours (negative offset) leaves more time', () => {
    const behind = -3 * MIN;
    const e = entry(12 * MIN, behind);
    assert.equal(remainingMs(e, NOW), 15 * MIN);
    assert.equal(servedAsIs(e, 3600, NOW), true);
    assert.equal(servedAsIs(e, 3600, NOW + 1), false);
  });

  test('expired entries are never served as they are', () => {
    assert.equal(servedAsIs(entry(-1), 900, NOW), false);
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
