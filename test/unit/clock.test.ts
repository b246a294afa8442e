// src/clock/: the decisions as pure functions (offset → action, Expiration translation, the
// two sources and how they combine, the messages), the remembered measurement, and the
// bounded NTP query against a fake NTP server and a dead port on loopback.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { AWS_SKEW_LIMIT_MS, IN_SYNC_MS, MAX_CORRECTABLE_MS, classify, combine, dateHeaderOf, dateSampleFrom, effectiveOffset, ntpSampleFrom, type DateSample, type Estimate, type NtpSample } from '../../src/clock/estimate.ts';
import { NTP_BUDGET_MS, queryNtp } from '../../src/clock/measure.ts';
import { clockConfig, parseNtpServers } from '../../src/clock/servers.ts';
import { clockError, clockFix, describeOffset } from '../../src/clock/messages.ts';
import { clockSession } from '../../src/clock/clock.ts';
import { parseMemory, readMemory, stillValid, writeMemory } from '../../src/clock/memory.ts';
import { KeyroleError } from '../../src/util/errors.ts';
import { localExpiration, type CacheEntry } from '../../src/credentials/cache.ts';
import { tempDir } from '../support/tmp.ts';

const MIN = 60_000;
const ntp = (offsetMs: number): NtpSample => ({ offsetMs, rttMs: 1, server: 'time.example' });
const date = (offsetMs: number, uncertaintyMs = 600): DateSample => ({ offsetMs, uncertaintyMs, endpoint: 'https://sts.example' });
const est = (offsetMs: number): Estimate => combine(ntp(offsetMs), undefined);

describe('classify: offset → action', () => {
  test('under 5 s is in sync, either way', () => {
    for (const o of [0, 1, -1, 4999, -4999]) assert.equal(classify(est(o)), 'in-sync', String(o));
  });
  test('from 5 s to 14 min is corrected, either way', () => {
    for (const o of [IN_SYNC_MS, -IN_SYNC_MS, 10 * MIN, -10 * MIN, MAX_CORRECTABLE_MS, -MAX_CORRECTABLE_MS]) assert.equal(classify(est(o)), 'corrected', String(o));
  });
  test('beyond 14 min is rejected, either way, well before AWS\'s 15', () => {
    assert.equal(MAX_CORRECTABLE_MS, 14 * MIN);
    assert.ok(MAX_CORRECTABLE_MS < AWS_SKEW_LIMIT_MS);
    for (const o of [MAX_CORRECTABLE_MS + 1, -MAX_CORRECTABLE_MS - 1, 15 * MIN, 20 * MIN, -20 * MIN, 24 * 60 * MIN]) assert.equal(classify(est(o)), 'rejected', String(o));
  });
  test('no source is "unchecked", never a failure', () => {
    const none = combine(undefined, undefined);
    assert.equal(classify(none), 'unchecked');
    assert.equal(effectiveOffset(none), 0);
  });
  test('the offset acted on is 0 when in sync, the measured one when corrected', () => {
    assert.equal(effectiveOffset(est(1234)), 0);
    assert.equal(effectiveOffset(est(-600_000.4)), -600_000);
    assert.equal(effectiveOffset(est(601_000)), 601_000);
  });
});

describe('Expiration translation (localExpiration, the one the cache and commands use)', () => {
  const inLocalFrame = (expiration: Date, clockOffsetMs: number) => localExpiration({ credentials: { expiration }, clockOffsetMs } as CacheEntry);
  const serverNow = Date.parse('2030-06-01T12:00:00Z');
  const expiration = new Date(serverNow + 3600_000);

  test('a clock 10 min ahead gets an Expiration 10 min later', () => {
    assert.equal(inLocalFrame(expiration, -10 * MIN).toISOString(), '2030-06-01T13:10:00.000Z');
  });
  test('a clock 10 min behind gets an Expiration 10 min earlier', () => {
    assert.equal(inLocalFrame(expiration, 10 * MIN).toISOString(), '2030-06-01T12:50:00.000Z');
  });
  test('the time left by the local clock equals the time left by the server\'s', () => {
    for (const offset of [-13 * MIN, -600_000, -7_000, 0, 7_000, 600_000, 13 * MIN]) {
      const localNow = serverNow - offset;
      assert.equal(inLocalFrame(expiration, offset).getTime() - localNow, 3600_000, String(offset));
    }
  });
  test('with a 900 s role and a clock 10 min ahead, botocore still sees 15 min left (not 5, inside its mandatory 10)', () => {
    const exp = new Date(serverNow + 900_000);
    const offset = -10 * MIN;
    const localNow = serverNow - offset;
    assert.equal(exp.getTime() - localNow, 300_000, 'untranslated: 5 min left by the local clock');
    assert.equal(inLocalFrame(exp, effectiveOffset(est(offset))).getTime() - localNow, 900_000);
  });
});

