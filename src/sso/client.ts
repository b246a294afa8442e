// The IAM Identity Center calls, through the AWS SDK (loaded only when a call is about to
// be made): the endpoints, SSO-OIDC RegisterClient and CreateToken (refresh), the portal's
// GetRoleCredentials, ListAccounts/ListAccountRoles and Logout, and one line of cause and
// fix for each way they fail.

import { KeyroleError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';
import { debug } from '../util/debug.ts';
import { loadSdk } from '../aws/sdk.ts';
import { requestHandler as awsRequestHandler, withoutNodeTlsOverride } from '../aws/http.ts';
import { readFailure, isRefusal, isThrottling, outsideText } from '../aws/failures.ts';
import { checkRegion } from '../config/region.ts';
import { caBundleSetting } from '../config/cabundle.ts';
import { credentialProblem } from '../credentials/shape.ts';
import { configuredEndpoint, fipsDualStack, regionalEndpoint } from '../config/endpoints.ts';
import type { SsoRef } from '../config/settings.ts';
import type { TempCredentials } from '../aws/sts.ts';
import { sessionId, type SsoSessionRef } from './session.ts';
import { recordFromAnswer, type SsoRecord, type TokenAnswer } from './record.ts';

const CONNECT_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 5000;
const TOTAL_TIMEOUT_MS = 12000;

/** Where one IAM Identity Center API is, and which setting says so. */
export interface SsoEndpoint { url: string; from: string }
export interface SsoEndpoints { oidc: SsoEndpoint; portal: SsoEndpoint }

/**
 * The endpoints, resolved: the configured ones (src/config/endpoints.ts configuredEndpoint,
 * with the settings of the profile that uses the session: its ignore_configured_endpoint_urls,
 * [services] sso_oidc / sso and endpoint_url too), else the regional ones in the session's
 * partition (FIPS and dual-stack as for STS). The SDK is given the result, so what keyrole
 * names in a message is where the request went.
 */
export function ssoEndpoints(ref: Pick<SsoSessionRef, 'ssoRegion' | 'endpointSettings'>): SsoEndpoints {
  const region = checkRegion(ref.ssoRegion, 'sso_region');
  const profile = ref.endpointSettings?.profile ?? {};
  const fd = fipsDualStack(profile);
  const pick = (service: string, host: string): SsoEndpoint => {
    const c = configuredEndpoint(ref.endpointSettings?.files, profile, service);
    if (!c) return { url: regionalEndpoint(host, region, fd), from: fd.from || 'regional' };
    if (!/^https?:\/\/[^\s/]+/.test(c.endpoint)) {
      throw new KeyroleError('BadEndpoint', `IAM Identity Center endpoint ${JSON.stringify(printable(c.endpoint).slice(0, 100))} (from ${c.from}) is not an http(s) URL`, 'fix or unset it');
    }
    return { url: c.endpoint, from: c.from };
  };
  return { oidc: pick('sso_oidc', 'oidc'), portal: pick('sso', 'portal.sso') };
}

/** One line of cause and fix for an IAM Identity Center failure. `name` is the `keyrole login` argument. */
export function ssoError(err: unknown, whatRaw: string, whereRaw: string, name: string): KeyroleError {
  if (err instanceof KeyroleError) return err;
  // Names from the config and the environment go into the line too.
  const [what, where] = [printable(whatRaw), printable(whereRaw)];
  // The service (or whatever answers at its endpoint) chooses these texts: readFailure makes
  // them printable, one line each, and not endless ones.
  const f = readFailure(err);
  // OIDC errors carry `error` and `error_description` (RFC 6749); the SDK's message is then 'UnknownError'.
  const e = (err ?? {}) as { error?: unknown; error_description?: unknown };
  const text = typeof e.error_description === 'string' ? e.error_description : f.message && f.message !== 'UnknownError' ? f.message : typeof e.error === 'string' ? e.error : f.code;
  const detail = outsideText(text);
  const type = f.code;
  const status = f.status;
  if (f.kind === 'tls') {
    return new KeyroleError('TlsUntrusted', `IAM Identity Center at ${where} presented a TLS certificate keyrole does not trust (${f.code}); nothing was sent`, 'if a proxy inspects TLS, point AWS_CA_BUNDLE or the profile\'s ca_bundle at its CA certificate; otherwise someone may be intercepting the connection');
  }
  if (f.kind !== 'service') {
    return new KeyroleError('SsoUnreachable', `cannot reach IAM Identity Center at ${where} (${f.code}: ${f.message})`, 'check the network, a proxy, or AWS_ENDPOINT_URL_SSO / AWS_ENDPOINT_URL_SSO_OIDC');
  }
  switch (type) {
    case 'UnauthorizedException':
      return new KeyroleError('SsoTokenRejected', `IAM Identity Center rejected the access token for ${what} (signed out, or the session ended)`, `sign in again: keyrole login ${name}`);
    case 'ForbiddenException':
    case 'ResourceNotFoundException':
      return new KeyroleError('SsoNoAccess', `IAM Identity Center gives you no access to ${what} (${detail})`, `check keyrole_sso_account_id and keyrole_sso_role_name; keyrole sso populate ${name} lists the roles you can use`);
    case 'AccessDeniedException':
      return new KeyroleError('SsoLoginDenied', `the sign-in request was denied (${detail})`, `run keyrole login ${name} again and choose Allow`);
    case 'ExpiredTokenException':
      return new KeyroleError('SsoLoginExpired', 'the sign-in code expired before it was approved', `run keyrole login ${name} again and approve it in time`);
    case 'InvalidClientException':
    case 'UnauthorizedClientException':
      return new KeyroleError('SsoClientRejected', `IAM Identity Center rejected keyrole's client registration (${detail})`, `run keyrole login ${name} again`);
    case 'InvalidScopeException':
      return new KeyroleError('SsoBadScopes', `IAM Identity Center refused the registration scopes (${detail})`, 'fix sso_registration_scopes in the sso-session (sso:account:access gives refresh tokens)');
    case 'InvalidRequestException':
    case 'InvalidRequestRegionException':
      return new KeyroleError('SsoBadRequest', `IAM Identity Center refused ${what} (${detail})`, 'check sso_start_url and sso_region in the sso-session');
  }
  if (isThrottling(f)) return new KeyroleError('SsoThrottled', `IAM Identity Center is throttling ${what} (${detail})`, 'wait a minute and retry');
  if (isRefusal(f)) return new KeyroleError('SsoRefused', `IAM Identity Center refused ${what}: ${type} (HTTP ${status}): ${detail}`, `check the sso-session settings; sign in again with keyrole login ${name} if it persists`);
  return new KeyroleError('SsoError', `IAM Identity Center ${what} failed: ${type}${status ? ` (HTTP ${status})` : ''}: ${detail}`, `retry later; check the endpoint (${where})`);
}

// The trust of the profile that uses the session, as for its STS calls: AWS_CA_BUNDLE, then
// its ca_bundle (an [sso-session] named on its own, without a profile: AWS_CA_BUNDLE only).
function requestHandler(url: string, ref: Pick<SsoSessionRef, 'endpointSettings'>) {
  return awsRequestHandler({ url, connectTimeoutMs: CONNECT_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS, caBundle: caBundleSetting(ref.endpointSettings?.profile) });
}

// The SDK is given the endpoint keyrole resolved (ssoEndpoints), and told not to look up FIPS
// or dual-stack itself: it would read the variables and the AWS_PROFILE profile, not the
// profile that uses the session (and refuse FIPS with an endpoint given).
function clientConfig(ref: SsoSessionRef, ep: SsoEndpoint, maxAttempts: number) {
  return { region: ref.ssoRegion, endpoint: ep.url, useFipsEndpoint: false, useDualstackEndpoint: false, maxAttempts, requestHandler: requestHandler(ep.url, ref) };
}

function oidcApi(ref: SsoSessionRef) {
  const ep = ssoEndpoints(ref).oidc;
  const started = performance.now();
  const m = loadSdk('sso-oidc');
  debug(`loaded @aws-sdk/client-sso-oidc in ${(performance.now() - started).toFixed(1)} ms; endpoint ${ep.url} (from ${ep.from})`);
  return { m, c: new m.SSOOIDCClient(clientConfig(ref, ep, 2)), where: ep.url };
}

function portalApi(ref: SsoSessionRef) {
  const ep = ssoEndpoints(ref).portal;
  const started = performance.now();
  const m = loadSdk('sso');
  debug(`loaded @aws-sdk/client-sso in ${(performance.now() - started).toFixed(1)} ms; endpoint ${ep.url} (from ${ep.from})`);
  return { m, c: new m.SSOClient(clientConfig(ref, ep, 3)), where: ep.url };
}

export async function timed<T>(what: string, run: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const out = await withoutNodeTlsOverride(() => run(AbortSignal.timeout(TOTAL_TIMEOUT_MS)));
    debug(`${what} answered in ${(performance.now() - started).toFixed(1)} ms`);
    return out;
  } catch (err) {
    debug(`${what} failed after ${(performance.now() - started).toFixed(1)} ms: ${printable(String((err as Error)?.name)).slice(0, 100)}`);
    throw err;
  }
}

