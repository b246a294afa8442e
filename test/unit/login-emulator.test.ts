// The emulator's AWS Sign-In (emulator/login.ts) held to AWS's rules, driven by keyrole's
// own client (src/login/client.ts, src/login/dpop.ts) and by the JS SDK's own
// fromLoginCredentials (a real client's DPoP): the same-device authorization with PKCE
// SHA-256, single-use codes, every DPoP check, refresh tokens bound to the key and rotated,
// the 12-hour end, the refusals, credentials STS accepts and the 1-hour rule on a role
// assumed with them. Also the sign-in endpoints against the SDK's own endpoint rules.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { startEmulator, type RunningEmulator } from '../../emulator/server.ts';
import { DEMO_ACCOUNT_ID } from '../../emulator/seed.ts';
import { createOAuth2Token, SAME_DEVICE_CLIENT, CROSS_DEVICE_CLIENT, type TokenAnswer } from '../../src/login/client.ts';
import { regionalSigninEndpoint } from '../../src/login/endpoint.ts';
import { dpopProof, newDpopKey } from '../../src/login/dpop.ts';
import { codeChallenge, codeVerifier } from '../../src/sso/pkce.ts';

const ALICE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:user/alice`;
const ADMIN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const CALLBACK = 'http://127.0.0.1:45678/oauth/callback';

let emu: RunningEmulator;

async function control<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${emu.url}/_emulator/login/${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  assert.equal(res.status, 200, `control ${path}`);
  return (await res.json()) as T;
}

function authorizeUrl(o: { clientId?: string; redirectUri?: string; challenge: string; state?: string; method?: string; scope?: string }): string {
  const q = new URLSearchParams({
    response_type: 'code', client_id: o.clientId ?? SAME_DEVICE_CLIENT, state: o.state ?? randomUUID(),
    code_challenge_method: o.method ?? 'SHA-256', scope: o.scope ?? 'openid', redirect_uri: o.redirectUri ?? CALLBACK, code_challenge: o.challenge,
  });
  return `${emu.url}/v1/authorize?${q}`;
}

/** The Allow page, then its button: the redirect with code and state. */
async function approve(url: string): Promise<URL> {
  const pageRes = await fetch(url, { redirect: 'manual' });
  assert.equal(pageRes.status, 200);
  const id = /name="request" value="([^"]+)"/.exec(await pageRes.text())?.[1];
  assert.ok(id, 'the Allow page carries its request');
  const res = await fetch(`${emu.url}/v1/authorize`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ request: id, allow: '1' }) });
  assert.equal(res.status, 302);
  return new URL(res.headers.get('location')!);
}

/** A whole same-device sign-in through keyrole's client. */
async function signIn(): Promise<{ key: string; answer: TokenAnswer }> {
  const verifier = codeVerifier();
  const state = randomUUID();
  const back = await approve(authorizeUrl({ challenge: codeChallenge(verifier), state }));
  assert.equal(back.searchParams.get('state'), state);
  const key = newDpopKey();
  const answer = await createOAuth2Token(emu.url, { clientId: SAME_DEVICE_CLIENT, grantType: 'authorization_code', code: back.searchParams.get('code')!, codeVerifier: verifier, redirectUri: CALLBACK }, key, 'p');
  return { key, answer };
}

async function rawToken(body: unknown, proof: string | undefined): Promise<{ status: number; type: string | null; body: Record<string, unknown> }> {
  const res = await fetch(`${emu.url}/v1/token`, { method: 'POST', headers: { 'content-type': 'application/json', ...(proof ? { dpop: proof } : {}) }, body: JSON.stringify(body) });
  return { status: res.status, type: res.headers.get('x-amzn-errortype'), body: (await res.json()) as Record<string, unknown> };
}

/** A proof with parts changed, signed properly with `pem`. */
function craftedProof(pem: string, o: { header?: Record<string, unknown>; claims?: Record<string, unknown> }): string {
  const key = createPrivateKey(pem);
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const h = enc({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, ...o.header });
  const c = enc({ jti: randomUUID(), htm: 'POST', htu: `${emu.url}/v1/token`, iat: Math.floor(Date.now() / 1000), ...o.claims });
  return `${h}.${c}.${sign('sha256', Buffer.from(`${h}.${c}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

before(async () => { emu = await startEmulator(); });
after(() => emu?.close());

describe('AWS Sign-In in the emulator', () => {
  test('same-device sign-in: the ID token names the user, the credentials are the user\'s for STS, 900 s', async () => {
    const { answer } = await signIn();
    assert.match(answer.accessKeyId, /^ASIA/);
    const sub = JSON.parse(Buffer.from(answer.idToken!.split('.')[1]!, 'base64url').toString()).sub;
    assert.equal(sub, ALICE);
    assert.ok(Math.abs(answer.expiresAt - Date.now() - 900_000) < 60_000);
    const sts = new STSClient({ region: 'us-east-1', endpoint: emu.url, credentials: answer, maxAttempts: 1 });
    assert.equal((await sts.send(new GetCallerIdentityCommand({}))).Arn, ALICE);
  });

  test('a role assumed with login credentials is held to the 1-hour rule', async () => {
    const { answer } = await signIn();
    const sts = new STSClient({ region: 'us-east-1', endpoint: emu.url, credentials: answer, maxAttempts: 1 });
    await assert.rejects(sts.send(new AssumeRoleCommand({ RoleArn: ADMIN, RoleSessionName: 'ss', DurationSeconds: 7200 })), /1 hour session limit/);
    const ok = await sts.send(new AssumeRoleCommand({ RoleArn: ADMIN, RoleSessionName: 'ss', DurationSeconds: 3600 }));
    assert.match(ok.Credentials!.AccessKeyId!, /^ASIA/);
  });

  test('the authorize request is strict: client, redirect, PKCE method, scope, state', async () => {
    const challenge = codeChallenge(codeVerifier());
    for (const bad of [
      { clientId: 'arn:aws:signin:::devtools/other' },
      { redirectUri: 'http://evil.example/oauth/callback' },
      { redirectUri: 'http://127.0.0.1:1/elsewhere' },
      { clientId: CROSS_DEVICE_CLIENT },
      { method: 'S256' },
      { scope: 'openid profile' },
      { state: '' },
    ]) {
      const res = await fetch(authorizeUrl({ challenge, ...bad }), { redirect: 'manual' });
      assert.equal(res.status, 400, JSON.stringify(bad));
    }
  });

  test('cross-device: the confirmation page shows base64 state=…&code=… and the code redeems', async () => {
    const verifier = codeVerifier();
    const redirectUri = `${emu.url}/v1/sessions/confirmation`;
    const back = await approve(authorizeUrl({ clientId: CROSS_DEVICE_CLIENT, redirectUri, challenge: codeChallenge(verifier), state: 'st1' }));
    const html = await (await fetch(back)).text();
    const shown = Buffer.from(/id="verification">([^<]+)</.exec(html)![1]!, 'base64').toString();
    const p = new URLSearchParams(shown);
    assert.equal(p.get('state'), 'st1');
    const answer = await createOAuth2Token(emu.url, { clientId: CROSS_DEVICE_CLIENT, grantType: 'authorization_code', code: p.get('code')!, codeVerifier: verifier, redirectUri }, newDpopKey(), 'p');
    assert.match(answer.accessKeyId, /^ASIA/);
  });

  test('a code is single-use, needs its verifier and its redirect; a late code is AUTHCODE_EXPIRED', async () => {
    const verifier = codeVerifier();
    const code = (await approve(authorizeUrl({ challenge: codeChallenge(verifier) }))).searchParams.get('code')!;
    const key = newDpopKey();
    const grant = { clientId: SAME_DEVICE_CLIENT, grantType: 'authorization_code' as const, code, codeVerifier: verifier, redirectUri: CALLBACK };
    await assert.rejects(createOAuth2Token(emu.url, { ...grant, codeVerifier: codeVerifier() }, key, 'p'), { code: 'LoginRefused' });
    await assert.rejects(createOAuth2Token(emu.url, { ...grant, redirectUri: 'http://127.0.0.1:1/oauth/callback' }, key, 'p'), { code: 'LoginRefused' });
    await createOAuth2Token(emu.url, grant, key, 'p');
    await assert.rejects(createOAuth2Token(emu.url, grant, key, 'p'), { code: 'LoginRefused' });
    await control('POST', 'behaviour', { authCodeLifetimeSeconds: 0 });
    try {
      const v2 = codeVerifier();
      const code2 = (await approve(authorizeUrl({ challenge: codeChallenge(v2) }))).searchParams.get('code')!;
      const r = await rawToken({ ...grant, code: code2, codeVerifier: v2 }, dpopProof(key, `${emu.url}/v1/token`));
      assert.deepEqual([r.status, r.type, r.body.error], [401, 'AccessDeniedException', 'AUTHCODE_EXPIRED']);
    } finally {
      await control('POST', 'behaviour', { authCodeLifetimeSeconds: 300 });
    }
  });

  test('every DPoP check: missing, typ, alg, private jwk, signature, htm, htu, iat, jti replay', async () => {
    const { key, answer } = await signIn();
    const body = { clientId: SAME_DEVICE_CLIENT, grantType: 'refresh_token', refreshToken: answer.refreshToken };
    const pub = createPublicKey(createPrivateKey(key)).export({ format: 'jwk' });
    const priv = createPrivateKey(key).export({ format: 'jwk' });
    const replayed = craftedProof(key, {});
    const cases: [string, string | undefined][] = [
      ['missing', undefined],
      ['typ', craftedProof(key, { header: { typ: 'JWT' } })],
      ['alg', craftedProof(key, { header: { alg: 'ES384' } })],
      ['private jwk', craftedProof(key, { header: { jwk: priv } })],
      ['signature', `${replayed.slice(0, replayed.lastIndexOf('.'))}.${Buffer.alloc(64, 1).toString('base64url')}`],
      ['htm', craftedProof(key, { claims: { htm: 'GET' } })],
      ['htu', craftedProof(key, { claims: { htu: `${emu.url}/v1/token?x=1` } })],
      ['iat', craftedProof(key, { claims: { iat: Math.floor(Date.now() / 1000) - 3600 } })],
    ];
    assert.ok(pub.x);
    for (const [what, proof] of cases) {
      const r = await rawToken(body, proof);
      assert.deepEqual([r.status, r.type], [400, 'ValidationException'], what);
    }
    // The first use of a proof refreshes; the same proof again is refused however valid.
    assert.equal((await rawToken(body, replayed)).status, 200);
    const again = await rawToken(body, replayed);
    assert.equal(again.status, 400);
    assert.match(String(again.body.message), /jti/);
  });

  test('refresh tokens are bound to the DPoP key and rotate; a used one is refused after the retry window', async () => {
    await control('POST', 'behaviour', { replaySeconds: 0 });
    try {
      const { key, answer } = await signIn();
      const grant = (refreshToken: string) => ({ clientId: SAME_DEVICE_CLIENT, grantType: 'refresh_token' as const, refreshToken });
      await assert.rejects(createOAuth2Token(emu.url, grant(answer.refreshToken), newDpopKey(), 'p'), { code: 'LoginRefused' });
      const next = await createOAuth2Token(emu.url, grant(answer.refreshToken), key, 'p');
      assert.notEqual(next.refreshToken, answer.refreshToken);
      assert.notEqual(next.accessKeyId, answer.accessKeyId);
      await assert.rejects(createOAuth2Token(emu.url, grant(answer.refreshToken), key, 'p'), { code: 'LoginRefused' });
      assert.match((await createOAuth2Token(emu.url, grant(next.refreshToken), key, 'p')).accessKeyId, /^ASIA/);
    } finally {
      await control('POST', 'behaviour', { replaySeconds: 10 });
    }
  });

  test('refusals map to one line each: TOKEN_EXPIRED, USER_CREDENTIALS_CHANGED, INSUFFICIENT_PERMISSIONS', async () => {
    const refused = async () => (await control<{ refused: Record<string, number> }>('GET', 'stats')).refused;
    const before = await refused();
    const { key, answer } = await signIn();
    const grant = { clientId: SAME_DEVICE_CLIENT, grantType: 'refresh_token' as const, refreshToken: answer.refreshToken };
    try {
      await control('POST', 'behaviour', { refusal: 'USER_CREDENTIALS_CHANGED' });
      await assert.rejects(createOAuth2Token(emu.url, grant, key, 'dev'), (e: Error & { code: string; fix: string }) => e.code === 'LoginCredentialsChanged' && /password changed/.test(e.message) && /keyrole login dev/.test(e.fix));
      await control('POST', 'behaviour', { refusal: 'INSUFFICIENT_PERMISSIONS' });
      await assert.rejects(createOAuth2Token(emu.url, grant, key, 'dev'), (e: Error & { code: string; fix: string }) => e.code === 'LoginNotPermitted' && /SignInLocalDevelopmentAccess/.test(e.fix));
    } finally {
      await control('POST', 'behaviour', { refusal: null });
    }
    await control('POST', 'end-sessions');
    const r = await rawToken(grant, dpopProof(key, `${emu.url}/v1/token`));
    assert.deepEqual([r.status, r.type, r.body.error], [401, 'AccessDeniedException', 'TOKEN_EXPIRED']);
    await assert.rejects(createOAuth2Token(emu.url, grant, key, 'dev'), (e: Error & { code: string; fix: string }) => e.code === 'LoginExpired' && /12 hours/.test(e.message) && e.fix === 'run: keyrole login dev');
    // The emulator counts refusals by the body's error, not by the exception type.
    const after = await refused();
    for (const [error, n] of [['USER_CREDENTIALS_CHANGED', 1], ['INSUFFICIENT_PERMISSIONS', 1], ['TOKEN_EXPIRED', 2]] as const) {
      assert.equal((after[error] ?? 0) - (before[error] ?? 0), n, error);
    }
  });

  test("the JS SDK's fromLoginCredentials refreshes a CLI-format session against the emulator", async () => {
    const { fromLoginCredentials } = await import('@aws-sdk/credential-provider-login');
    const dir = mkdtempSync(join(tmpdir(), 'keyrole-login-sdk-'));
    const saved = { ...process.env };
    try {
      const minted = await control<{ loginSession: string; token: { accessToken: { accessKeyId: string } } }>('POST', 'cli-session', { expiresInSeconds: 60 });
      assert.equal(minted.loginSession, ALICE);
      const file = join(dir, `${createHash('sha256').update(minted.loginSession).digest('hex')}.json`);
      writeFileSync(file, JSON.stringify(minted.token));
      writeFileSync(join(dir, 'config'), `[profile dev]\nlogin_session = ${minted.loginSession}\nregion = eu-west-1\n`);
      Object.assign(process.env, { AWS_LOGIN_CACHE_DIRECTORY: dir, AWS_CONFIG_FILE: join(dir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_ENDPOINT_URL_SIGNIN: emu.url });
      const before = await control<{ refreshGrants: number }>('GET', 'stats');
      const creds = await fromLoginCredentials({ profile: 'dev' })();
      const stats = await control<{ refreshGrants: number; refused: Record<string, number> }>('GET', 'stats');
      assert.equal(stats.refreshGrants, before.refreshGrants + 1, `one refresh (refused so far: ${JSON.stringify(stats.refused)})`);
      assert.notEqual(creds.accessKeyId, minted.token.accessToken.accessKeyId);
      const sts = new STSClient({ region: 'us-east-1', endpoint: emu.url, credentials: creds, maxAttempts: 1 });
      assert.equal((await sts.send(new GetCallerIdentityCommand({}))).Arn, ALICE);
      assert.notEqual(JSON.parse(readFileSync(file, 'utf8')).refreshToken, undefined);
    } finally {
      for (const k of ['AWS_LOGIN_CACHE_DIRECTORY', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_ENDPOINT_URL_SIGNIN']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sign-in endpoints', () => {
  test("match the SDK's own endpoint rules for signin in every partition, FIPS and dual-stack", async () => {
    const { SigninClient } = await import('@aws-sdk/nested-clients/signin');
    const regions = ['us-east-1', 'eu-west-1', 'cn-north-1', 'us-gov-west-1', 'us-gov-east-1', 'eusc-de-east-1', 'us-iso-east-1', 'us-isob-east-1', 'eu-isoe-west-1', 'us-isof-south-1'];
    for (const region of regions) {
      for (const [fips, dual] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const c = new SigninClient({ region, useFipsEndpoint: fips, useDualstackEndpoint: dual });
        let want: string;
        try {
          want = c.config.endpointProvider({ Region: region, UseFIPS: fips, UseDualStack: dual }).url.href.replace(/\/$/, '');
        } catch {
          continue; // a combination the partition does not offer
        }
        assert.equal(regionalSigninEndpoint(region, { fips, dual }), want, `${region} fips=${fips} dual=${dual}`);
      }
    }
  });
});

describe('the sign-in flow chosen, and what comes back from it', () => {
  test('--remote by itself over SSH or without a browser, as the SSO device flow; the browser otherwise', async () => {
    const { chooseLoginFlow } = await import('../../src/login/session.ts');
    assert.deepEqual(chooseLoginFlow({}, { BROWSER: '/usr/bin/true' }), { remote: false, open: true });
    assert.deepEqual(chooseLoginFlow({ noBrowser: true }, { BROWSER: '/usr/bin/true' }), { remote: false, open: false });
    assert.equal(chooseLoginFlow({ remote: true }, { BROWSER: '/usr/bin/true' }).remote, true);
    const ssh = chooseLoginFlow({}, { BROWSER: '/usr/bin/true', SSH_CONNECTION: '10.0.0.1 22 10.0.0.2 22' });
    assert.equal(ssh.remote, true);
    assert.match(ssh.note!, /^This is an SSH session \(SSH_CONNECTION is set\): signing in with a browser on any device \(keyrole login --remote\)/);
  });

  test('the pasted verification text must carry this sign-in\'s state; the ID token must name a session ARN', async () => {
    const { parseVerification, sessionOf } = await import('../../src/login/session.ts');
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    assert.equal(parseVerification(` ${b64('state=s1&code=abc')}\n`, 's1'), 'abc');
    assert.throws(() => parseVerification(b64('state=other&code=abc'), 's1'), { code: 'LoginDenied' });
    assert.throws(() => parseVerification('not base64 at all', 's1'), { code: 'LoginDenied' });
    const jwt = (sub: unknown) => `e30.${Buffer.from(JSON.stringify({ sub })).toString('base64url')}.sig`;
    assert.equal(sessionOf(jwt(ALICE)), ALICE);
    assert.throws(() => sessionOf(jwt('arn:aws:iam::1:user/x\n[default]')), { code: 'LoginMalformed' });
    assert.throws(() => sessionOf(undefined), { code: 'LoginMalformed' });
  });
});
