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
    await new Promise((r) => setTimeout(r, 6000));
    const token = await poll();
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
    await new Promise((r) => setTimeout(r, 1000));
    const t = await oidc.send(new CreateTokenCommand({ clientId: c.clientId, clientSecret: c.clientSecret, grantType: DEVICE, deviceCode: a.deviceCode }));
    assert.ok(t.accessToken);
  });
});