/** Which sign-in a client registration is for: AWS registers the grant types with the client. */
export type ClientGrant = 'device' | 'auth-code';

/**
 * RegisterClient. For the browser sign-in (`authCode`), as the AWS CLI registers: grant
 * types authorization_code and refresh_token, the loopback redirect URI without its port
 * (RFC 8252 7.3: any port matches), and the start URL as the issuer.
 */
export async function registerClient(ref: SsoSessionRef, name: string, authCode?: { redirectUri: string }): Promise<Required<Pick<SsoRecord, 'clientId' | 'clientSecret' | 'registrationExpiresAt'>>> {
  const { m, c, where } = oidcApi(ref);
  try {
    const out = await timed('SSO-OIDC RegisterClient', (abortSignal) => c.send(new m.RegisterClientCommand({
      clientName: `keyrole-${sessionId(ref).replace(/[^\w.-]/g, '_')}`.slice(0, 64),
      clientType: 'public',
      ...(ref.registrationScopes.length ? { scopes: ref.registrationScopes } : {}),
      ...(authCode ? { grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [authCode.redirectUri], issuerUrl: ref.startUrl } : {}),
    }), { abortSignal }));
    if (!out.clientId || !out.clientSecret) throw new KeyroleError('SsoMalformed', 'IAM Identity Center answered RegisterClient without a client id', 'retry later');
    // clientSecretExpiresAt is in seconds; AWS registrations last 90 days.
    const expires = out.clientSecretExpiresAt ? new Date(out.clientSecretExpiresAt * 1000) : new Date(Date.now() + 90 * 86400_000);
    return { clientId: out.clientId, clientSecret: out.clientSecret, registrationExpiresAt: expires };
  } catch (err) {
    throw ssoError(err, 'the client registration', where, name);
  }
}

