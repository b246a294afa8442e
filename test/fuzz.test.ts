// Property-based fuzzing of everything keyrole reads from outside: the config parser and the
// profile resolution, the cache entry and keychain source decoders, STS and IAM Identity
// Center error and response handling, and the NTP and Date-header clock inputs. Fixed seeds
// and a bounded number of runs (each property also stops at TIME_LIMIT_MS) keep CI
// deterministic. Counterexamples found are kept below as named regression cases.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeyroleError } from '../src/util/errors.ts';
import { configSections, parseIni, scanSection } from '../src/config/ini.ts';
import { KEYROLE_KEYS, checkProfileKeys } from '../src/config/checks.ts';
import { resolveSettings } from '../src/config/settings.ts';
import { type AwsFiles } from '../src/config/files.ts';
import { decodeEntry, encodeEntry, localExpiration, type CacheEntry } from '../src/credentials/cache.ts';
import { decodeSource, encodeSource, keyShapeProblem } from '../src/keychain/sourcekeys.ts';
import { stsError, type StsTarget } from '../src/aws/sts.ts';
import { decodeRecord, encodeRecord } from '../src/sso/record.ts';
import { ssoError } from '../src/sso/client.ts';
import { parseReply } from '../src/clock/ntp.ts';
import { dateSampleFrom, ntpSampleFrom } from '../src/clock/estimate.ts';
import { parseMemory } from '../src/clock/memory.ts';
import { credentialBlob } from '../src/credentials/blob.ts';
import { Recorder } from '../scripts/robustness-doc.ts';
import { DbusProtocolError, decodeMessage, encodeReturn, messageLength, splitTypes, MAX_MESSAGE } from '../src/keychain/dbus.ts';
import { handMade } from './support/fakebus.ts';

const rec = new Recorder('fuzz', 'test/fuzz.test.ts');
const TIME_LIMIT_MS = 5000;

/** Runs a property with a fixed seed; records a row when no counterexample turns up. */
function property<T>(name: string, target: string, expected: string, runs: number, seed: number, arb: fc.Arbitrary<T>, check: (v: T) => void) {
  test(name, (t) => {
    const out = fc.check(fc.property(arb, (v) => { check(v); }), { seed, numRuns: runs, interruptAfterTimeLimit: TIME_LIMIT_MS });
    if (out.failed) {
      throw new Error(`counterexample (seed ${seed}, path ${out.counterexamplePath}): ${fc.stringify(out.counterexample)}\n${String(out.errorInstance)}`);
    }
    t.diagnostic(`${out.numRuns} runs${out.interrupted ? ' (stopped at the time limit)' : ''}`);
    rec.add(name, `${target} (${runs} runs, seed ${seed})`, expected, 'no counterexample');
  });
}

/** Anything thrown must be a KeyroleError whose line is one short line. */
function onlyKeyroleErrors(run: () => void): void {
  try {
    run();
  } catch (err) {
    if (!(err instanceof KeyroleError)) throw new Error(`threw ${(err as Error)?.name}: ${(err as Error)?.message}`, { cause: err });
    assertOneLine(err);
  }
}

function assertOneLine(err: KeyroleError): void {
  const line = err.line();
  assert.doesNotMatch(line, /[\r\n]/, `not one line: ${JSON.stringify(line)}`);
  assert.ok(line.length < 1500, `a ${line.length}-character line`);
}

// ---- generators ----