describe('combine: NTP and the Date header', () => {
  test('agreeing within the Date header\'s resolution: NTP\'s precise figure is kept', () => {
    const e = combine(ntp(-600_000), date(-600_400));
    assert.equal(e.source, 'ntp');
    assert.equal(e.offsetMs, -600_000);
    assert.equal(e.note, undefined);
  });
  test('disagreeing: AWS\'s own clock wins, and the disagreement is noted', () => {
    const e = combine(ntp(0), date(600_000));
    assert.equal(e.source, 'date');
    assert.equal(e.offsetMs, 600_000);
    assert.match(e.note!, /going with AWS/);
  });
  test('one source alone is used as it is', () => {
    assert.equal(combine(undefined, date(42_000)).offsetMs, 42_000);
    assert.equal(combine(undefined, date(42_000)).label, 'from the Date header of https://sts.example');
    assert.equal(combine(ntp(-42_000), undefined).label, 'against NTP server time.example');
  });
});

describe('NTP reply → sample (RFC 5905 on-wire offset)', () => {
  const base = Date.parse('2030-06-01T12:00:00Z');
  const reply = (t1: number, t2: number, t3: number, t4: number, extra: Record<string, unknown> = {}) => ({
    leapIndicator: 0, mode: 4, stratum: 2,
    originTimestamp: new Date(t1), receiveTimestamp: new Date(t2), transmitTimestamp: new Date(t3), destinationTimestamp: new Date(t4),
    ...extra,
  });

  test('a symmetric path gives the exact offset and the round trip', () => {
    // local clock 600 s ahead; 10 ms each way; 2 ms in the server
    const t1 = base + 600_000, t2 = base + 10, t3 = base + 12, t4 = base + 600_000 + 22;
    const s = ntpSampleFrom(reply(t1, t2, t3, t4), 'x', t1 - 1) as NtpSample;
    assert.equal(s.offsetMs, -600_000);
    assert.equal(s.rttMs, 20);
  });
  test('a clock behind gives a positive offset', () => {
    const s = ntpSampleFrom(reply(base - 1200_000, base + 1, base + 1, base - 1200_000 + 2), 'x', base - 1200_000) as NtpSample;
    assert.equal(s.offsetMs, 1200_000);
  });
  test('unsynchronised, kiss-o\'-death, non-server and foreign replies are dropped with a reason', () => {
    const ok = [base, base, base, base] as const;
    assert.match(ntpSampleFrom(reply(...ok, { leapIndicator: 3 }), 'x', base) as string, /not synchronised/);
    assert.match(ntpSampleFrom(reply(...ok, { stratum: 0 }), 'x', base) as string, /stratum 0/);
    assert.match(ntpSampleFrom(reply(...ok, { stratum: 16 }), 'x', base) as string, /stratum 16/);
    assert.match(ntpSampleFrom(reply(...ok, { mode: 3 }), 'x', base) as string, /mode 3/);
    assert.match(ntpSampleFrom(reply(base - 60_000, base, base, base), 'x', base) as string, /does not answer this request/);
    assert.match(ntpSampleFrom({ mode: 4, stratum: 2, leapIndicator: 0 }, 'x', base) as string, /malformed/);
  });
});

describe('Date header → sample', () => {
  test('the header\'s whole second is centred, the uncertainty is half a second plus half the round trip', () => {
    const sent = Date.parse('2030-06-01T12:10:00.100Z');
    const s = dateSampleFrom('Sat, 01 Jun 2030 12:00:00 GMT', sent, sent + 200, 'e')!;
    assert.equal(s.offsetMs, Date.parse('2030-06-01T12:00:00.500Z') - (sent + 100));
    assert.equal(s.uncertaintyMs, 600);
    assert.equal(s.endpoint, 'e');
  });
  test('missing or unparsable headers give nothing', () => {
    assert.equal(dateSampleFrom(undefined, 0, 1), undefined);
    assert.equal(dateSampleFrom('yesterday-ish', 0, 1), undefined);
  });
  test('the header is found in the SDK\'s raw response', () => {
    assert.equal(dateHeaderOf({ statusCode: 200, headers: { date: 'Sat, 01 Jun 2030 12:00:00 GMT' } }), 'Sat, 01 Jun 2030 12:00:00 GMT');
    assert.equal(dateHeaderOf({ headers: {} }), undefined);
    assert.equal(dateHeaderOf(undefined), undefined);
  });
});