export function tokenAnswer(out: { accessToken?: string; expiresIn?: number; refreshToken?: string }): TokenAnswer {
  if (!out.accessToken || !out.expiresIn) throw new KeyroleError('SsoMalformed', 'IAM Identity Center answered CreateToken without a token', 'retry later');
  return { accessToken: out.accessToken, expiresIn: out.expiresIn, refreshToken: out.refreshToken };
}

/** Renews an access token with the refresh token. Throws the SDK's error as is (the caller decides). */
export async function refreshWith(ref: SsoSessionRef, r: SsoRecord): Promise<SsoRecord> {
  const { m, c } = oidcApi(ref);
  const out = tokenAnswer(await timed('SSO-OIDC CreateToken (refresh_token)', (abortSignal) => c.send(new m.CreateTokenCommand({
    clientId: r.clientId, clientSecret: r.clientSecret, grantType: 'refresh_token', refreshToken: r.refreshToken,
  }), { abortSignal })));
  return recordFromAnswer(r, out);
}

/** Role credentials for an account and permission set (GetRoleCredentials). */
export async function getRoleCredentials(ref: SsoRef, accessToken: string, name: string): Promise<TempCredentials> {
  const { m, c, where } = portalApi(ref);
  let out;
  try {
    out = await timed(`SSO GetRoleCredentials ${ref.accountId}/${ref.roleName}`, (abortSignal) => c.send(new m.GetRoleCredentialsCommand({ accessToken, accountId: ref.accountId, roleName: ref.roleName }), { abortSignal }));
  } catch (err) {
    throw ssoError(err, `role ${ref.roleName} in account ${ref.accountId}`, where, name);
  }
  const rc = out.roleCredentials;
  // Epoch milliseconds from the portal; checked as they enter, like STS's (src/credentials/shape.ts).
  const expiration = new Date(typeof rc?.expiration === 'number' ? rc.expiration : NaN);
  const problem = credentialProblem({ accessKeyId: rc?.accessKeyId, secretAccessKey: rc?.secretAccessKey, sessionToken: rc?.sessionToken, expiration });
  if (problem) {
    throw new KeyroleError('SsoMalformed', `IAM Identity Center answered GetRoleCredentials with credentials keyrole will not use: ${problem}`, 'retry; if it persists, check AWS_ENDPOINT_URL_SSO');
  }
  return { accessKeyId: rc!.accessKeyId!, secretAccessKey: rc!.secretAccessKey!, sessionToken: rc!.sessionToken!, expiration, accountId: ref.accountId };
}

