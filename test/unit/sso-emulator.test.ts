// The emulator's IAM Identity Center, driven by the real SDK clients keyrole uses
// (@aws-sdk/client-sso-oidc, @aws-sdk/client-sso): the device flow with its pending /
// slow_down / expired / denied answers, refresh tokens, the portal, AWS's error shapes, and
// role credentials that the STS side accepts (and that can sign a chained AssumeRole).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateTokenCommand, RegisterClientCommand, SSOOIDCClient, StartDeviceAuthorizationCommand } from '@aws-sdk/client-sso-oidc';
import { GetRoleCredentialsCommand, ListAccountRolesCommand, ListAccountsCommand, LogoutCommand, SSOClient } from '@aws-sdk/client-sso';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { startEmulator, type RunningEmulator } from '../../emulator/server.ts';
import { DEMO_ACCOUNT_ID } from '../../emulator/seed.ts';

const START = 'https://keyrole-demo.awsapps.com/start';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';

let emu: RunningEmulator;
let oidc: SSOOIDCClient;
let portal: SSOClient;

async function control<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${emu.url}/_emulator/${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}

async function rejects(p: Promise<unknown>, name: string, status: number, error?: string): Promise<void> {
  await assert.rejects(p, (e: { name: string; error?: string; $metadata: { httpStatusCode?: number } }) => {
    assert.equal(e.name, name);
    assert.equal(e.$metadata.httpStatusCode, status);
    if (error !== undefined) assert.equal(e.error, error);
    return true;
  });
}

async function register(scopes: string[] = ['sso:account:access']) {
  return oidc.send(new RegisterClientCommand({ clientName: 'keyrole-test', clientType: 'public', scopes }));
}

/** A full device-flow login: register, authorize, approve through the control, poll. */
async function login(scopes?: string[]) {
  const client = await register(scopes);
  const auth = await oidc.send(new StartDeviceAuthorizationCommand({ clientId: client.clientId, clientSecret: client.clientSecret, startUrl: START }));
  assert.equal((await control('POST', 'sso/approve', { userCode: auth.userCode })).status, 200);
  const token = await oidc.send(new CreateTokenCommand({ clientId: client.clientId, clientSecret: client.clientSecret, grantType: DEVICE, deviceCode: auth.deviceCode }));
  return { client, token };
}

before(async () => {
  emu = await startEmulator();
  oidc = new SSOOIDCClient({ region: 'eu-west-1', endpoint: emu.url, maxAttempts: 1 });
  portal = new SSOClient({ region: 'eu-west-1', endpoint: emu.url, maxAttempts: 1 });
});
after(() => emu?.close());