describe('messages', () => {
  test('directions', () => {
    assert.equal(describeOffset(-10 * MIN), '10 min 0 s ahead');
    assert.equal(describeOffset(10 * MIN), '10 min 0 s behind');
  });
  test('the fix is the operating system\'s own', () => {
    assert.match(clockFix('darwin'), /sntp/);
    assert.match(clockFix('darwin'), /Date & Time/);
    assert.match(clockFix('linux'), /timedatectl set-ntp true/);
    assert.match(clockFix('linux'), /chrony/);
    assert.match(clockFix('win32'), /w32tm \/resync/);
    assert.match(clockFix('freebsd'), /NTP/);
  });
  test('a rejected clock is one line: the offset, which way, where it was measured, why it matters, the fix', () => {
    const err = clockError(combine(ntp(-20 * MIN - 3_000), undefined), 'linux');
    assert.ok(err instanceof KeyroleError);
    const line = err.line();
    assert.doesNotMatch(line, /\n/);
    assert.match(line, /clock is 20 min 3 s ahead/);
    assert.match(line, /offset -1203\.000 s/);
    assert.match(line, /NTP server time\.example/);
    assert.match(line, /15 minutes/);
    assert.match(line, /timedatectl set-ntp true/);
    assert.match(clockError(combine(undefined, date(20 * MIN)), 'darwin').line(), /20 min 0 s behind .*Date header.*sntp/);
  });
});

describe('configuration', () => {
  test('servers: host, host:port, lists', () => {
    assert.deepEqual(parseNtpServers('time.aws.com', 'x'), [{ host: 'time.aws.com', port: 123, label: 'time.aws.com' }]);
    assert.deepEqual(parseNtpServers('127.0.0.1:11123, ntp.example:1234 pool.ntp.org', 'x').map((s) => `${s.host}|${s.port}`), ['127.0.0.1|11123', 'ntp.example|1234', 'pool.ntp.org|123']);
  });
  test('malformed servers are a config error naming the entry and the fix', () => {
    for (const bad of ['host:0', 'host:70000', 'ho st:1:2', 'http://time', '[::1]:123', ' , ']) {
      assert.throws(() => parseNtpServers(bad, 'keyrole_ntp_servers'), (e: unknown) => e instanceof KeyroleError && e.code === 'BadNtpServers' && /host:port|no NTP server/.test(e.line()), bad);
    }
  });
  test('KEYROLE_NTP=off, then KEYROLE_NTP_SERVERS, then the profile, then time.aws.com', () => {
    assert.equal(clockConfig({ KEYROLE_NTP: 'off', KEYROLE_NTP_SERVERS: 'a' }, 'b').ntp, false);
    assert.equal(clockConfig({ KEYROLE_NTP: '0' }, undefined).ntp, false);
    assert.equal(clockConfig({ KEYROLE_NTP_SERVERS: 'a:1' }, 'b').servers[0].host, 'a');
    assert.equal(clockConfig({}, 'b:2').servers[0].port, 2);
    assert.equal(clockConfig({}, 'b:2').from, 'keyrole_ntp_servers');
    assert.equal(clockConfig({}, undefined).servers[0].host, 'time.aws.com');
    assert.equal(clockConfig({}, 'off').ntp, false);
    assert.equal(clockConfig({ KEYROLE_NTP: 'on' }, undefined).ntp, true);
  });
});

