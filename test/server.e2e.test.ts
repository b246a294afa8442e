// Long-running work never meets an expired token: `exec --server` and `serve` with real
// programs as the long-running child (boto3, the JS SDK v3, AWS CLI v1 and v2) across
// several expiries of short-lived emulator credentials; the endpoint's refusals (no token,
// a wrong one, DNS rebinding); no frozen keys in the child; the endpoint gone with the
// command; a person asked before the command starts and never on its terminal after; the
// warning before an MFA session ends; `status` from the cache alone; and exec/export
// telling when their frozen keys end.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { keyroleProfile, resetWorld, worldWithSource, type World } from './support/world.ts';
import { KEYROLE, ROOT } from './support/run.ts';
import { DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL } from './support/emulator.ts';
import { onPty } from './support/pty.ts';
import { requireTool } from './support/tools.ts';
import { tempDir } from './support/tmp.ts';
import { get, listening, serve } from './support/server.ts';
import { codes } from './support/totp.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const FIXTURES = join(ROOT, 'test', 'fixtures');
const NODE24 = join(ROOT, 'node_modules', '.bin', 'node');
const PROFILES = [
  keyroleProfile('srv', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_duration_seconds: 900 }),
  keyroleProfile('mfa', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_mfa_serial: DEMO_MFA_SERIAL }),
].join('\n');

/** Codes of alice's MFA device that STS has not seen yet (the emulator takes each window's code once). */
const freshCode = codes(DEMO_MFA_SECRET);