describe('SSO-OIDC', () => {
  test('RegisterClient answers a client id, a secret and its expiry (90 days, in seconds)', async () => {
    const c = await register();
    assert.ok(c.clientId && c.clientSecret && c.clientSecret.length > 200);
    const days = (c.clientSecretExpiresAt! - c.clientIdIssuedAt!) / 86400;
    assert.equal(days, 90);
    await rejects(oidc.send(new RegisterClientCommand({ clientName: 'x', clientType: 'confidential' })), 'InvalidClientMetadataException', 400, 'invalid_client_metadata');
  });

  test('the device flow: pending until approved, slow_down when polled too fast, a token after approval', async () => {
    const c = await register();
    const auth = await oidc.send(new StartDeviceAuthorizationCommand({ clientId: c.clientId, clientSecret: c.clientSecret, startUrl: START }));
    assert.match(auth.userCode!, /^[A-Z]{4}-[A-Z]{4}$/);
    assert.equal(auth.verificationUriComplete, `${auth.verificationUri}?user_code=${auth.userCode}`);
    assert.equal(auth.expiresIn, 600);
    assert.equal(auth.interval, 1);
    const poll = () => oidc.send(new CreateTokenCommand({ clientId: c.clientId, clientSecret: c.clientSecret, grantType: DEVICE, deviceCode: auth.deviceCode }));
    await rejects(poll(), 'AuthorizationPendingException', 400, 'authorization_pending');
    await rejects(poll(), 'SlowDownException', 400, 'slow_down');
    const pending = await control<{ userCode: string; interval: number }[]>('GET', 'sso/pending');
    const mine = pending.body.find((p) => p.userCode === auth.userCode)!;
    assert.equal(mine.interval, 6, 'slow_down added 5 s to the interval');
    await control('POST', 'sso/approve', { userCode: auth.userCode });
    // The interval is judged by the emulator's clock: moved on by the 6 s instead of waiting them out.
    await control('POST', 'behaviour', { clockOffsetMs: 6000 });
    const token = await poll().finally(() => control('POST', 'behaviour', { clockOffsetMs: 0 }));
    assert.ok(token.accessToken?.startsWith('aoa'));
    assert.ok(token.refreshToken?.startsWith('aor'), 'sso:account:access gives a refresh token');
    assert.equal(token.expiresIn, 3600);
    assert.equal(token.tokenType, 'Bearer');
    await rejects(poll(), 'InvalidGrantException', 400, 'invalid_grant');
  });

  test('a denied request, an expired code, a bad client and an unknown grant type answer as AWS does', async () => {
    const c = await register();
    const start = () => oidc.send(new StartDeviceAuthorizationCommand({ clientId: c.clientId, clientSecret: c.clientSecret, startUrl: START }));
    const a = await start();
    await control('POST', 'sso/approve', { userCode: a.userCode, deny: true });
    await rejects(oidc.send(new CreateTokenCommand({ clientId: c.clientId, clientSecret: c.clientSecret, grantType: DEVICE, deviceCode: a.deviceCode })), 'AccessDeniedException', 400, 'access_denied');

    await control('POST', 'sso/behaviour', { deviceCodeLifetimeSeconds: 0 });
    const b = await start();
    await control('POST', 'sso/behaviour', { deviceCodeLifetimeSeconds: 600 });
    await rejects(oidc.send(new CreateTokenCommand({ clientId: c.clientId, clientSecret: c.clientSecret, grantType: DEVICE, deviceCode: b.deviceCode })), 'ExpiredTokenException', 400, 'expired_token');

    await rejects(oidc.send(new StartDeviceAuthorizationCommand({ clientId: c.clientId, clientSecret: 'wrong', startUrl: START })), 'InvalidClientException', 401, 'invalid_client');
    await rejects(oidc.send(new CreateTokenCommand({ clientId: c.clientId, clientSecret: c.clientSecret, grantType: 'password' })), 'UnsupportedGrantTypeException', 400, 'unsupported_grant_type');
  });

  test('the raw error: HTTP 400, x-amzn-ErrorType, and {error, error_description}', async () => {
    const c = await register();
    const res = await fetch(`${emu.url}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ clientId: c.clientId, clientSecret: c.clientSecret, grantType: DEVICE, deviceCode: 'nope' }) });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('x-amzn-errortype')!, /^InvalidGrantException:/);
    assert.ok(res.headers.get('x-amzn-requestid'));
    assert.deepEqual(await res.json(), { error: 'invalid_grant', error_description: 'Invalid device code provided' });
  });

  test('refresh tokens rotate: the new pair works, the old refresh token is refused', async () => {
    const { client, token } = await login();
    const refresh = (rt: string | undefined) => oidc.send(new CreateTokenCommand({ clientId: client.clientId, clientSecret: client.clientSecret, grantType: 'refresh_token', refreshToken: rt }));
    const next = await refresh(token.refreshToken);
    assert.ok(next.accessToken && next.accessToken !== token.accessToken);
    assert.ok(next.refreshToken && next.refreshToken !== token.refreshToken);
    await rejects(refresh(token.refreshToken), 'InvalidGrantException', 400, 'invalid_grant');
    await portal.send(new GetRoleCredentialsCommand({ accessToken: next.accessToken, accountId: DEMO_ACCOUNT_ID, roleName: 'ReadOnlyAccess' }));
    await control('POST', 'sso/expire', { refreshTokens: true });
    await rejects(refresh(next.refreshToken), 'ExpiredTokenException', 400, 'expired_token');
  });

  test('without sso:account:access there is no refresh token', async () => {
    const { token } = await login([]);
    assert.ok(token.accessToken);
    assert.equal(token.refreshToken, undefined);
  });
});

describe('the portal', () => {
  test('GetRoleCredentials: credentials STS accepts, as AWSReservedSSO_<Role>_<hash>/<user>, usable for a chained AssumeRole of at most 1 h', async () => {
    const { token } = await login();
    const out = await portal.send(new GetRoleCredentialsCommand({ accessToken: token.accessToken, accountId: DEMO_ACCOUNT_ID, roleName: 'AdministratorAccess' }));
    const rc = out.roleCredentials!;
    assert.match(rc.accessKeyId!, /^ASIA[A-Z2-7]{16}$/);
    const left = rc.expiration! - Date.now();
    assert.ok(left > 3590_000 && left <= 3600_000, `expires in ${left} ms`);
    const sts = new STSClient({ region: 'us-east-1', endpoint: emu.url, credentials: { accessKeyId: rc.accessKeyId!, secretAccessKey: rc.secretAccessKey!, sessionToken: rc.sessionToken! }, maxAttempts: 1 });
    const id = await sts.send(new GetCallerIdentityCommand({}));
    assert.match(id.Arn!, new RegExp(`^arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/AWSReservedSSO_AdministratorAccess_[0-9a-f]{16}/alice$`));
    assert.equal(id.Account, DEMO_ACCOUNT_ID);
    const chained = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`, RoleSessionName: 'chained', DurationSeconds: 3600 }));
    assert.equal(chained.AssumedRoleUser!.Arn, `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/chained`);
    await assert.rejects(sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`, RoleSessionName: 'chained', DurationSeconds: 7200 })), /role chaining/);
  });

  test('a bad or expired token is UnauthorizedException (401); an unassigned role is ForbiddenException "No access" (403)', async () => {
    const { token } = await login();
    await rejects(portal.send(new GetRoleCredentialsCommand({ accessToken: 'aoaNOPE', accountId: DEMO_ACCOUNT_ID, roleName: 'ReadOnlyAccess' })), 'UnauthorizedException', 401);
    await assert.rejects(portal.send(new GetRoleCredentialsCommand({ accessToken: token.accessToken, accountId: DEMO_ACCOUNT_ID, roleName: 'Nope' })),
      (e: Error & { $metadata: { httpStatusCode: number } }) => e.name === 'ForbiddenException' && e.message === 'No access' && e.$metadata.httpStatusCode === 403);
    await control('POST', 'sso/expire', { accessToken: token.accessToken });
    await rejects(portal.send(new GetRoleCredentialsCommand({ accessToken: token.accessToken, accountId: DEMO_ACCOUNT_ID, roleName: 'ReadOnlyAccess' })), 'UnauthorizedException', 401);
  });

  test('ListAccounts and ListAccountRoles page through everything; Logout revokes the token', async () => {
    const { token } = await login();
    await control('POST', 'sso/assignments', { accountId: '777788889999', accountName: 'prod', roleName: 'PowerUser' });
    await control('POST', 'sso/behaviour', { pageSize: 1 });
    try {
      const accounts: string[] = [];
      let next: string | undefined;
      let pages = 0;
      do {
        const p = await portal.send(new ListAccountsCommand({ accessToken: token.accessToken, nextToken: next }));
        accounts.push(...p.accountList!.map((a) => `${a.accountId}:${a.accountName}`));
        next = p.nextToken;
        pages++;
      } while (next);
      assert.deepEqual(accounts, [`${DEMO_ACCOUNT_ID}:demo`, '444455556666:sandbox', '777788889999:prod']);
      assert.equal(pages, 3);
      const roles = await portal.send(new ListAccountRolesCommand({ accessToken: token.accessToken, accountId: DEMO_ACCOUNT_ID, maxResults: 10 }));
      assert.deepEqual(roles.roleList!.map((r) => r.roleName), ['AdministratorAccess']);
      assert.ok(roles.nextToken);
    } finally {
      await control('POST', 'sso/behaviour', { pageSize: 20 });
    }
    await portal.send(new LogoutCommand({ accessToken: token.accessToken }));
    await rejects(portal.send(new ListAccountsCommand({ accessToken: token.accessToken })), 'UnauthorizedException', 401);
  });
});

describe('controls', () => {
  test('approve without a code needs exactly one pending request; stats count by grant type; errors are JSON', async () => {
    await control('POST', 'sso/reset-stats');
    const none = await control<{ error: string }>('POST', 'sso/approve', { userCode: 'ZZZZ-ZZZZ' });
    assert.equal(none.status, 404);
    const c = await register();
    for (let i = 0; i < 2; i++) await oidc.send(new StartDeviceAuthorizationCommand({ clientId: c.clientId, clientSecret: c.clientSecret, startUrl: START }));
    const two = await control<{ pending: string[] }>('POST', 'sso/approve', {});
    assert.equal(two.status, 409);
    assert.equal(two.body.pending.length, 2);
    await control('POST', 'sso/expire', {});
    const stats = await control<{ registerClient: number; startDeviceAuthorization: number; createToken: { deviceCode: number; refreshToken: number } }>('GET', 'sso/stats');
    assert.equal(stats.body.registerClient, 1);
    assert.equal(stats.body.startDeviceAuthorization, 2);
    assert.equal((await control('POST', 'sso/behaviour', { interval: 'fast' })).status, 400);
    assert.equal((await control('GET', 'sso/nope')).status, 404);
    const all = await control<{ calls: Record<string, number> }>('GET', 'stats');
    assert.ok(all.body.calls.StartDeviceAuthorization >= 2, 'SSO calls show in the shared stats too');
  });

  test('a minted token (what aws sso login would leave) works at the portal', async () => {
    const minted = await control<{ accessToken: string; expiresAt: string; clientId: string; refreshToken?: string }>('POST', 'sso/token', { startUrl: START, scopes: ['sso:account:access'], lifetimeSeconds: 120 });
    assert.match(minted.body.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(minted.body.refreshToken);
    const out = await portal.send(new GetRoleCredentialsCommand({ accessToken: minted.body.accessToken, accountId: '444455556666', roleName: 'ReadOnlyAccess' }));
    assert.ok(out.roleCredentials?.accessKeyId);
  });

  test('the device page approves by form post, for demos', async () => {
    const c = await register();
    const a = await oidc.send(new StartDeviceAuthorizationCommand({ clientId: c.clientId, clientSecret: c.clientSecret, startUrl: START }));
    const page = await fetch(a.verificationUriComplete!);
    assert.match(await page.text(), new RegExp(`${a.userCode}</b>: pending`));
    const post = await fetch(`${emu.url}/device`, { method: 'POST', body: new URLSearchParams({ user_code: a.userCode! }) });
    assert.match(await post.text(), /approved/);
    const t = await oidc.send(new CreateTokenCommand({ clientId: c.clientId, clientSecret: c.clientSecret, grantType: DEVICE, deviceCode: a.deviceCode }));
    assert.ok(t.accessToken);
  });
});

describe('SSO-OIDC /authorize and the authorization_code grant (strict, so keyrole\'s browser sign-in is proven against it)', () => {
  const REDIRECT = 'http://127.0.0.1/oauth/callback';
  // RFC 7636 appendix B.
  const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
  const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

  async function registerAuthCode(scopes = ['sso:account:access']) {
    return oidc.send(new RegisterClientCommand({ clientName: 'keyrole-test', clientType: 'public', scopes, grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT], issuerUrl: START }));
  }

  function authorizeUrl(p: Record<string, string | undefined>): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries({ response_type: 'code', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'st4te', ...p })) if (v !== undefined) q.set(k, v);
    return `${emu.url}/authorize?${q}`;
  }

  /** The Allow page, then its form: the redirect's Location. */
  async function allow(url: string, deny = false): Promise<URL> {
    const page = await fetch(url, { redirect: 'manual' });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<button type="submit" name="allow" value="1">Allow<\/button>/);
    const request = /name="request" value="([^"]+)"/.exec(html)![1]!;
    const post = await fetch(`${emu.url}/authorize`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ request, ...(deny ? { deny: '1' } : { allow: '1' }) }) });
    assert.equal(post.status, 302);
    return new URL(post.headers.get('location')!);
  }

  const redeem = (c: { clientId?: string; clientSecret?: string }, code: string, o: { redirectUri?: string; codeVerifier?: string } = {}) =>
    oidc.send(new CreateTokenCommand({ clientId: c.clientId, clientSecret: c.clientSecret, grantType: 'authorization_code', code, redirectUri: o.redirectUri ?? 'http://127.0.0.1:50123/oauth/callback', codeVerifier: o.codeVerifier ?? VERIFIER }));

  test('Allow redirects to the loopback URI (any port) with a code and the state; the code, the verifier and the same redirect URI give a token the portal accepts', async () => {
    const c = await registerAuthCode();
    const back = await allow(authorizeUrl({ client_id: c.clientId, redirect_uri: 'http://127.0.0.1:50123/oauth/callback', scopes: 'sso:account:access' }));
    assert.equal(`${back.origin}${back.pathname}`, 'http://127.0.0.1:50123/oauth/callback');
    assert.equal(back.searchParams.get('state'), 'st4te');
    const t = await redeem(c, back.searchParams.get('code')!);
    assert.ok(t.accessToken && t.refreshToken);
    const out = await portal.send(new GetRoleCredentialsCommand({ accessToken: t.accessToken, accountId: '444455556666', roleName: 'ReadOnlyAccess' }));
    assert.ok(out.roleCredentials?.accessKeyId);
  });

  test('unknown client, unregistered redirect URI, missing state, no S256 challenge, a device-only client: refused without a code', async () => {
    const c = await registerAuthCode();
    const device = await register();
    const base = { client_id: c.clientId, redirect_uri: 'http://127.0.0.1:50123/oauth/callback' };
    for (const [why, p] of [
      ['unknown client', { ...base, client_id: 'nobody' }],
      ['a device-flow client', { ...base, client_id: device.clientId }],
      ['another host', { ...base, redirect_uri: 'http://evil.example/oauth/callback' }],
      ['another path', { ...base, redirect_uri: 'http://127.0.0.1:50123/elsewhere' }],
      ['localhost is not the registered address', { ...base, redirect_uri: 'http://localhost:50123/oauth/callback' }],
      ['missing state', { ...base, state: undefined }],
      ['client_id twice', { ...base, client_id: `${c.clientId}&client_id=x` }],
    ] as const) {
      const r = await fetch(authorizeUrl(p).replace('%26client_id%3Dx', '&client_id=x'), { redirect: 'manual' });
      assert.equal(r.status, 400, why);
      assert.equal(r.headers.get('location'), null, `${why}: no redirect`);
    }
    for (const [why, p, error] of [
      ['plain challenge', { ...base, code_challenge_method: 'plain' }, 'invalid_request'],
      ['no challenge', { ...base, code_challenge: undefined }, 'invalid_request'],
      ['token response type', { ...base, response_type: 'token' }, 'unsupported_response_type'],
      ['scopes beyond the registration', { ...base, scopes: 'sso:account:access openid' }, 'invalid_scope'],
    ] as const) {
      const r = await fetch(authorizeUrl(p), { redirect: 'manual' });
      assert.equal(r.status, 302, why);
      const back = new URL(r.headers.get('location')!);
      assert.equal(back.searchParams.get('error'), error, why);
      assert.equal(back.searchParams.get('code'), null, why);
      assert.equal(back.searchParams.get('state'), 'st4te', why);
    }
    // A device-flow registration cannot start a browser sign-in, and an authorization-code one no device flow.
    await rejects(oidc.send(new StartDeviceAuthorizationCommand({ clientId: c.clientId, clientSecret: c.clientSecret, startUrl: START })), 'UnauthorizedClientException', 400, 'unauthorized_client');
    await rejects(oidc.send(new RegisterClientCommand({ clientName: 'x', clientType: 'public', grantTypes: ['authorization_code'], issuerUrl: START })), 'InvalidRedirectUriException', 400);
  });

  test('Deny redirects with access_denied; a wrong verifier, another redirect URI, another client, a replayed or expired code are refused; a replay revokes the token', async () => {
    const c = await registerAuthCode();
    const other = await registerAuthCode();
    const url = authorizeUrl({ client_id: c.clientId, redirect_uri: 'http://127.0.0.1:50123/oauth/callback' });
    const denied = await allow(url, true);
    assert.equal(denied.searchParams.get('error'), 'access_denied');
    assert.equal(denied.searchParams.get('code'), null);

    for (const [why, run] of [
      ['wrong verifier', (code: string) => redeem(c, code, { codeVerifier: 'x'.repeat(43) })],
      ['verifier too short', (code: string) => redeem(c, code, { codeVerifier: VERIFIER.slice(0, 42) })],
      ['another redirect URI', (code: string) => redeem(c, code, { redirectUri: 'http://127.0.0.1:50124/oauth/callback' })],
      ['another client', (code: string) => redeem(other, code)],
    ] as const) {
      const code = (await allow(url)).searchParams.get('code')!;
      await rejects(run(code), 'InvalidGrantException', 400, 'invalid_grant');
      if (why !== 'another client') await rejects(redeem(c, code), 'InvalidGrantException', 400, 'invalid_grant'); // a failed attempt used the code up
    }

    const code = (await allow(url)).searchParams.get('code')!;
    const t = await redeem(c, code);
    await rejects(redeem(c, code), 'InvalidGrantException', 400, 'invalid_grant');
    await rejects(portal.send(new GetRoleCredentialsCommand({ accessToken: t.accessToken, accountId: '444455556666', roleName: 'ReadOnlyAccess' })), 'UnauthorizedException', 401);

    await control('POST', 'sso/behaviour', { authCodeLifetimeSeconds: 0 });
    try {
      const late = (await allow(url)).searchParams.get('code')!;
      await rejects(redeem(c, late), 'InvalidGrantException', 400, 'invalid_grant');
    } finally {
      await control('POST', 'sso/behaviour', { authCodeLifetimeSeconds: 300 });
    }
  });

  test('autoAuthorize redirects at once (for browsers that only load pages)', async () => {
    const c = await registerAuthCode();
    await control('POST', 'sso/behaviour', { autoAuthorize: true });
    try {
      const r = await fetch(authorizeUrl({ client_id: c.clientId, redirect_uri: 'http://127.0.0.1:50123/oauth/callback' }), { redirect: 'manual' });
      assert.equal(r.status, 302);
      const code = new URL(r.headers.get('location')!).searchParams.get('code')!;
      assert.ok((await redeem(c, code)).accessToken);
    } finally {
      await control('POST', 'sso/behaviour', { autoAuthorize: false });
    }
  });
});