describe('the remembered measurement', () => {
  const then = { at: 1_000_000, mono: 50_000 };
  test('valid while young and while wall and monotonic time moved together', () => {
    assert.ok(stillValid(then, { at: then.at + 10 * MIN, mono: then.mono + 10 * MIN }, 60 * MIN));
    assert.ok(!stillValid(then, { at: then.at + 61 * MIN, mono: then.mono + 61 * MIN }, 60 * MIN), 'too old');
    assert.ok(!stillValid(then, { at: then.at + 30 * MIN, mono: then.mono + 10 * MIN }, 60 * MIN), 'the clock was set forward (or the machine slept)');
    assert.ok(!stillValid(then, { at: then.at - 20 * MIN, mono: then.mono + 1_000 }, 60 * MIN), 'the clock was set back');
    assert.ok(!stillValid(then, { at: then.at + 1_000, mono: 10 }, 60 * MIN), 'a reboot');
  });
  test('a corrupt, foreign or symlinked file is ignored; a written one reads back, 0600', () => {
    const dir = tempDir('clock-');
    const path = join(dir, 'clock.json');
    for (const junk of ['', '{', 'null', '[]', '{"v":2}', '{"v":1,"ntp":{"at":"x"}}']) assert.deepEqual(parseMemory(junk), { v: 1 }, junk);
    fs.writeFileSync(path, '\u0000garbage', { mode: 0o600 });
    assert.deepEqual(readMemory(path), { v: 1 });
    const m = { v: 1 as const, ntp: { at: 1, mono: 2, servers: 'a:123', ok: true, offsetMs: -5, rttMs: 1, server: 'a' }, date: { at: 3, mono: 4, offsetMs: 7, uncertaintyMs: 500 } };
    writeMemory(m, path);
    assert.equal(fs.statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readMemory(path), { v: 1, ntp: { ...m.ntp, error: undefined }, date: { ...m.date, endpoint: undefined } });
    const link = join(dir, 'link.json');
    fs.symlinkSync(path, link);
    assert.deepEqual(readMemory(link), { v: 1 });
    assert.deepEqual(readMemory(join(dir, 'missing.json')), { v: 1 });
  });
});

describe('clockSession (NTP off: the Date header alone, no network)', () => {
  const env = { KEYROLE_NTP: 'off' };
  const header = (offsetMs: number) => ({ headers: { date: new Date(Date.now() + offsetMs).toUTCString() } });

  test('a small offset seen in the Date header is corrected, remembered, and signed with on the next run', async () => {
    const memoryPath = join(tempDir('clock-'), 'clock.json');
    const c = clockSession({ env, memoryPath });
    assert.equal(await c.begin(), 0);
    assert.equal(classify(c.estimate()!), 'unchecked');
    const sent = Date.now();
    c.onResponse(header(10 * MIN), sent, Date.now(), 'e');
    const offset = c.settle();
    assert.ok(Math.abs(offset - 10 * MIN) < 2_000, String(offset));
    const next = clockSession({ env, memoryPath });
    assert.ok(Math.abs((await next.begin()) - 10 * MIN) < 2_000);
  });

  test('a large offset seen in the Date header fails the call with the clock message', async () => {
    const memoryPath = join(tempDir('clock-'), 'clock.json');
    const c = clockSession({ env, memoryPath, platform: 'win32' });
    await c.begin();
    c.onResponse(header(-20 * MIN), Date.now(), Date.now());
    assert.throws(() => c.settle(), (e: unknown) => e instanceof KeyroleError && e.code === 'ClockWrong' && /20 min \d+ s ahead.*w32tm/.test(e.line()));
  });

  test('a remembered large offset is measured again, never failed on', async () => {
    const memoryPath = join(tempDir('clock-'), 'clock.json');
    const now = { at: Date.now(), mono: Number(process.hrtime.bigint() / 1_000_000n) };
    writeMemory({ v: 1, date: { ...now, offsetMs: 20 * MIN, uncertaintyMs: 500 } }, memoryPath);
    assert.equal(await clockSession({ env, memoryPath }).begin(), 0);
  });

  test('a "Signature expired" failure is explained with the measured offset', async () => {
    const c = clockSession({ env, memoryPath: join(tempDir('clock-'), 'clock.json') });
    await c.begin();
    const skew = new KeyroleError('ClockSkew', 'STS rejected the request because…');
    assert.equal(c.explain(skew), skew, 'no Date header seen: unchanged');
    c.onResponse(header(30 * MIN), Date.now(), Date.now());
    const e = c.explain(skew) as KeyroleError;
    assert.equal(e.code, 'ClockWrong');
    assert.match(e.message, /30 min \d+ s behind/);
    const other = new KeyroleError('AccessDenied', 'no');
    assert.equal(c.explain(other), other);
  });
});

// ---- the bounded query, on loopback ----