const endpoint = () => describe('exec --server and serve: a credential endpoint that refreshes', { concurrency: 1 }, () => {
  let w: World;
  const calls = async (action: string) => (await w.emu.stats()).calls[action] ?? 0;

  before(async () => {
    requireTool('oathtool');
    w = await worldWithSource(PROFILES);
  });
  after(() => w?.stop());
  beforeEach(() => resetWorld(w));

  test('the child gets the endpoint and a token, and no frozen keys or profile', async () => {
    const r = await w.keyrole(['exec', 'srv', '--server', '--', 'env'], { env: { AWS_PROFILE: 'srv', AWS_ACCESS_KEY_ID: 'AKIAFROMSHELL0000000', AWS_SECRET_ACCESS_KEY: 'x' } });
    assert.equal(r.code, 0, r.stderr);
    const env = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.match(env.AWS_CONTAINER_CREDENTIALS_FULL_URI, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.match(env.AWS_CONTAINER_AUTHORIZATION_TOKEN, /^[\w-]{43}$/);
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) assert.equal(env[k], undefined, `${k} in the child`);
    assert.equal(env.AWS_REGION, 'eu-west-1');
    assert.equal(env.AWS_DEFAULT_REGION, 'eu-west-1');
    assert.equal(env.KEYROLE_EXEC, 'srv');
    // Each run has its own token.
    const again = await w.keyrole(['exec', 'srv', '--server', '--', 'sh', '-c', 'echo "$AWS_CONTAINER_AUTHORIZATION_TOKEN"']);
    assert.notEqual(again.stdout.trim(), env.AWS_CONTAINER_AUTHORIZATION_TOKEN);
  });

  test('the endpoint lives exactly as long as the command, and passes its exit status on', async () => {
    const r = await w.keyrole(['exec', 'srv', '--server', '--', 'sh', '-c', 'echo "$AWS_CONTAINER_CREDENTIALS_FULL_URI"; exit 7']);
    assert.equal(r.code, 7);
    assert.equal(await listening(r.stdout.trim()), false, 'nothing listens once the command has exited');
  });

  test('serve: 403 and keyrole\'s reason, nothing else, without the token, with a wrong one, or with a Host that is not its address (DNS rebinding)', async () => {
    const s = await serve(w, ['srv']);
    try {
      const out = s.lines;
      const url = s.url;
      assert.match(out, /^unset AWS_ACCESS_KEY_ID .*AWS_WEB_IDENTITY_TOKEN_FILE .*AWS_CONTAINER_CREDENTIALS_RELATIVE_URI\b/m, out);
      assert.match(out, /^export AWS_CONTAINER_AUTHORIZATION_TOKEN="\$\(cat \S+\)"$/m, 'the token itself too, for SDKs that read only that variable');
      const { tokenFile, token } = s;
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
      assert.equal(readFileSync(tokenFile, 'utf8'), token);
      const host = new URL(url).host;

      for (const [what, headers] of [
        ['no token', {}],
        ['a wrong token', { authorization: `${token.slice(0, -1)}x` }],
        ['the token with a Bearer prefix', { authorization: `Bearer ${token}` }],
        ['a rebound Host', { authorization: token, host: `evil.example:${new URL(url).port}` }],
        ['localhost as Host', { authorization: token, host: `localhost:${new URL(url).port}` }],
      ] as [string, Record<string, string>][]) {
        const r = await get(url, headers);
        assert.equal(r.status, 403, what);
        assert.equal((JSON.parse(r.body) as { Code: string }).Code, 'EndpointRefused', `${what}: 403 and keyrole's reason, nothing else`);
      }
      assert.equal(await calls('AssumeRole'), 1, 'refused requests reach no STS (the one call primed the cache before serving)');

      const ok = await get(url, { authorization: token, host });
      assert.equal(ok.status, 200);
      const c = JSON.parse(ok.body) as Record<string, string>;
      assert.match(c.AccessKeyId, /^ASIA/);
      assert.ok(c.SecretAccessKey && c.Token);
      assert.ok(Date.parse(c.Expiration) > Date.now());
      assert.equal(c.AccountId, DEMO_ACCOUNT_ID);
      assert.equal((await get(`${url}other`, { authorization: token, host })).status, 404);

      await s.stop();
      assert.equal(existsSync(tokenFile), false, 'the token file is removed when serve stops');
      assert.equal(await listening(url), false);
    } finally {
      s.child.kill('SIGKILL');
    }
  });

  test('a person is asked before the command starts, never on its terminal after; a warning comes before the MFA session ends', async () => {
    // 10-minute credentials: the MFA session behind the role ends within the 15-minute warning time.
    await w.emu.behaviour({ credentialLifetimeSeconds: 600 });
    const code = await freshCode();
    const child = `echo child-started; ${KEYROLE} cache clear mfa --all-layers >/dev/null; aws sts get-caller-identity --output text; echo "rc=$?"`;
    const r = await onPty(`${KEYROLE} exec mfa --server -- sh -c '${child}'`, [[/MFA code for .*: /, `${code}\r`]], w.env, 120_000);
    const screen = r.screen;
    assert.equal(r.code, 0, screen);
    assert.ok(screen.indexOf('MFA code for') < screen.indexOf('child-started'), `the prompt comes before the command:\n${screen}`);
    assert.match(screen, /the MFA session of source "alice".* behind profile mfa ends in \d+ min .*keyrole login mfa/, 'warned ahead');
    // The session was cleared under the running command: the request fails naming keyrole login, with no second prompt.
    assert.equal(screen.match(/MFA code for \S+ \(profile mfa\): /g)?.length, 1, `one prompt only:\n${screen}`);
    assert.match(screen, /keyrole login mfa/);
    assert.match(screen, /rc=(255|253|1)\b/);
  });

  test('without a terminal the person cannot be asked, so the command never starts', async () => {
    const r = await w.keyrole(['exec', 'mfa', '--server', '--', 'sh', '-c', 'echo child-started']);
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stdout, /child-started/);
    assert.match(r.stderr, /^keyrole: .*MFA.*keyrole login mfa/m);
  });

  test('exec and export without --server say when their credentials end, and point to --server', async () => {
    const e = await w.keyrole(['exec', 'srv', '--', 'true']);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stderr, /expire at \S+Z \(in \d+ min\) and do not refresh; .*keyrole exec --server srv/);
    const x = await w.keyrole(['export', 'srv']);
    assert.equal(x.code, 0);
    assert.match(x.stderr, /expire at .*keyrole exec --server srv/);
    assert.match(x.stdout, /^unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SECURITY_TOKEN AWS_CREDENTIAL_FILE$/m);
    assert.match(x.stdout, /^export AWS_DEFAULT_REGION='eu-west-1'$/m);
  });

  test('whoami and status inside keyrole exec use the profile exec was started with', async () => {
    const r = await w.keyrole(['exec', 'srv', '--', 'sh', '-c', `${KEYROLE} whoami && ${KEYROLE} status --short`], { env: { AWS_PROFILE: 'mfa' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Profile +srv$/m);
    assert.match(r.stdout, /^srv \d+m$/m);
  });

  test('status: time left per layer from the cache alone, no network', async (t) => {
    const none = await w.keyrole(['status', 'mfa']);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /^mfa: role \S+: not cached$/m);
    assert.equal((await w.keyrole(['status', 'mfa', '--short'])).stdout, 'mfa -\n');

    assert.equal((await w.keyrole(['process', 'mfa', '--mfa-token', await freshCode()])).code, 0);
    await w.emu.resetStats();
    // Whatever status reads, it asks AWS nothing: every HTTP route (the proxy variables, with
    // nothing exempt) leads to a recorder that answers nothing, and the emulator's counts
    // below show no call reached it either. (The STS endpoint stays: it is part of the cache key.)
    const recorder = createServer((s) => { connections++; s.destroy(); });
    let connections = 0;
    await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r));
    t.after(() => recorder.close());
    const proxy = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;
    const offline = { HTTPS_PROXY: proxy, HTTP_PROXY: proxy, ALL_PROXY: proxy, https_proxy: proxy, http_proxy: proxy, NO_PROXY: '', no_proxy: '' };
    const long = await w.keyrole(['status', 'mfa'], { env: offline });
    assert.equal(long.code, 0, long.stderr);
    assert.match(long.stdout, /^mfa: role \S+Admin: (59|60) min left \(until \S+Z\)$/m);
    assert.match(long.stdout, /under it, the MFA session of source "alice": (11 h 59|12 h 0) min left/);
    assert.match(long.stdout, /next needs you: the MFA session of source "alice"/);
    assert.match((await w.keyrole(['status', 'mfa', '--short'], { env: offline })).stdout, /^mfa (59|60)m mfa 11h5[89]m\n$/);
    const j = JSON.parse((await w.keyrole(['status', 'mfa', '--json'], { env: offline })).stdout) as { Layers: { Kind: string; Cached: boolean }[]; PersonNeeded: { What: string } };
    assert.deepEqual(j.Layers.map((l) => [l.Kind, l.Cached]), [['role', true], ['mfa-session', true]]);
    assert.match(j.PersonNeeded.What, /MFA session/);
    assert.deepEqual((await w.emu.stats()).calls, {}, 'no call reached AWS');
    assert.equal(connections, 0, 'no connection reached the proxy');
    // The recorder is a route keyrole does take when it goes out: a cold process call reaches it.
    const cold = await w.keyrole(['process', 'srv', '--cache', 'none'], { env: offline });
    assert.notEqual(cold.code, 0);
    assert.ok(connections > 0, `a call that needs STS went through the proxy recorder: ${cold.stderr}`);
  });
});