const anyText = fc.string({ unit: 'binary', maxLength: 200 });
const names = fc.constantFrom('prod', 'default', 'a b', 'x.y', '__proto__', 'constructor', 'hasOwnProperty', 'p"q', "'q'", '', 'é', 'a\tb');
const header = fc.oneof(
  fc.tuple(fc.constantFrom('profile ', 'sso-session ', 'services ', '', 'weird ', 'profile  '), names).map(([t, n]) => `[${t}${n}]`),
  anyText.map((s) => `[${s}`),
  anyText.map((s) => `[${s}]`),
);
const keys = fc.oneof(fc.constantFrom(...KEYROLE_KEYS, 'region', 'keyrole_rol_arn', 'keyrole_', 's3', 'sts', 'services', 'endpoint_url', 'source_profile', ''), fc.string({ maxLength: 12 }));
const values = fc.oneof(
  fc.constantFrom('', 'alice', 'soon', '3600', '899', '43201', 'arn:aws:iam::111122223333:role/Admin', 'a # c', 'x ;y', 'true', 'maybe', 'file', 'disk', 'prod', 'Team=x, Env=y', 'http://127.0.0.1:1', '99999999999999999999'),
  anyText,
);
const line = fc.oneof(
  { weight: 2, arbitrary: header },
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom('', '  ', '\t'), keys, fc.constantFrom('=', ' = ', ' =', '= '), values).map(([i, k, e, v]) => `${i}${k}${e}${v}`) },
  { weight: 1, arbitrary: fc.constantFrom('# c', '; c', '', '   ', 'junk', 'keyrole_role_arn arn:aws:iam::1:role/x', '\uFEFF[profile prod]') },
  { weight: 1, arbitrary: anyText },
);
const iniText = fc.tuple(fc.array(line, { maxLength: 25 }), fc.constantFrom('\n', '\r\n', '\r')).map(([ls, nl]) => ls.join(nl));

function filesOf(text: string): AwsFiles {
  return { configPath: '/nonexistent/config', credentialsPath: '/nonexistent/credentials', config: configSections(parseIni(text)), credentials: Object.create(null) as AwsFiles['credentials'], configText: text };
}

