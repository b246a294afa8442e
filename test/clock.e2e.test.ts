// The clock end to end: a real chrony on loopback as the NTP server, keyrole (the built
// executable) and the real AWS CLI run under faketime, the emulator enforcing STS's
// 15-minute window. A small offset is corrected (and the CLI under the same skew works), a
// large one fails with the offset and the fix, a right clock is silent, and a dead NTP
// server costs a bounded moment and nothing else.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { startChrony, freeUdpPort, type Chrony } from './support/chrony.ts';
import { requireTool } from './support/tools.ts';
import { KEYROLE, type RunResult } from './support/run.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';

const ADMIN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const DURATION = 900; // the shortest role: a 10-minute error in its Expiration is two thirds of it

interface Blob { Version: number; AccessKeyId: string; Expiration: string }

describe('clock: NTP (real chrony) and the Date header, keyrole and the AWS CLI under faketime', () => {
  let w: World;
  let chrony: Chrony;
  let faketime: string;

  before(async () => {
    faketime = requireTool('faketime');
    chrony = await startChrony();
    w = await startWorld();
    w.writeConfig(keyroleProfile('prod', {
      region: 'eu-west-1',
      keyrole_source: 'alice',
      keyrole_role_arn: ADMIN,
      keyrole_duration_seconds: DURATION,
      keyrole_cache: 'file',
      keyrole_ntp_servers: chrony.server,
    }) + keyroleProfile('hour', {
      region: 'eu-west-1',
      keyrole_source: 'alice',
      keyrole_role_arn: ADMIN,
      keyrole_duration_seconds: 3600,
      keyrole_cache: 'file',
      keyrole_ntp_servers: chrony.server,
    }) + keyroleProfile('base-dead-ntp', {
      region: 'eu-west-1',
      keyrole_source: 'alice',
      keyrole_role_arn: ADMIN,
      keyrole_cache: 'file',
      // Nothing answers NTP on port 9 here.
      keyrole_ntp_servers: '127.0.0.1:9',
    }) + keyroleProfile('chained-top', {
      region: 'eu-west-1',
      keyrole_source_profile: 'base-dead-ntp',
      keyrole_role_arn: ADMIN,
      keyrole_cache: 'file',
      keyrole_ntp_servers: chrony.server,
    }));
    const r = await w.setup('alice');
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await w?.stop();
    await chrony?.stop();
  });

  /** A private keyrole home per scenario: its own file cache and its own clock memory. */
  const freshHome = () => mkdtempSync(join(w.home, 'kh-'));

  /** `cmd args` under faketime at `skew` (e.g. '+600s'); keyrole inherits the skew from the CLI. */
  const skewed = (skew: string, cmd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> =>
    w.run(faketime, ['-f', skew, cmd, ...args], { env });

  /** Seconds from the real now to the blob's Expiration. */
  const leftS = (r: RunResult) => (Date.parse((JSON.parse(r.stdout) as Blob).Expiration) - Date.now()) / 1000;

  test('a right clock is silent: no stderr, Expiration as STS gave it, the check only in --debug', async () => {
    const home = freshHome();
    const r = await w.keyrole(['process', 'prod'], { env: { KEYROLE_HOME: home } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.ok(Math.abs(leftS(r) - DURATION) < 10, `Expiration ${leftS(r)} s away, want ${DURATION}`);
    const d = await w.keyrole(['process', 'prod', '--debug', '--cache', 'none'], { env: { KEYROLE_HOME: home } });
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stderr, /the clock is right \(offset [-+]0\.\d{3} s against NTP server 127\.0\.0\.1:\d+/);
    const mem = join(home, 'clock.json');
    assert.equal(statSync(mem).mode & 0o777, 0o600, 'the remembered measurement is private');
    assert.ok((JSON.parse(readFileSync(mem, 'utf8')) as { ntp: { ok: boolean } }).ntp.ok);
  });

  test('regression: a chained profile\'s clock check asks its own keyrole_ntp_servers, not its base profile\'s', async () => {
    // The base layer calls STS first; the servers used to be those of whichever profile's
    // layer reached the clock check first.
    const r = await w.keyrole(['process', 'chained-top', '--debug', '--cache', 'none'], { env: { KEYROLE_HOME: freshHome() } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`against NTP server ${chrony.server.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.doesNotMatch(r.stderr, /127\.0\.0\.1:9\b/);
  });

  test('regression: whoami with a warm cache and a clock 20 minutes fast checks the clock and fails, as the AWS CLI does', async () => {
    const home = freshHome();
    assert.equal((await w.keyrole(['process', 'hour'], { env: { KEYROLE_HOME: home } })).code, 0);
    const r = await skewed('+1200s', KEYROLE, ['whoami', 'hour'], { KEYROLE_HOME: home });
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^keyrole: this machine's clock is (19 min 59|20 min 0) s ahead/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    const cli = await skewed('+1200s', 'aws', ['sts', 'get-caller-identity', '--profile', 'hour'], { KEYROLE_HOME: home });
    assert.notEqual(cli.code, 0, 'the AWS CLI fails at this clock too');
    // For the reason keyrole gave: STS refuses a request signed 20 minutes in the future.
    assert.match(cli.stderr, /\(SignatureDoesNotMatch\) when calling the GetCallerIdentity operation: Signature not yet current/, cli.stderr);
  });

  test('a cache hit does no clock check at all', async () => {
    const home = freshHome();
    assert.equal((await w.keyrole(['process', 'prod'], { env: { KEYROLE_HOME: home } })).code, 0);
    const hit = await w.keyrole(['process', 'prod', '--debug'], { env: { KEYROLE_HOME: home } });
    assert.equal(hit.code, 0, hit.stderr);
    assert.match(hit.stderr, /cache hit/);
    assert.doesNotMatch(hit.stderr, /clock:/);
  });

  test('+10 min: keyrole signs on the corrected clock and translates Expiration into the local frame', async () => {
    await w.emu.resetStats();
    const r = await skewed('+600s', KEYROLE, ['process', 'prod', '--debug'], { KEYROLE_HOME: freshHome() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /clock is 10 min 0 s ahead \(offset -(599|600)\.\d{3} s against NTP server/);
    assert.match(r.stderr, /signing with systemClockOffset -(599|600)\d{3} ms/);
    // Expiration in the local (skewed) frame: 900 s from the skewed now, 1500 s from the real one.
    assert.ok(Math.abs(leftS(r) - (DURATION + 600)) < 10, `Expiration ${leftS(r)} s from the real now, want ${DURATION + 600}`);
    const { requests } = await w.emu.stats();
    const assume = requests.filter((q) => q.action === 'AssumeRole');
    assert.equal(assume.length, 1, 'one AssumeRole, accepted the first time: signed on the corrected clock');
    assert.ok(assume[0].ok);
  });

  test('−10 min: Expiration is moved earlier, so a slow clock never uses credentials AWS has expired; the CLI works', async () => {
    requireTool('aws');
    const r = await skewed('-600s', KEYROLE, ['process', 'prod', '--debug'], { KEYROLE_HOME: freshHome() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /clock is 10 min 0 s behind \(offset \+(599|600)\.\d{3} s against NTP server/);
    // 900 s from the skewed now = 300 s from the real one, when AWS's own expiry is 900 s away.
    assert.ok(Math.abs(leftS(r) - (DURATION - 600)) < 10, `Expiration ${leftS(r)} s from the real now, want ${DURATION - 600}`);
    const cli = await skewed('-600s', 'aws', ['sts', 'get-caller-identity', '--profile', 'prod'], { KEYROLE_HOME: freshHome() });
    assert.equal(cli.code, 0, cli.stderr);
  });

  for (const [cli, extra] of [['aws', []], ['/usr/bin/aws', ['--endpoint-url']]] as const) {
    test(`+10 min: the real AWS CLI (${cli}) under the same skew gets working credentials through keyrole`, async () => {
      requireTool(cli);
      await w.emu.resetStats();
      const args = ['sts', 'get-caller-identity', '--profile', 'prod', '--output', 'json', ...(extra.length ? [extra[0], w.emu.url] : [])];
      const r = await skewed('+600s', cli, args, { KEYROLE_HOME: freshHome() });
      assert.equal(r.code, 0, r.stderr);
      assert.match((JSON.parse(r.stdout) as { Arn: string }).Arn, /assumed-role\/Admin\/keyrole-alice-/);
      const { requests } = await w.emu.stats();
      assert.deepEqual(requests.map((q) => `${q.action}:${q.ok}`), ['AssumeRole:true', 'GetCallerIdentity:true']);
    });
  }

  for (const [skew, way] of [['+1200s', 'ahead'], ['-1200s', 'behind']] as const) {
    test(`${skew === '+1200s' ? '+' : '−'}20 min: keyrole fails before calling STS, with the offset, the direction and the fix`, async () => {
      await w.emu.resetStats();
      const r = await skewed(skew, KEYROLE, ['process', 'prod'], { KEYROLE_HOME: freshHome() });
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^keyrole: this machine's clock is (19 min 59|20 min 0) s ${way} \\(offset [-+](1199|1200)\\.\\d{3} s, measured against NTP server 127\\.0\\.0\\.1:${chrony.port}\\)`));
      assert.match(r.stderr, /15 minutes/);
      assert.match(r.stderr, /timedatectl set-ntp true/);
      assert.deepEqual((await w.emu.stats()).requests, [], 'no STS call was made');
    });
  }

  test('+20 min: the AWS CLI under the same skew shows keyrole\'s clock message', async () => {
    requireTool('aws');
    const r = await skewed('+1200s', 'aws', ['sts', 'get-caller-identity', '--profile', 'prod'], { KEYROLE_HOME: freshHome() });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /custom-process: keyrole: this machine's clock is (19 min 59|20 min 0) s ahead/);
    assert.match(r.stderr, /timedatectl set-ntp true/);
  });

  test('KEYROLE_NTP=off, +10 min: the Date header alone corrects, and the CLI still works', async () => {
    requireTool('aws');
    const home = freshHome();
    const r = await skewed('+600s', KEYROLE, ['process', 'prod', '--debug'], { KEYROLE_HOME: home, KEYROLE_NTP: 'off' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /NTP off \(KEYROLE_NTP=off\)/);
    assert.match(r.stderr, /clock is 10 min 0 s ahead \(offset -(599|600)\.\d{3} s from the Date header of http:\/\/127\.0\.0\.1:\d+\)/);
    assert.ok(Math.abs(leftS(r) - (DURATION + 600)) < 10, `Expiration ${leftS(r)} s away`);
    const cli = await skewed('+600s', 'aws', ['sts', 'get-caller-identity', '--profile', 'prod'], { KEYROLE_HOME: freshHome(), KEYROLE_NTP: 'off' });
    assert.equal(cli.code, 0, cli.stderr);
  });

  test('KEYROLE_NTP=off, +20 min: the SDK\'s silent skew retry gets through, keyrole still fails with the measured offset', async () => {
    await w.emu.resetStats();
    const r = await skewed('+1200s', KEYROLE, ['process', 'prod'], { KEYROLE_HOME: freshHome(), KEYROLE_NTP: 'off' });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^keyrole: this machine's clock is (19 min 59|20 min 0) s ahead \(offset -(1199|1200)\.\d{3} s, measured from the Date header of http:\/\/127\.0\.0\.1:\d+\); .*timedatectl set-ntp true/);
    const codes = (await w.emu.stats()).requests.map((q) => q.code ?? 'ok');
    assert.deepEqual(codes, ['SignatureDoesNotMatch', 'ok'], 'the SDK retried on its own corrected clock');
  });

  test('AWS\'s clock off while NTP says the local one is right: the Date header wins', async () => {
    await w.emu.behaviour({ clockOffsetMs: 600_000 });
    try {
      const r = await w.keyrole(['process', 'prod', '--debug', '--cache', 'none'], { env: { KEYROLE_HOME: freshHome() } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /NTP server 127\.0\.0\.1:\d+ says [-+]0\.\d{3} s, AWS's Date header \+(599|600)\.\d{3} s: going with AWS/);
      // Expiration = AWS's now + 900 s in AWS's frame = the local now + 900 s.
      assert.ok(Math.abs(leftS(r) - DURATION) < 10, `Expiration ${leftS(r)} s away`);
    } finally {
      await w.emu.behaviour({ clockOffsetMs: 0 });
    }
  });

  test('the measurement is remembered: a burst of misses asks NTP once', async () => {
    const home = freshHome();
    const first = await skewed('+600s', KEYROLE, ['process', 'prod', '--debug', '--cache', 'none'], { KEYROLE_HOME: home });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /NTP server 127\.0\.0\.1:\d+ answered in/);
    for (let i = 0; i < 3; i++) {
      const again = await skewed('+600s', KEYROLE, ['process', 'prod', '--debug', '--cache', 'none'], { KEYROLE_HOME: home });
      assert.equal(again.code, 0, again.stderr);
      assert.doesNotMatch(again.stderr, /answered in .* offset/);
      assert.match(again.stderr, /NTP offset -(599|600)\.\d{3} s from 127\.0\.0\.1:\d+ remembered from/);
      assert.match(again.stderr, /signing with systemClockOffset -(599|600)\d{3} ms/);
    }
  });

  test('a corrupt clock memory is ignored', async () => {
    const home = freshHome();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(home, 'clock.json'), '{"v":1,"ntp":', { mode: 0o600 });
    const r = await w.keyrole(['process', 'prod', '--cache', 'none'], { env: { KEYROLE_HOME: home } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
  });

  test('malformed keyrole_ntp_servers is a config error with the fix', async () => {
    const r = await w.keyrole(['process', 'prod', '--cache', 'none'], { env: { KEYROLE_HOME: freshHome(), KEYROLE_NTP_SERVERS: 'http://time.example' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^keyrole: KEYROLE_NTP_SERVERS = "http:\/\/time\.example": .* is not host or host:port; list NTP servers as host or host:port/);
  });

  test('NTP dead or unreachable: no failure, no noise, "could not be checked" in --debug, and a bounded extra time on the miss path', async (t) => {
    const dead = `127.0.0.1:${await freeUdpPort()}`;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const timed = async (env: Record<string, string>) => {
      const ms: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await w.keyrole(['process', 'prod', '--cache', 'none'], { env: { KEYROLE_HOME: freshHome(), ...env } });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '', 'a dead NTP server is not the user\'s problem');
        ms.push(r.ms);
      }
      return median(ms);
    };
    const off = await timed({ KEYROLE_NTP: 'off' });
    const alive = await timed({});
    const deadMs = await timed({ KEYROLE_NTP_SERVERS: dead });
    const mixed = await timed({ KEYROLE_NTP_SERVERS: `${dead},${chrony.server}` });
    const unresolvable = await timed({ KEYROLE_NTP_SERVERS: 'ntp.does-not-exist.invalid' });
    t.diagnostic(`median miss: NTP off ${off.toFixed(0)} ms, chrony ${alive.toFixed(0)} ms, dead ${deadMs.toFixed(0)} ms, dead+chrony ${mixed.toFixed(0)} ms, unresolvable ${unresolvable.toFixed(0)} ms`);
    // Generous bounds: the budget is 400 ms and part of it overlaps loading the SDK.
    assert.ok(deadMs - off < 1000, `a dead NTP server added ${(deadMs - off).toFixed(0)} ms`);
    assert.ok(mixed - off < 1000, `a dead server next to a live one added ${(mixed - off).toFixed(0)} ms`);
    assert.ok(unresolvable - off < 1000, `an unresolvable server added ${(unresolvable - off).toFixed(0)} ms`);
    assert.ok(alive - off < 500, `a live NTP server added ${(alive - off).toFixed(0)} ms`);

    const home = freshHome();
    const d = await w.keyrole(['process', 'prod', '--debug', '--cache', 'none'], { env: { KEYROLE_HOME: home, KEYROLE_NTP_SERVERS: dead } });
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stderr, /clock: could not be checked by NTP after \d+\.\d ms \((no answer within 400 ms|127\.0\.0\.1:\d+: no reply within \d+ ms)/);
    assert.match(d.stderr, /the clock is right \(offset [-+]\d\.\d{3} s from the Date header/);
    // The failure is remembered too: the next miss does not wait for the dead server again.
    const again = await w.keyrole(['process', 'prod', '--debug', '--cache', 'none'], { env: { KEYROLE_HOME: home, KEYROLE_NTP_SERVERS: dead } });
    assert.match(again.stderr, /could not be checked by NTP .* ago .*not asking again/);
  });
});