// Children that run for half a minute of real time, across several expiries of short-lived
// credentials: they wait on the clock, not the processor, so they run side by side, each in a
// world of its own (its keyring, its emulator, whose counts are its child's alone).
const longRunning = () => describe('exec --server: long-running children across several expiries', { concurrency: true }, () => {
  const worlds: World[] = [];
  const calls = async (w: World, action: string) => (await w.emu.stats()).calls[action] ?? 0;
  /** A world whose emulator issues credentials that last `lifetime` seconds. */
  async function world(lifetime: number): Promise<World> {
    const w = await worldWithSource(PROFILES);
    worlds.push(w);
    await w.emu.behaviour({ credentialLifetimeSeconds: lifetime });
    return w;
  }

  before(() => requireTool('python3'));
  after(async () => { await Promise.all(worlds.map((w) => w.stop())); });

  test('boto3 as the long-running child: every call succeeds across several expiries of 12-second credentials', async () => {
    const w = await world(12);
    const r = await w.keyrole(['exec', 'srv', '--server', '--', 'python3', join(FIXTURES, 'boto3-loop.py'), '30', '3', '150'], { timeoutMs: 200_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { calls: number; keys: string[]; arn: string; seconds: number };
    assert.ok(out.seconds >= 30 && out.keys.length >= 3, `ran ${out.seconds} s (${out.calls} calls) past 12-second credentials with ${out.keys.length} keys`);
    assert.match(out.arn, /assumed-role\/Admin\//, 'the role of the profile, from the endpoint');
    // Credentials this short are never fresh enough for keyrole to reuse, so each of boto3's
    // fetches is one AssumeRole, and no more: botocore fetches once when the session loads
    // its credentials, then once per call (they are always inside its 10-minute window) and
    // once more when the loop reads the key (its access_key property refreshes too); one
    // more primed the cache before the command started.
    const assumed = await calls(w, 'AssumeRole');
    assert.ok(assumed >= out.keys.length && assumed <= 2 * out.calls + 2, `${assumed} AssumeRole calls for ${out.calls} calls and ${out.keys.length} keys`);
  });

  test('four boto3 clients in the child: one STS call per refresh however many clients ask', async () => {
    // keyrole serves a 900-second role from its cache until half of it is left (450 s):
    // 470-second credentials are served ~20 s, then refreshed once for all four clients,
    // which ask on every call (boto3 refreshes on every call under 10 minutes).
    const w = await world(470);
    const r = await w.keyrole(['exec', 'srv', '--server', '--', 'python3', join(FIXTURES, 'boto3-loop.py'), '25', '2', '150', '4'], { timeoutMs: 200_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { perClient: string[][]; keys: string[]; arn: string; calls: number };
    assert.match(out.arn, /assumed-role\/Admin\//);
    assert.ok(out.keys.length >= 2, 'the credentials were refreshed while the clients ran');
    assert.equal(await calls(w, 'AssumeRole'), out.keys.length, `exactly one AssumeRole per set of credentials, shared by four clients over ${out.calls} calls`);
    for (const seen of out.perClient) assert.ok(seen.length >= 2, 'every client moved on to the refreshed credentials');
  });

  test('the JS SDK v3 with two clients as the child: every call succeeds across several expiries of 12-second credentials', async () => {
    const w = await world(12);
    const r = await w.keyrole(['exec', 'srv', '--server', '--', NODE24, join(FIXTURES, 'jssdk-loop.mjs'), '30', '3', '2', '150'], { env: { KR_ROOT: ROOT }, timeoutMs: 200_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { perClient: string[][]; keys: string[]; arn: string; seconds: number };
    assert.match(out.arn, /assumed-role\/Admin\//);
    assert.ok(out.seconds >= 30, 'ran past two lifetimes');
    for (const seen of out.perClient) assert.ok(seen.length >= 3, 'each client refreshed through the endpoint');
    assert.ok(await calls(w, 'AssumeRole') >= out.keys.length);
  });

  test('AWS CLI v1 and v2 as the child: every call succeeds across several expiries', async () => {
    const w = await world(8);
    requireTool('/usr/bin/aws');
    // Each CLI run asks the endpoint afresh; the loop outlives three 8-second lifetimes, and
    // makes two rounds at least however slow a busy machine makes each CLI start (bounded).
    const script = `
      start=$(date +%s); n=0
      while [ $(( $(date +%s) - start )) -lt 26 ] || [ "$n" -lt 2 ]; do
        [ $(( $(date +%s) - start )) -lt 150 ] || exit 14
        aws sts get-caller-identity --query Arn --output text >> "$OUT" || exit 11
        /usr/bin/aws sts get-caller-identity --endpoint-url "$AWS_ENDPOINT_URL_STS" --query Arn --output text >> "$OUT" || exit 12
        /usr/bin/aws configure export-credentials --format env >> "$OUT.keys" || exit 13
        n=$((n+1))
      done
      echo "$n"`;
    const dir = tempDir('server-cli-');
    try {
      const out = join(dir, 'arns');
      const r = await w.keyrole(['exec', 'srv', '--server', '--', 'sh', '-c', script], { env: { OUT: out }, timeoutMs: 200_000 });
      assert.equal(r.code, 0, r.stderr);
      const arns = readFileSync(out, 'utf8').trim().split('\n');
      assert.ok(arns.length >= 4, `${arns.length} calls`);
      for (const a of arns) assert.match(a, /assumed-role\/Admin\//);
      const keys = new Set([...readFileSync(`${out}.keys`, 'utf8').matchAll(/^export AWS_ACCESS_KEY_ID=(\S+)$/gm)].map((m) => m[1]));
      assert.ok(keys.size >= 2, 'the CLI saw refreshed credentials');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The two suites share nothing (each its worlds), so they run side by side.
describe('exec --server and serve', { concurrency: true }, () => {
  endpoint();
  longRunning();
});