/** NTP timestamp (seconds since 1900 + 32-bit fraction) → the 8 bytes at `at`. */
function putNtpTime(buf: Buffer, at: number, ms: number): void {
  const secs = ms / 1000 + 2_208_988_800;
  buf.writeUInt32BE(Math.floor(secs) >>> 0, at);
  buf.writeUInt32BE(Math.floor((secs % 1) * 2 ** 32) >>> 0, at + 4);
}

/** A fake NTP server whose clock is `skewMs` off the real one. */
async function fakeNtp(skewMs: number): Promise<{ port: number; close(): void }> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const now = Date.now() + skewMs;
    const out = Buffer.alloc(48);
    out[0] = (0 << 6) | (4 << 3) | 4; // LI 0, version 4, mode 4 (server)
    out[1] = 2; // stratum
    msg.copy(out, 24, 40, 48); // origin = the client's transmit timestamp
    putNtpTime(out, 16, now - 1000); // reference
    putNtpTime(out, 32, now); // receive
    putNtpTime(out, 40, now); // transmit
    sock.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, close: () => sock.close() };
}

/** A loopback UDP port with nothing behind it. */
async function deadPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * Runs `f` next to a timer of `ms` started at the same moment: how long `f` took, and when
 * the timer actually fired (its lateness is this machine's event-loop lag right now). The
 * bounds below are measured this way in the same run, not guessed.
 */
async function besideTimer<T>(ms: number, f: () => Promise<T>): Promise<{ value: T; took: number; timerAt: number }> {
  const started = performance.now();
  const fired = new Promise<number>((r) => setTimeout(() => r(performance.now() - started), ms));
  const value = await f();
  const took = performance.now() - started;
  return { value, took, timerAt: await fired };
}

/** What one answered query costs here now (modules loaded, sockets, the exchange): the slack a bound may add to the budget. */
async function liveQueryMs(): Promise<number> {
  const srv = await fakeNtp(0);
  try {
    const started = performance.now();
    const r = await queryNtp(parseNtpServers(`127.0.0.1:${srv.port}`, 't'));
    assert.ok(r.ok, JSON.stringify(r));
    return performance.now() - started;
  } finally {
    srv.close();
  }
}

describe('queryNtp', () => {
  test('measures a server 7 minutes ahead of this clock', async () => {
    const srv = await fakeNtp(7 * MIN);
    try {
      const r = await queryNtp(parseNtpServers(`127.0.0.1:${srv.port}`, 't'));
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok(Math.abs(r.sample.offsetMs - 7 * MIN) < 100, String(r.sample.offsetMs));
    } finally {
      srv.close();
    }
  });

  test('a dead server costs the budget and no more, and is not an error', async () => {
    const base = await liveQueryMs();
    const port = await deadPort();
    const { value: r, took, timerAt } = await besideTimer(NTP_BUDGET_MS, () => queryNtp(parseNtpServers(`127.0.0.1:${port}`, 't')));
    assert.equal(r.ok, false);
    assert.ok(took >= NTP_BUDGET_MS, `gave up after ${took.toFixed(0)} ms, before the budget`);
    assert.ok(took <= timerAt + base, `took ${took.toFixed(0)} ms; a ${NTP_BUDGET_MS} ms timer fired after ${timerAt.toFixed(0)} ms and a live query takes ${base.toFixed(0)} ms here`);
  });

  test('a dead server next to a live one does not hold up the answer', async () => {
    const srv = await fakeNtp(-3 * MIN);
    const port = await deadPort();
    try {
      const { value: r, took, timerAt } = await besideTimer(NTP_BUDGET_MS, () => queryNtp(parseNtpServers(`127.0.0.1:${port},127.0.0.1:${srv.port}`, 't')));
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok(Math.abs(r.sample.offsetMs + 3 * MIN) < 100);
      assert.ok(took < timerAt, `took ${took.toFixed(0)} ms, after a ${NTP_BUDGET_MS} ms timer started with it fired (${timerAt.toFixed(0)} ms): the dead server was waited for`);
    } finally {
      srv.close();
    }
  });

  test('an unresolvable name fails within the budget', async () => {
    const base = await liveQueryMs();
    const { value: r, took, timerAt } = await besideTimer(NTP_BUDGET_MS, () => queryNtp(parseNtpServers('no-such-host.invalid', 't')));
    assert.equal(r.ok, false);
    assert.ok(took <= timerAt + base, `took ${took.toFixed(0)} ms; a ${NTP_BUDGET_MS} ms timer fired after ${timerAt.toFixed(0)} ms and a live query takes ${base.toFixed(0)} ms here`);
  });
});