const token = fc.oneof(fc.stringMatching(/^[A-Za-z0-9/+=]{16,60}$/), anyText);
const date = fc.oneof(
  fc.date({ noInvalidDate: false }).map((d) => (isNaN(d.getTime()) ? 'not a date' : d.toISOString())),
  fc.constantFrom('+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '2026-01-01', '', '2019-11-14T04:05:45UTC'),
  anyText,
);
const validEntry = (): Record<string, unknown> => JSON.parse(encodeEntry({
  params: '[["source","a"]]', source: 'a', profile: 'prod', roleArn: 'arn:aws:iam::111122223333:role/Admin',
  credentials: { accessKeyId: 'ASIAEXAMPLE000000001', secretAccessKey: 's'.repeat(40), sessionToken: 't'.repeat(200), expiration: new Date(Date.now() + 3600_000), accountId: '111122223333' },
  clockOffsetMs: 0, storedAt: new Date(),
})) as Record<string, unknown>;
const mutatedEntry = fc.record({
  field: fc.constantFrom('keyrole', 'kind', 'params', 'source', 'profile', 'roleArn', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration', 'AccountId', 'Arn', 'ClockOffsetMs', 'StoredAt'),
  value: fc.oneof(fc.jsonValue(), token, date, fc.double(), fc.constantFrom(-1e20, 1e20, Infinity, NaN, -0, 899_999, 900_001)),
}, { requiredKeys: [] }).map(({ field, value }) => {
  const e = validEntry();
  if (field !== undefined) e[field] = value;
  return JSON.stringify(e);
});

// ---- properties ----

describe('fuzz: config', () => {
  property('parseIni and configSections throw nothing but KeyroleError', 'src/config/ini.ts parseIni, configSections on generated INI and arbitrary text',
    'no crash; only a one-line KeyroleError (a __proto__ section)', 10000, 101, fc.oneof(iniText, anyText), (text) => onlyKeyroleErrors(() => { configSections(parseIni(text)); }));

  property('scanSection sees the keys parseIni keeps', 'src/config/ini.ts scanSection against parseIni, every section',
    'the same key set, so duplicate detection is about the keys the SDK reads', 6000, 102, iniText, (text) => {
      let parsed: ReturnType<typeof parseIni>;
      try { parsed = parseIni(text); } catch { return; }
      for (const [sectionKey, section] of Object.entries(parsed)) {
        const scanned = new Set(scanSection(text, sectionKey).keys.map((k) => k.key));
        assert.deepEqual(scanned, new Set(Object.keys(section!)), `section ${sectionKey}`);
      }
    });

  property('profile resolution throws nothing but one-line KeyroleErrors', 'src/config/settings.ts resolveSettings and src/config/checks.ts checkProfileKeys for every profile name',
    'settings within their ranges, or one KeyroleError line', 8000, 103, fc.tuple(iniText, names, fc.record({ duration: fc.option(values, { nil: undefined }), roleArn: fc.option(values, { nil: undefined }), source: fc.option(values, { nil: undefined }) })),
    ([text, profile, o]) => {
      let files: AwsFiles;
      try { files = filesOf(text); } catch (err) { assert.ok(err instanceof KeyroleError); return; }
      onlyKeyroleErrors(() => {
        const section = files.config[profile];
        if (section) checkProfileKeys(files, profile, section);
        const s = resolveSettings(files, profile, o, 'user');
        assert.ok(Number.isSafeInteger(s.durationSeconds) && s.durationSeconds >= 900 && s.durationSeconds <= 43200);
        assert.match(s.sessionName, /^[\w+=,.@-]{2,64}$/);
        assert.ok(s.region.length > 0);
      });
    });
});

describe('fuzz: stored entries', () => {
  property('decodeEntry never throws and returns only whole entries', 'src/credentials/cache.ts decodeEntry on arbitrary JSON, mutated entries and arbitrary text',
    'undefined, or an entry that encodes, decodes to itself, and prints as a blob', 15000, 201, fc.oneof(mutatedEntry, fc.jsonValue().map((v) => JSON.stringify(v)), anyText), (raw) => {
      const e = decodeEntry(raw);
      if (!e) return;
      checkEntry(e);
    });

  property('decodeSource never throws and returns only key pairs of the right shape', 'src/keychain/sourcekeys.ts decodeSource on arbitrary JSON and text',
    'undefined, or an AKIA… id with a 40-character secret that round-trips', 10000, 202,
    fc.oneof(
      fc.record({ keyrole: fc.oneof(fc.constant(1), fc.jsonValue()), kind: fc.oneof(fc.constant('source'), fc.jsonValue()), AccessKeyId: fc.oneof(fc.stringMatching(/^AKIA[A-Z0-9]{16}$/), token), SecretAccessKey: fc.oneof(fc.stringMatching(/^[A-Za-z0-9/+]{40}$/), token), StoredAt: fc.jsonValue() }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      anyText,
    ), (raw) => {
      const s = decodeSource(raw);
      if (!s) return;
      assert.equal(keyShapeProblem(s.accessKeyId, s.secretAccessKey), undefined);
      assert.deepEqual(decodeSource(encodeSource(s)), s);
    });

  property('decodeRecord never throws and returns only valid SSO records', 'src/sso/record.ts decodeRecord on arbitrary JSON and mutated records',
    'undefined, or a record whose dates are valid and that round-trips', 6000, 203,
    fc.oneof(
      fc.record({ keyrole: fc.oneof(fc.constant(1), fc.jsonValue()), kind: fc.oneof(fc.constant('sso-session'), fc.jsonValue()), startUrl: fc.oneof(fc.constant('https://x.awsapps.com/start'), fc.jsonValue()), region: fc.oneof(fc.constant('eu-west-1'), fc.jsonValue()), scopes: fc.jsonValue(), clientId: fc.jsonValue(), clientSecret: fc.jsonValue(), registrationExpiresAt: fc.oneof(date, fc.jsonValue()), accessToken: fc.oneof(token, fc.jsonValue()), expiresAt: fc.oneof(date, fc.jsonValue()), refreshToken: fc.jsonValue(), obtainedAt: fc.oneof(date, fc.jsonValue()) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      anyText,
    ), (raw) => {
      const r = decodeRecord(raw);
      if (!r) return;
      for (const d of [r.registrationExpiresAt, r.expiresAt, r.obtainedAt]) if (d !== undefined) assert.ok(!isNaN(d.getTime()));
      assert.ok(Array.isArray(r.scopes) && r.scopes.every((x) => typeof x === 'string'));
      assert.deepEqual(decodeRecord(encodeRecord(r)), r);
    });

  property('parseMemory never throws and keeps only finite numbers', 'src/clock/memory.ts parseMemory (clock.json) on arbitrary JSON and text',
    'an empty memory, or one whose numbers are finite', 8000, 204, fc.oneof(fc.record({ v: fc.oneof(fc.constant(1), fc.jsonValue()), ntp: fc.jsonValue(), date: fc.jsonValue() }, { requiredKeys: [] }).map((v) => JSON.stringify(v)), anyText), (raw) => {
      const m = parseMemory(raw);
      for (const n of [m.ntp?.at, m.ntp?.mono, m.ntp?.offsetMs, m.date?.at, m.date?.offsetMs, m.date?.uncertaintyMs]) if (n !== undefined) assert.ok(Number.isFinite(n));
    });
});

describe('fuzz: service answers', () => {
  const t: StsTarget = { region: 'eu-west-1', endpoint: 'http://127.0.0.1:4566', endpointFrom: 'AWS_ENDPOINT_URL_STS' };
  const sdkError = fc.record({
    name: fc.oneof(fc.constantFrom('AccessDenied', 'ExpiredToken', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'ValidationError', 'Throttling', 'RegionDisabledException', 'MalformedPolicyDocument', 'TimeoutError', 'AbortError', 'Error', 'UnauthorizedException', 'ForbiddenException', 'SlowDownException', 'InvalidClientException'), anyText),
    code: fc.oneof(fc.constantFrom('ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'HPE_INVALID_CONSTANT', 'EPIPE', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), anyText),
    message: fc.oneof(fc.constantFrom('invalid MFA one time pass code', 'Signature expired: x', 'role chaining', 'The requested DurationSeconds exceeds the MaxSessionDuration', 'Deserialization error: x'), fc.string({ unit: 'binary', maxLength: 5000 })),
    error_description: anyText,
    $metadata: fc.record({ httpStatusCode: fc.integer({ min: 100, max: 599 }) }, { requiredKeys: [] }),
    // OIDC's RFC 6749 field, and the query-protocol Code a generic exception may carry.
    error: anyText,
    Code: anyText,
  }, { requiredKeys: [] });

  property('stsError always gives one line', 'src/aws/sts.ts stsError on arbitrary SDK-like errors (names, codes, 5 KB messages with newlines, KeyroleErrors)',
    'a KeyroleError whose line is one line under 1500 characters', 8000, 301,
    fc.oneof(sdkError, fc.string({ unit: 'binary', maxLength: 3000 }).map((m) => new KeyroleError('StsMalformed', m, 'fix it')), fc.jsonValue(), fc.constantFrom(null, undefined, 42, 'a string')),
    (err) => {
      const e = stsError(err, t, 'AssumeRole arn:aws:iam::111122223333:role/Admin');
      assert.ok(e instanceof KeyroleError);
      assertOneLine(e);
    });

  property('ssoError always gives one line', 'src/sso/client.ts ssoError on arbitrary SDK-like errors',
    'a KeyroleError whose line is one line under 1500 characters', 8000, 302,
    fc.oneof(sdkError, fc.jsonValue(), fc.constant(null)), (err) => {
      const e = ssoError(err, 'role Admin in account 111122223333', 'http://127.0.0.1:4566', 'corp');
      assert.ok(e instanceof KeyroleError);
      assertOneLine(e);
    });

  property('NTP replies: parseReply and ntpSampleFrom never misbehave', 'src/clock/ntp.ts parseReply and src/clock/estimate.ts ntpSampleFrom on arbitrary packets',
    'a short packet is an Error; any other gives a reason to drop it or finite offset and delay', 20000, 303, fc.uint8Array({ maxLength: 96 }), (bytes) => {
      const buf = Buffer.from(bytes);
      let reply;
      try {
        reply = parseReply(buf, new Date());
      } catch (err) {
        assert.ok(buf.length < 48, `threw for a ${buf.length}-byte packet: ${(err as Error).message}`);
        return;
      }
      const s = ntpSampleFrom(reply, '127.0.0.1:123', Date.now() - 1000);
      if (typeof s !== 'string') assert.ok(Number.isFinite(s.offsetMs) && Number.isFinite(s.rttMs) && s.rttMs >= 0);
    });

  // The D-Bus reader (src/keychain/dbus.ts) reads whatever DBUS_SESSION_BUS_ADDRESS points at.
  const getSecretsReply = encodeReturn(9, 4, 'a{o(oayays)}', [[['/org/freedesktop/secrets/collection/login/1', ['/org/freedesktop/secrets/session/1', Buffer.alloc(0), Buffer.from('{"keyrole":1}'), 'text/plain']]]]);
  /** Whatever messageLength and decodeMessage do with these bytes: a DbusProtocolError, 0 (more needed), or a message. */
  const readsOrRefuses = (buf: Buffer) => {
    try {
      const n = messageLength(buf);
      assert.ok(n >= 0 && n <= Math.min(buf.length, MAX_MESSAGE));
      if (n > 0) decodeMessage(buf.subarray(0, n));
    } catch (err) {
      if (!(err instanceof DbusProtocolError)) throw new Error(`threw ${(err as Error)?.name}: ${(err as Error)?.message}`, { cause: err });
    }
  };
  property('D-Bus messages: mutated replies are read or refused, nothing else', 'src/keychain/dbus.ts messageLength and decodeMessage on a GetSecrets reply with up to 8 bytes overwritten, cut or extended',
    'a DbusProtocolError (the connection is dropped) or a message; never another exception or a loop', 20000, 305,
    fc.tuple(fc.array(fc.tuple(fc.nat(getSecretsReply.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(getSecretsReply.length), fc.uint8Array({ maxLength: 16 })),
    ([writes, cut, tail]) => {
      const buf = Buffer.from(getSecretsReply);
      for (const [at, v] of writes) buf[at] = v;
      readsOrRefuses(Buffer.concat([buf.subarray(0, cut), tail]));
    });

  const sigChars = fc.constantFrom(...'ybnqiuxtdsogvha(){}'.split(''));
  property('D-Bus messages: any signature over any body is read or refused', 'src/keychain/dbus.ts decodeMessage on hand-made replies: a signature of up to 12 of the type characters, 0–256 random body bytes (zero-heavy, so arrays and structs get far)',
    'a DbusProtocolError or a message; signatures the specification forbids (empty structs, loose dict entries) always refused', 20000, 306,
    fc.tuple(fc.array(sigChars, { maxLength: 12 }).map((a) => a.join('')), fc.uint8Array({ maxLength: 256 }).map((b) => b.map((x) => (x < 160 ? 0 : x)))),
    ([sig, body]) => {
      readsOrRefuses(handMade(sig, Buffer.from(body)));
      if (/\(\)|(^|[^a])\{/.test(sig)) assert.throws(() => splitTypes(sig), DbusProtocolError);
    });

  property('D-Bus messages: arbitrary bytes are read or refused', 'src/keychain/dbus.ts messageLength and decodeMessage on arbitrary bytes after a valid fixed header',
    'a DbusProtocolError, more bytes wanted, or a message', 20000, 307,
    fc.tuple(fc.constantFrom(1, 2, 3, 4), fc.uint8Array({ maxLength: 300 })), ([type, rest]) => {
      const head = Buffer.alloc(16);
      head[0] = 0x6c;
      head[1] = type;
      head[3] = 1;
      head.writeUInt32LE(rest.length > 16 ? rest[0] : 0, 4);
      head.writeUInt32LE(1, 8);
      head.writeUInt32LE(Math.max(0, rest.length - 8), 12);
      readsOrRefuses(Buffer.concat([head, Buffer.from(rest)]));
    });

  property('Date headers: dateSampleFrom never misbehaves', 'src/clock/estimate.ts dateSampleFrom on arbitrary Date header strings',
    'undefined, or a finite offset and uncertainty', 10000, 304, fc.tuple(fc.oneof(anyText, fc.date({ noInvalidDate: false }).map((d) => (isNaN(d.getTime()) ? 'x' : d.toUTCString()))), fc.nat(10_000)), ([header, rtt]) => {
      const now = Date.now();
      const s = dateSampleFrom(header, now - rtt, now);
      if (s) assert.ok(Number.isFinite(s.offsetMs) && Number.isFinite(s.uncertaintyMs));
    });
});

function checkEntry(e: CacheEntry): void {
  for (const v of [e.credentials.accessKeyId, e.credentials.secretAccessKey, e.credentials.sessionToken]) assert.match(v, /^[\x21-\x7e]+$/);
  assert.ok(!isNaN(e.credentials.expiration.getTime()) && !isNaN(e.storedAt.getTime()));
  assert.ok(Number.isFinite(e.clockOffsetMs));
  assert.equal(typeof e.params, 'string');
  assert.deepEqual(decodeEntry(encodeEntry(e)), e);
  const blob = JSON.parse(credentialBlob(e.credentials, localExpiration(e))) as { Version: number; AccessKeyId: string; Expiration: string };
  assert.equal(blob.Version, 1);
  assert.equal(blob.AccessKeyId, e.credentials.accessKeyId);
  assert.match(blob.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
}

// ---- counterexamples found, kept ----

describe('fuzz: regressions', () => {
  const entry = (patch: Record<string, unknown>) => JSON.stringify({ ...validEntry(), ...patch });
  const t: StsTarget = { region: 'r', endpoint: undefined, endpointFrom: 'default' };

  /** A counterexample kept: recorded in docs/robustness.md once it holds. */
  function regression(name: string, found: string, expected: string, check: () => void) {
    test(`regression: ${name}`, () => {
      check();
      rec.add(`regression: ${name}`, found, expected, 'holds');
    });
  }

  regression('a cache entry with ClockOffsetMs -1e20', 'decodeEntry accepted it; the blob then threw RangeError (Invalid Date): "unexpected error"', 'rejected as not keyrole\'s', () => {
    assert.equal(decodeEntry(entry({ ClockOffsetMs: -1e20 })), undefined);
    assert.equal(decodeEntry(entry({ ClockOffsetMs: 900_001 })), undefined);
    const ok = decodeEntry(entry({ ClockOffsetMs: -899_999 }));
    assert.ok(ok);
    checkEntry(ok);
  });

  regression('a cache entry expiring in year 275760', 'accepted; the local expiration fell outside Date\'s range', 'rejected', () => {
    assert.equal(decodeEntry(entry({ Expiration: '+275760-09-13T00:00:00.000Z' })), undefined);
    assert.equal(decodeEntry(entry({ Expiration: '+010000-01-01T00:00:00.000Z' })), undefined);
  });

  regression('a control character in a cached secret', 'accepted; a NUL in AWS_SESSION_TOKEN makes exec\'s spawn throw', 'rejected', () => {
    assert.equal(decodeEntry(entry({ SessionToken: 'a\u0000b' })), undefined);
    assert.equal(decodeEntry(entry({ SecretAccessKey: 'a\nb' })), undefined);
  });

  regression('an SDK error with line breaks or 5 KB of message', 'stsError passed a 5 KB message through whole', 'one line under 1500 characters', () => {
    assertOneLine(stsError({ name: 'Weird\nName', message: `a\nb\r\n${'x'.repeat(5000)}` }, t, 'AssumeRole'));
    assertOneLine(stsError(new KeyroleError('StsMalformed', 'thrown in a body\n  Deserialization error: to see the raw response…'), t, 'AssumeRole'));
  });

  regression('stsError on null, undefined and an object without a prototype', 'TypeError reading err.name; String() of a null-prototype object throws', 'a one-line KeyroleError', () => {
    for (const v of [null, undefined, Object.create(null) as object]) assertOneLine(stsError(v, t, 'AssumeRole'));
  });

  regression('a keyrole line without "=" in the profile', 'the SDK drops the line; keyrole then said "names no source" or used no role', 'reported with the line number', () => {
    assert.throws(() => resolveSettings(filesOf('[profile p]\nkeyrole_source = a\nkeyrole_role_arn arn:aws:iam::111122223333:role/Admin\n'), 'p', {}, 'u'), /line 3 .* has no '='/);
  });
});

rec.docTest(20);