export interface SsoAssignment {
  accountId: string;
  accountName: string;
  roleName: string;
}

/** Every account and role the token can reach (ListAccounts, ListAccountRoles, all pages). */
export async function listAssignments(ref: SsoSessionRef, accessToken: string, name: string): Promise<SsoAssignment[]> {
  const { m, c, where } = portalApi(ref);
  const out: SsoAssignment[] = [];
  try {
    const accounts: { accountId: string; accountName: string }[] = [];
    let next: string | undefined;
    do {
      const page = await timed('SSO ListAccounts', (abortSignal) => c.send(new m.ListAccountsCommand({ accessToken, nextToken: next, maxResults: 100 }), { abortSignal }));
      for (const a of page.accountList ?? []) if (a.accountId) accounts.push({ accountId: a.accountId, accountName: a.accountName ?? a.accountId });
      next = page.nextToken ?? undefined;
    } while (next);
    for (const a of accounts) {
      let nextRole: string | undefined;
      do {
        const page = await timed(`SSO ListAccountRoles ${a.accountId}`, (abortSignal) => c.send(new m.ListAccountRolesCommand({ accessToken, accountId: a.accountId, nextToken: nextRole, maxResults: 100 }), { abortSignal }));
        for (const r of page.roleList ?? []) if (r.roleName) out.push({ accountId: a.accountId, accountName: a.accountName, roleName: r.roleName });
        nextRole = page.nextToken ?? undefined;
      } while (nextRole);
    }
  } catch (err) {
    throw ssoError(err, 'the account and role listing', where, name);
  }
  return out;
}

/** The portal's Logout. Throws the KeyroleError of a failure. */
export async function logout(ref: SsoSessionRef, accessToken: string, name: string): Promise<void> {
  const { m, c, where } = portalApi(ref);
  try {
    await timed('SSO Logout', (abortSignal) => c.send(new m.LogoutCommand({ accessToken }), { abortSignal }));
  } catch (err) {
    throw ssoError(err, 'the sign-out', where, name);
  }
}

export { oidcApi, TOTAL_TIMEOUT_MS };
