// IAM Identity Center for the emulator: SSO-OIDC (RegisterClient, StartDeviceAuthorization,
// the browser's /authorize with PKCE, CreateToken with the device-code, authorization-code
// and refresh-token grants) and the SSO portal
// (GetRoleCredentials, ListAccounts, ListAccountRoles, Logout), both rest-json and
// unauthenticated, with AWS's error shapes: HTTP status, an `x-amzn-ErrorType` header, and
// `{error, error_description}` (OIDC) or `{message}` (portal) bodies.
//
// Role credentials are issued as STS sessions of the shared EmulatorState, so the STS side
// accepts them (GetCallerIdentity answers
// arn:aws:sts::ACCOUNT:assumed-role/AWSReservedSSO_<Role>_<hash>/<user>) and they can sign
// a chained AssumeRole.
//
// Test controls live under /_emulator/sso/ (see ssoControl below).

import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { DEMO_ACCOUNT_ID } from './seed.ts';
import type { EmulatorState, Role } from './state.ts';
import { isoSeconds } from './sts.ts';
import { perEmulator, withControlBody, type AuthorizationRequest, type ControlResult, esc, header, isChallenge, jsonBody, JsonError, jsonOperation, jsonReply, page, redirect, repeatedParam, verifierMatches, type Reply } from './http.ts';

export interface SsoAccount {
  accountId: string;
  accountName: string;
  emailAddress: string;
  /** Permission sets assigned to the user in this account, with their session duration. */
  roles: { roleName: string; sessionDurationSeconds: number }[];
}

export interface SsoBehaviour {
  /** Approve device codes as soon as they are issued (for demos and benchmarks). */
  autoApprove: boolean;
  /**
   * /authorize approves at once and redirects (a browser that only loads pages, such as
   * `chromium --dump-dom`, completes the sign-in); false shows the Allow/Deny page.
   */
  autoAuthorize: boolean;
  /** How long an authorization code may wait for its CreateToken (AWS: a few minutes). */
  authCodeLifetimeSeconds: number;
  /** Access token lifetime; AWS: 1 h with sso:account:access, 8 h for legacy tokens. */
  accessTokenLifetimeSeconds: number;
  refreshTokenLifetimeSeconds: number;
  deviceCodeLifetimeSeconds: number;
  /** The poll interval handed out with a device code (AWS: 1 or 5 s). */
  interval: number;
  registrationLifetimeSeconds: number;
  /** Page size of ListAccounts / ListAccountRoles when the caller asks for more. */
  pageSize: number;
  /** Whether a refresh token rotates (a new one with every refresh, the old one revoked). */
  rotateRefreshTokens: boolean;
  /**
   * What StartDeviceAuthorization answers in place of the real verification URLs and user
   * code (the device code stays valid, so approval by control still works): a hostile
   * endpoint's javascript: URL or escape sequences. null: the real values.
   */
  deviceAnswer: { verificationUri?: string; verificationUriComplete?: string; userCode?: string } | null;
}

interface Client {
  clientId: string;
  clientSecret: string;
  clientName: string;
  scopes: string[];
  expiresAt: number;
  /** As registered; none means the device flow only (a registration without grantTypes). */
  grantTypes: string[];
  redirectUris: string[];
  issuerUrl?: string;
}

interface Authorization extends AuthorizationRequest {
  scopes: string[];
  status: 'pending' | 'approved' | 'denied';
  user?: string;
  /** What the code was exchanged for: a replay of the code revokes it. */
  issued: string[];
}

interface DeviceAuth {
  deviceCode: string;
  userCode: string;
  clientId: string;
  startUrl: string;
  expiresAt: number;
  interval: number;
  status: 'pending' | 'approved' | 'denied' | 'used';
  user?: string;
  lastPollAt?: number;
}

interface Grant {
  token: string;
  clientId: string;
  startUrl: string;
  scopes: string[];
  user: string;
  expiresAt: number;
  revoked: boolean;
}

export interface SsoStats {
  registerClient: number;
  startDeviceAuthorization: number;
  createToken: { deviceCode: number; authorizationCode: number; refreshToken: number; pending: number; slowDown: number };
  /** /authorize requests accepted (shown or auto-approved), and those refused. */
  authorize: number;
  authorizeRefused: number;
  getRoleCredentials: number;
  listAccounts: number;
  listAccountRoles: number;
  logout: number;
}

export const SSO_DEFAULT_USER = 'alice';
export const SSO_SANDBOX_ACCOUNT_ID = '444455556666';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const AUTH_CODE_GRANT = 'authorization_code';
const REFRESH_SCOPE = 'sso:account:access';

function defaultAccounts(): SsoAccount[] {
  return [
    {
      accountId: DEMO_ACCOUNT_ID,
      accountName: 'demo',
      emailAddress: 'aws-demo@example.com',
      roles: [
        { roleName: 'AdministratorAccess', sessionDurationSeconds: 3600 },
        { roleName: 'ReadOnlyAccess', sessionDurationSeconds: 3600 },
      ],
    },
    {
      accountId: SSO_SANDBOX_ACCOUNT_ID,
      accountName: 'sandbox',
      emailAddress: 'aws-sandbox@example.com',
      roles: [{ roleName: 'ReadOnlyAccess', sessionDurationSeconds: 3600 }],
    },
  ];
}

function freshStats(): SsoStats {
  return {
    registerClient: 0,
    startDeviceAuthorization: 0,
    createToken: { deviceCode: 0, authorizationCode: 0, refreshToken: 0, pending: 0, slowDown: 0 },
    authorize: 0,
    authorizeRefused: 0,
    getRoleCredentials: 0,
    listAccounts: 0,
    listAccountRoles: 0,
    logout: 0,
  };
}

export class SsoState {
  readonly accounts: SsoAccount[] = defaultAccounts();
  readonly behaviour: SsoBehaviour = {
    autoApprove: false,
    autoAuthorize: false,
    authCodeLifetimeSeconds: 300,
    accessTokenLifetimeSeconds: 3600,
    refreshTokenLifetimeSeconds: 90 * 86400,
    deviceCodeLifetimeSeconds: 600,
    interval: 1,
    registrationLifetimeSeconds: 90 * 86400,
    pageSize: 20,
    rotateRefreshTokens: true,
    deviceAnswer: null,
  };
  readonly clients = new Map<string, Client>();
  readonly devices = new Map<string, DeviceAuth>();
  /** By request id (the Allow page) and, once approved, by code. */
  readonly authorizations = new Map<string, Authorization>();
  readonly codes = new Map<string, Authorization>();
  readonly accessTokens = new Map<string, Grant>();
  readonly refreshTokens = new Map<string, Grant>();
  stats: SsoStats = freshStats();
}

// One SSO directory per emulator instance, without touching EmulatorState's shape.
export const ssoState: (state: EmulatorState) => SsoState = perEmulator(() => new SsoState());

// ---- errors, as AWS sends them ----

// SSO-OIDC: {error, error_description}; the SDKs pick the exception from x-amzn-ErrorType.
const oidcError = (status: number, type: string, error: string, description?: string) =>
  new JsonError(status, type, description === undefined ? { error } : { error, error_description: description });
const invalidRequest = (d: string) => oidcError(400, 'InvalidRequestException', 'invalid_request', d);
const invalidClient = (d: string) => oidcError(401, 'InvalidClientException', 'invalid_client', d);
const unauthorizedClient = (d: string) => oidcError(400, 'UnauthorizedClientException', 'unauthorized_client', d);
const invalidGrant = (d: string) => oidcError(400, 'InvalidGrantException', 'invalid_grant', d);
// The portal: {message}.
const portalError = (status: number, type: string, message: string) => new JsonError(status, type, { message });
const unauthorized = () => portalError(401, 'UnauthorizedException', 'Session token not found or invalid');

// ---- ids that look like AWS's ----

const b64url = (n: number) => randomBytes(n).toString('base64url');
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

function userCode(): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}

function stableHex(from: string, n: number): string {
  return createHash('sha256').update(from).digest('hex').slice(0, n);
}

/** The IAM role IAM Identity Center creates for a permission set in an account. */
export function reservedRoleName(roleName: string, accountId: string): string {
  return `AWSReservedSSO_${roleName}_${stableHex(`${accountId}/${roleName}`, 16)}`;
}

// ---- request helpers ----

/** An OIDC call's body (none reads as {}: the missing parameters are named). */
function json(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  return jsonBody(body, (m, notJson) => (notJson ? oidcError(400, 'SerializationException', 'invalid_request', m) : invalidRequest(m)));
}

function str(o: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw invalidRequest(`Missing required parameter: ${key}`);
    return undefined;
  }
  if (typeof v !== 'string') throw invalidRequest(`Invalid parameter: ${key}`);
  return v;
}


const OIDC_PATHS: Record<string, string> = {
  'POST /client/register': 'RegisterClient',
  'POST /device_authorization': 'StartDeviceAuthorization',
  'POST /token': 'CreateToken',
};
const PORTAL_PATHS: Record<string, string> = {
  'GET /federation/credentials': 'GetRoleCredentials',
  'GET /assignment/accounts': 'ListAccounts',
  'GET /assignment/roles': 'ListAccountRoles',
  'POST /logout': 'Logout',
};

// ---- SSO-OIDC ----

function clientOf(sso: SsoState, now: number, clientId: string | undefined, clientSecret: string | undefined): Client {
  const c = clientId === undefined ? undefined : sso.clients.get(clientId);
  if (!c || c.clientSecret !== clientSecret) throw invalidClient('Invalid client credentials');
  if (c.expiresAt <= now) throw invalidClient('The client registration has expired');
  return c;
}

function registerClient(sso: SsoState, now: number, o: Record<string, unknown>): unknown {
  const clientName = str(o, 'clientName', true)!;
  const clientType = str(o, 'clientType', true)!;
  if (clientType !== 'public') throw oidcError(400, 'InvalidClientMetadataException', 'invalid_client_metadata', `Invalid client type: ${clientType}`);
  const rawScopes = o.scopes;
  if (rawScopes !== undefined && !(Array.isArray(rawScopes) && rawScopes.every((x) => typeof x === 'string'))) throw invalidRequest('Invalid parameter: scopes');
  const scopes = (rawScopes as string[] | undefined) ?? [];
  for (const s of scopes) {
    if (!/^[\w:.-]+$/.test(s)) throw oidcError(400, 'InvalidScopeException', 'invalid_scope', `Invalid scope: ${s}`);
  }
  const list = (key: string): string[] | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalidRequest(`Invalid parameter: ${key}`);
    return v as string[];
  };
  const grantTypes = list('grantTypes') ?? [];
  const redirectUris = list('redirectUris') ?? [];
  const issuerUrl = str(o, 'issuerUrl', false);
  for (const g of grantTypes) {
    if (![AUTH_CODE_GRANT, 'refresh_token', DEVICE_GRANT].includes(g)) throw oidcError(400, 'InvalidClientMetadataException', 'invalid_client_metadata', `Invalid grant type: ${g}`);
  }
  if (grantTypes.includes(AUTH_CODE_GRANT)) {
    // AWS's rule: an authorization-code client names where codes may go and whose portal it signs in to.
    if (!redirectUris.length) throw oidcError(400, 'InvalidRedirectUriException', 'invalid_redirect_uri', 'redirectUris are required for the authorization_code grant');
    if (!issuerUrl || !/^https:\/\/[^\s/]+/.test(issuerUrl)) throw oidcError(400, 'InvalidClientMetadataException', 'invalid_client_metadata', 'issuerUrl is required for the authorization_code grant');
  }
  for (const u of redirectUris) {
    let url: URL | undefined;
    try { url = new URL(u); } catch { /* refused below */ }
    if (!url || url.hash || !(url.protocol === 'https:' || (url.protocol === 'http:' && url.hostname === '127.0.0.1'))) {
      throw oidcError(400, 'InvalidRedirectUriException', 'invalid_redirect_uri', `Invalid redirect URI: ${u}`);
    }
  }
  sso.stats.registerClient++;
  const issuedAt = Math.floor(now / 1000);
  const client: Client = {
    clientId: b64url(16),
    // Real client secrets are long signed blobs.
    clientSecret: `eyJraWQiOiJrZXktMTU2NDAyODA5OSIsImFsZyI6IkhTMzg0In0.${b64url(240)}.${b64url(48)}`,
    clientName,
    scopes,
    expiresAt: (issuedAt + sso.behaviour.registrationLifetimeSeconds) * 1000,
    grantTypes,
    redirectUris,
    ...(issuerUrl ? { issuerUrl } : {}),
  };
  sso.clients.set(client.clientId, client);
  return { clientId: client.clientId, clientSecret: client.clientSecret, clientIdIssuedAt: issuedAt, clientSecretExpiresAt: client.expiresAt / 1000 };
}

function startDeviceAuthorization(sso: SsoState, now: number, o: Record<string, unknown>, base: string): unknown {
  const client = clientOf(sso, now, str(o, 'clientId', true), str(o, 'clientSecret', true));
  const startUrl = str(o, 'startUrl', true)!;
  if (!/^https?:\/\/[^\s/]+/.test(startUrl)) throw invalidRequest('Invalid start URL');
  if (client.grantTypes.length && !client.grantTypes.includes(DEVICE_GRANT)) throw unauthorizedClient('The client is not registered for the device code grant');
  sso.stats.startDeviceAuthorization++;
  const b = sso.behaviour;
  const d: DeviceAuth = {
    deviceCode: b64url(96),
    userCode: userCode(),
    clientId: client.clientId,
    startUrl,
    expiresAt: now + b.deviceCodeLifetimeSeconds * 1000,
    interval: b.interval,
    status: b.autoApprove ? 'approved' : 'pending',
    ...(b.autoApprove ? { user: SSO_DEFAULT_USER } : {}),
  };
  sso.devices.set(d.deviceCode, d);
  const verificationUri = `${base}/device`;
  return {
    deviceCode: d.deviceCode,
    userCode: d.userCode,
    verificationUri,
    verificationUriComplete: `${verificationUri}?user_code=${d.userCode}`,
    expiresIn: b.deviceCodeLifetimeSeconds,
    interval: d.interval,
    ...(b.deviceAnswer ?? {}),
  };
}

function issueGrant(sso: SsoState, now: number, clientId: string, startUrl: string, scopes: string[], user: string): unknown {
  const b = sso.behaviour;
  const access: Grant = { token: `aoa${b64url(300)}`, clientId, startUrl, scopes, user, expiresAt: now + b.accessTokenLifetimeSeconds * 1000, revoked: false };
  sso.accessTokens.set(access.token, access);
  const out: Record<string, unknown> = { accessToken: access.token, tokenType: 'Bearer', expiresIn: b.accessTokenLifetimeSeconds };
  // Only clients registered for sso:account:access get a refresh token (AWS's rule).
  if (scopes.includes(REFRESH_SCOPE)) {
    const refresh: Grant = { token: `aor${b64url(300)}`, clientId, startUrl, scopes, user, expiresAt: now + b.refreshTokenLifetimeSeconds * 1000, revoked: false };
    sso.refreshTokens.set(refresh.token, refresh);
    out.refreshToken = refresh.token;
  }
  return out;
}

function createToken(sso: SsoState, now: number, o: Record<string, unknown>): unknown {
  const client = clientOf(sso, now, str(o, 'clientId', true), str(o, 'clientSecret', true));
  const grantType = str(o, 'grantType', true)!;
  if (grantType === DEVICE_GRANT) {
    const d = sso.devices.get(str(o, 'deviceCode', true)!);
    if (!d || d.clientId !== client.clientId) throw oidcError(400, 'InvalidGrantException', 'invalid_grant', 'Invalid device code provided');
    if (d.expiresAt <= now) throw oidcError(400, 'ExpiredTokenException', 'expired_token', 'Device code has expired');
    // Polling faster than the interval earns slow_down, and the interval grows by 5 s (RFC 8628 3.5).
    const tooSoon = d.lastPollAt !== undefined && now - d.lastPollAt < d.interval * 1000 - 250;
    d.lastPollAt = now;
    if (d.status === 'denied') throw oidcError(400, 'AccessDeniedException', 'access_denied', 'The user denied the authorization request');
    if (d.status === 'used') throw oidcError(400, 'InvalidGrantException', 'invalid_grant', 'Device code has already been used');
    if (tooSoon) {
      d.interval += 5;
      sso.stats.createToken.slowDown++;
      throw oidcError(400, 'SlowDownException', 'slow_down');
    }
    if (d.status === 'pending') {
      sso.stats.createToken.pending++;
      throw oidcError(400, 'AuthorizationPendingException', 'authorization_pending');
    }
    d.status = 'used';
    sso.stats.createToken.deviceCode++;
    return issueGrant(sso, now, client.clientId, d.startUrl, client.scopes, d.user ?? SSO_DEFAULT_USER);
  }
  if (grantType === 'refresh_token') {
    const r = sso.refreshTokens.get(str(o, 'refreshToken', true)!);
    if (!r || r.revoked || r.clientId !== client.clientId) throw oidcError(400, 'InvalidGrantException', 'invalid_grant', 'Invalid refresh token provided');
    if (r.expiresAt <= now) throw oidcError(400, 'ExpiredTokenException', 'expired_token', 'Refresh token has expired');
    sso.stats.createToken.refreshToken++;
    const b = sso.behaviour;
    const access: Grant = { ...r, token: `aoa${b64url(300)}`, expiresAt: now + b.accessTokenLifetimeSeconds * 1000 };
    sso.accessTokens.set(access.token, access);
    const out: Record<string, unknown> = { accessToken: access.token, tokenType: 'Bearer', expiresIn: b.accessTokenLifetimeSeconds };
    if (b.rotateRefreshTokens) {
      r.revoked = true;
      const next: Grant = { ...r, token: `aor${b64url(300)}`, revoked: false };
      sso.refreshTokens.set(next.token, next);
      out.refreshToken = next.token;
    }
    return out;
  }
  if (grantType === AUTH_CODE_GRANT) return redeemCode(sso, now, client, o);
  throw oidcError(400, 'UnsupportedGrantTypeException', 'unsupported_grant_type', `Unsupported grant type: ${grantType}`);
}

// ---- the authorization-code grant: /authorize in the browser, then CreateToken ----

/**
 * RFC 8252 7.3: a loopback redirect URI matches a registered one whatever its port (the
 * client listens on an ephemeral port); everything else must match exactly.
 */
function redirectAllowed(client: Client, uri: string): boolean {
  let u: URL;
  try { u = new URL(uri); } catch { return false; }
  if (u.hash || u.username || u.password) return false;
  return client.redirectUris.some((r) => {
    if (r === uri) return true;
    const reg = new URL(r);
    return reg.protocol === 'http:' && reg.hostname === '127.0.0.1' && u.protocol === 'http:' && u.hostname === '127.0.0.1'
      && reg.pathname === u.pathname && reg.search === u.search && (reg.port === '' || reg.port === u.port);
  });
}

function redirectTo(a: Pick<Authorization, 'redirectUri' | 'state'>, params: Record<string, string>): Reply {
  return redirect(a.redirectUri, a.state ? { ...params, state: a.state } : params);
}

function approve(sso: SsoState, now: number, a: Authorization, deny: boolean): Reply {
  if (deny) {
    a.status = 'denied';
    return redirectTo(a, { error: 'access_denied', error_description: 'The user denied the authorization request' });
  }
  a.status = 'approved';
  a.user = SSO_DEFAULT_USER;
  a.code = b64url(48);
  // Short-lived from the approval on; single use (redeemCode).
  a.expiresAt = now + sso.behaviour.authCodeLifetimeSeconds * 1000;
  sso.codes.set(a.code, a);
  return redirectTo(a, { code: a.code });
}

/**
 * GET /authorize?response_type=code&client_id&redirect_uri&state&code_challenge
 * &code_challenge_method=S256&scopes: strict. An unknown client or a redirect URI it did not
 * register gets an error page and never a redirect (RFC 6749 4.1.2.1); a request without a
 * state, with another response type, without an S256 challenge or with scopes beyond the
 * registration is refused too. Then the Allow page, or a redirect with a code
 * (autoAuthorize). POST /authorize is the Allow page's form.
 */
function authorize(sso: SsoState, now: number, method: string, q: URLSearchParams, body: Buffer): Reply {
  const refuse = (why: string) => {
    sso.stats.authorizeRefused++;
    return page(400, 'Authorization refused', `<p>${esc(why)}</p>`);
  };
  if (method === 'POST') {
    const form = new URLSearchParams(body.toString('utf8'));
    const a = sso.authorizations.get(form.get('request') ?? '');
    if (!a || a.status !== 'pending' || a.expiresAt <= now) return refuse('This authorization request is unknown, answered or expired.');
    return approve(sso, now, a, !!form.get('deny'));
  }
  if (method !== 'GET') return refuse('GET or POST only.');
  const twice = repeatedParam(q);
  if (twice !== undefined) return refuse(`The parameter ${twice} was given more than once.`);
  const client = sso.clients.get(q.get('client_id') ?? '');
  if (!client || client.expiresAt <= now) return refuse('Unknown or expired client_id.');
  if (!client.grantTypes.includes(AUTH_CODE_GRANT)) return refuse('The client is not registered for the authorization_code grant.');
  const redirectUri = q.get('redirect_uri') ?? '';
  if (!redirectAllowed(client, redirectUri)) return refuse('The redirect_uri was not registered by this client.');
  const state = q.get('state') ?? '';
  if (!state) return refuse('A state is required.');
  const base = { redirectUri, state };
  if (q.get('response_type') !== 'code') return redirectTo(base, { error: 'unsupported_response_type' });
  const challenge = q.get('code_challenge') ?? '';
  if (q.get('code_challenge_method') !== 'S256' || !isChallenge(challenge)) return redirectTo(base, { error: 'invalid_request', error_description: 'PKCE with S256 is required' });
  const scopes = (q.get('scopes') ?? '').split(/[\s,]+/).filter(Boolean);
  if (scopes.some((x) => !client.scopes.includes(x))) return redirectTo(base, { error: 'invalid_scope' });
  sso.stats.authorize++;
  const a: Authorization = {
    id: b64url(24), clientId: client.clientId, redirectUri, state, challenge, scopes: scopes.length ? scopes : client.scopes,
    status: 'pending', expiresAt: now + sso.behaviour.deviceCodeLifetimeSeconds * 1000, used: false, issued: [],
  };
  sso.authorizations.set(a.id, a);
  if (sso.behaviour.autoAuthorize) return approve(sso, now, a, false);
  return page(200, 'keyrole emulator: authorize request', `<p>Allow ${esc(client.clientName)} to sign in to ${esc(client.issuerUrl ?? '')} as ${esc(SSO_DEFAULT_USER)}?</p>
<form method="post" action="/authorize"><input type="hidden" name="request" value="${esc(a.id)}">
<button type="submit" name="allow" value="1">Allow</button> <button type="submit" name="deny" value="1">Deny</button></form>`);
}

/** CreateToken with grantType authorization_code: the code once, from its client, with the same redirect URI and the verifier of its challenge. */
function redeemCode(sso: SsoState, now: number, client: Client, o: Record<string, unknown>): unknown {
  const a = sso.codes.get(str(o, 'code', true)!);
  const redirectUri = str(o, 'redirectUri', true)!;
  const verifier = str(o, 'codeVerifier', true)!;
  if (!a || a.clientId !== client.clientId) throw invalidGrant('Invalid authorization code provided');
  if (a.used) {
    // RFC 6749 4.1.2: a code used twice revokes what it was exchanged for.
    for (const t of a.issued) {
      const g = sso.accessTokens.get(t) ?? sso.refreshTokens.get(t);
      if (g) g.revoked = true;
    }
    throw invalidGrant('Authorization code has already been used');
  }
  a.used = true;
  if (a.expiresAt <= now) throw invalidGrant('Authorization code has expired');
  if (redirectUri !== a.redirectUri) throw invalidGrant('The redirect URI does not match the authorization request');
  if (!verifierMatches(verifier, a.challenge)) throw invalidGrant('The code verifier does not match the code challenge');
  sso.stats.createToken.authorizationCode++;
  const out = issueGrant(sso, now, client.clientId, client.issuerUrl ?? '', client.scopes, a.user ?? SSO_DEFAULT_USER) as { accessToken: string; refreshToken?: string };
  a.issued.push(out.accessToken, ...(out.refreshToken ? [out.refreshToken] : []));
  return out;
}

// ---- the portal ----

function bearer(sso: SsoState, now: number, headers: IncomingHttpHeaders): Grant {
  const token = header(headers, 'x-amz-sso_bearer_token');
  const g = token === undefined ? undefined : sso.accessTokens.get(token);
  if (!g || g.revoked || g.expiresAt <= now) throw unauthorized();
  return g;
}

function onePage<T>(sso: SsoState, items: T[], q: URLSearchParams): { items: T[]; nextToken: string | null } {
  const max = q.get('max_result');
  const size = Math.min(sso.behaviour.pageSize, max !== null && /^\d+$/.test(max) && Number(max) > 0 ? Number(max) : Infinity);
  const next = q.get('next_token');
  const start = next === null ? 0 : Number(Buffer.from(next, 'base64url').toString('utf8'));
  if (!Number.isInteger(start) || start < 0 || start > items.length) throw portalError(400, 'InvalidRequestException', 'Invalid next token');
  const end = start + size;
  return { items: items.slice(start, end), nextToken: end < items.length ? Buffer.from(String(end)).toString('base64url') : null };
}

function getRoleCredentials(state: EmulatorState, sso: SsoState, now: number, q: URLSearchParams, headers: IncomingHttpHeaders, region: string): unknown {
  const g = bearer(sso, now, headers);
  const roleName = q.get('role_name');
  const accountId = q.get('account_id');
  if (!roleName || !accountId) throw portalError(400, 'InvalidRequestException', 'role_name and account_id are required');
  const account = sso.accounts.find((a) => a.accountId === accountId);
  const role = account?.roles.find((r) => r.roleName === roleName);
  if (!account || !role) throw portalError(403, 'ForbiddenException', 'No access');
  sso.stats.getRoleCredentials++;
  const reserved = reservedRoleName(roleName, accountId);
  const iamRole: Role = {
    roleArn: `arn:aws:iam::${accountId}:role/aws-reserved/sso.amazonaws.com/${region}/${reserved}`,
    roleName: reserved,
    accountId,
    roleId: `AROA${stableHex(reserved, 17).toUpperCase()}`,
    maxSessionDuration: 43200,
    requireMfa: false,
  };
  const session = state.issueSession(
    {
      kind: 'role',
      accountId,
      arn: `arn:aws:sts::${accountId}:assumed-role/${reserved}/${g.user}`,
      userId: `${iamRole.roleId}:${g.user}`,
      role: iamRole,
      roleSessionName: g.user,
      mfaAuthenticated: false,
      tags: [],
      transitiveTagKeys: [],
    },
    role.sessionDurationSeconds,
  );
  return {
    roleCredentials: {
      accessKeyId: session.accessKeyId,
      secretAccessKey: session.secretAccessKey,
      sessionToken: session.sessionToken,
      expiration: session.expiration,
    },
  };
}

function listAccounts(sso: SsoState, now: number, q: URLSearchParams, headers: IncomingHttpHeaders): unknown {
  bearer(sso, now, headers);
  sso.stats.listAccounts++;
  const p = onePage(sso, sso.accounts.map(({ accountId, accountName, emailAddress }) => ({ accountId, accountName, emailAddress })), q);
  return { accountList: p.items, nextToken: p.nextToken };
}

function listAccountRoles(sso: SsoState, now: number, q: URLSearchParams, headers: IncomingHttpHeaders): unknown {
  bearer(sso, now, headers);
  const accountId = q.get('account_id');
  if (!accountId) throw portalError(400, 'InvalidRequestException', 'account_id is required');
  const account = sso.accounts.find((a) => a.accountId === accountId);
  if (!account) throw portalError(404, 'ResourceNotFoundException', 'Account not found');
  sso.stats.listAccountRoles++;
  const p = onePage(sso, account.roles.map((r) => ({ roleName: r.roleName, accountId })), q);
  return { roleList: p.items, nextToken: p.nextToken };
}

// ---- the device page: a person (or the demo) can approve by clicking ----

function devicePage(sso: SsoState, q: URLSearchParams, method: string, body: Buffer): { status: number; html: string } {
  const form = method === 'POST' ? new URLSearchParams(body.toString('utf8')) : q;
  const code = (form.get('user_code') ?? '').toUpperCase();
  const d = [...sso.devices.values()].find((x) => x.userCode === code);
  if (method === 'POST' && d && d.status === 'pending') {
    d.status = form.get('deny') ? 'denied' : 'approved';
    d.user = SSO_DEFAULT_USER;
    return { status: 200, html: `<p>Request ${esc(code)} ${d.status}. You can close this window.</p>` };
  }
  const state = d ? d.status : 'unknown';
  return {
    status: 200,
    html: `<!DOCTYPE html><html><head><title>keyrole emulator: authorize request</title></head><body>
<h1>Authorize request</h1><p>Code <b>${esc(code || '(none)')}</b>: ${esc(state)}</p>
<form method="post" action="/device"><input type="hidden" name="user_code" value="${esc(code)}">
<button type="submit">Allow</button> <button type="submit" name="deny" value="1">Deny</button></form></body></html>\n`,
  };
}

// ---- routing ----

/**
 * Answers an SSO-OIDC, SSO portal, device page or /_emulator/sso/ control request;
 * undefined for anything else (STS, IAM, other controls).
 */
export function handleSso(state: EmulatorState, method: string, url: URL, headers: IncomingHttpHeaders, body: Buffer): Reply | undefined {
  const requestId = randomUUID();
  const sso = ssoState(state);
  const path = url.pathname;
  const key = `${method} ${path}`;
  if (path.startsWith('/_emulator/sso/')) {
    const r = withControlBody(body, (o) => ssoControl(state, sso, method, path, o));
    return { ...jsonReply(r.status, r.body), requestId };
  }
  if (path === '/authorize') {
    const a = authorize(sso, state.now(), method, url.searchParams, body);
    state.record({ action: 'Authorize', accessKeyId: null, ok: a.status < 400, status: a.status, time: isoSeconds(state.now()) });
    return { ...a, requestId };
  }
  if (path === '/device') {
    const p = devicePage(sso, url.searchParams, method, body);
    return { status: p.status, contentType: 'text/html; charset=utf-8', headers: {}, body: p.html, requestId };
  }
  const action = OIDC_PATHS[key] ?? PORTAL_PATHS[key];
  if (action === undefined) return undefined;
  const now = state.now();
  const host = header(headers, 'host') ?? '127.0.0.1';
  // The portal's region is in its host name on AWS (portal.sso.REGION.amazonaws.com).
  const region = /\.([a-z]{2}(?:-[a-z]+)+-\d)\./.exec(host)?.[1] ?? 'us-east-1';
  const { reply } = jsonOperation(state, action, now, () => {
    // Error faults queued for this action (by its exact name) apply to SSO as they do to STS.
    const fault = state.behaviour.faults.some((f) => f.action === action) ? state.takeFault(action) : undefined;
    if (fault) throw new JsonError(fault.status ?? 500, fault.code ?? 'InternalServerException', { message: fault.message ?? 'An internal error has occurred', error: 'server_error' });
    switch (action) {
      case 'RegisterClient': return registerClient(sso, now, json(body));
      case 'StartDeviceAuthorization': return startDeviceAuthorization(sso, now, json(body), `http://${host}`);
      case 'CreateToken': return createToken(sso, now, json(body));
      case 'GetRoleCredentials': return getRoleCredentials(state, sso, now, url.searchParams, headers, region);
      case 'ListAccounts': return listAccounts(sso, now, url.searchParams, headers);
      case 'ListAccountRoles': return listAccountRoles(sso, now, url.searchParams, headers);
      case 'Logout': {
        const token = header(headers, 'x-amz-sso_bearer_token');
        const g = token === undefined ? undefined : sso.accessTokens.get(token);
        if (!g) throw unauthorized();
        g.revoked = true;
        for (const r of sso.refreshTokens.values()) if (r.clientId === g.clientId && r.user === g.user) r.revoked = true;
        sso.stats.logout++;
        return {};
      }
    }
    return undefined;
  }, ':http://internal.amazon.com/coral/com.amazonaws.switchboard.portal/');
  return { ...reply, requestId };
}

// ---- test controls ----

function pendingView(sso: SsoState, now: number) {
  return [...sso.devices.values()]
    .filter((d) => d.status === 'pending' && d.expiresAt > now)
    .map((d) => ({ userCode: d.userCode, startUrl: d.startUrl, clientId: d.clientId, expiresAt: new Date(d.expiresAt).toISOString(), interval: d.interval }));
}

const NUMERIC_BEHAVIOUR = ['authCodeLifetimeSeconds', 'accessTokenLifetimeSeconds', 'refreshTokenLifetimeSeconds', 'deviceCodeLifetimeSeconds', 'interval', 'registrationLifetimeSeconds', 'pageSize'] as const;

function ssoControl(state: EmulatorState, sso: SsoState, method: string, path: string, o: Record<string, unknown>): ControlResult {
  const now = state.now();
  const key = `${method} ${path}`;
  switch (key) {
    case 'GET /_emulator/sso/stats':
      return { status: 200, body: sso.stats };
    case 'POST /_emulator/sso/reset-stats':
      sso.stats = freshStats();
      return { status: 200, body: { ok: true } };
    case 'GET /_emulator/sso/pending':
      return { status: 200, body: pendingView(sso, now) };
    case 'POST /_emulator/sso/approve': {
      // {userCode?, deny?, user?}: without a code, the only pending request (an error if several).
      const code = typeof o.userCode === 'string' ? o.userCode.toUpperCase() : undefined;
      const pending = [...sso.devices.values()].filter((d) => d.status === 'pending' && d.expiresAt > now && (code === undefined || d.userCode === code));
      if (pending.length === 0) return { status: 404, body: { error: code ? `no pending request with user code ${code}` : 'no pending request' } };
      if (pending.length > 1) return { status: 409, body: { error: `${pending.length} requests are pending; name one by userCode`, pending: pending.map((d) => d.userCode) } };
      const d = pending[0]!;
      d.status = o.deny === true ? 'denied' : 'approved';
      d.user = typeof o.user === 'string' && /^[\w+=,.@-]{1,64}$/.test(o.user) ? o.user : SSO_DEFAULT_USER;
      return { status: 200, body: { userCode: d.userCode, status: d.status } };
    }
    case 'GET /_emulator/sso/behaviour':
      return { status: 200, body: sso.behaviour };
    case 'POST /_emulator/sso/behaviour': {
      const b = sso.behaviour;
      for (const k of NUMERIC_BEHAVIOUR) {
        const v = o[k];
        if (v === undefined) continue;
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (k === 'pageSize' && v < 1)) return { status: 400, body: { error: `'${k}' must be a non-negative number` } };
        b[k] = v;
      }
      for (const k of ['autoApprove', 'autoAuthorize', 'rotateRefreshTokens'] as const) {
        const v = o[k];
        if (v === undefined) continue;
        if (typeof v !== 'boolean') return { status: 400, body: { error: `'${k}' must be a boolean` } };
        b[k] = v;
      }
      if (o.deviceAnswer !== undefined) {
        const v = o.deviceAnswer;
        const keys = ['verificationUri', 'verificationUriComplete', 'userCode'];
        if (v !== null && (typeof v !== 'object' || Array.isArray(v) || Object.entries(v).some(([k, x]) => !keys.includes(k) || typeof x !== 'string'))) {
          return { status: 400, body: { error: `'deviceAnswer' must be null or an object of strings (${keys.join(', ')})` } };
        }
        b.deviceAnswer = v as SsoBehaviour['deviceAnswer'];
      }
      return { status: 200, body: b };
    }
    case 'POST /_emulator/sso/expire': {
      // Expires every access token (or the one named), and refresh tokens too with {refreshTokens: true}.
      const only = typeof o.accessToken === 'string' ? o.accessToken : undefined;
      let n = 0;
      for (const g of sso.accessTokens.values()) {
        if (only !== undefined && g.token !== only) continue;
        g.expiresAt = Math.min(g.expiresAt, now - 1000);
        n++;
      }
      if (o.refreshTokens === true) for (const g of sso.refreshTokens.values()) g.expiresAt = Math.min(g.expiresAt, now - 1000);
      if (o.registrations === true) for (const c of sso.clients.values()) c.expiresAt = Math.min(c.expiresAt, now - 1000);
      return { status: 200, body: { expired: n } };
    }
    case 'POST /_emulator/sso/token': {
      // Mints a token as if `aws sso login` had run: for tests of ~/.aws/sso/cache interop.
      const startUrl = typeof o.startUrl === 'string' ? o.startUrl : 'https://keyrole-demo.awsapps.com/start';
      const scopes = Array.isArray(o.scopes) ? o.scopes.filter((x): x is string => typeof x === 'string') : [];
      const lifetime = typeof o.lifetimeSeconds === 'number' ? o.lifetimeSeconds : sso.behaviour.accessTokenLifetimeSeconds;
      const client: Client = {
        clientId: b64url(16), clientSecret: `eyJ${b64url(120)}`, clientName: 'botocore-client', scopes,
        expiresAt: now + sso.behaviour.registrationLifetimeSeconds * 1000, grantTypes: [], redirectUris: [],
      };
      sso.clients.set(client.clientId, client);
      const saved = sso.behaviour.accessTokenLifetimeSeconds;
      sso.behaviour.accessTokenLifetimeSeconds = lifetime;
      const grant = issueGrant(sso, now, client.clientId, startUrl, scopes, typeof o.user === 'string' ? o.user : SSO_DEFAULT_USER) as Record<string, unknown>;
      sso.behaviour.accessTokenLifetimeSeconds = saved;
      return {
        status: 200,
        body: {
          ...grant,
          expiresAt: isoSeconds(now + lifetime * 1000),
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          registrationExpiresAt: isoSeconds(client.expiresAt),
        },
      };
    }
    case 'POST /_emulator/sso/assignments': {
      // {accountId, accountName?, roleName, sessionDurationSeconds?}: assigns a permission set.
      // With hostile: true the portal lists the strings as given, whatever they hold (a
      // portal keyrole cannot trust: newlines, section headers, escape sequences).
      const hostile = o.hostile === true;
      const given = (v: unknown, ok: RegExp) => (typeof v === 'string' && (hostile ? v.length > 0 && v.length <= 10_000 : ok.test(v)) ? v : undefined);
      const accountId = given(o.accountId, /^\d{12}$/);
      const roleName = given(o.roleName, /^[\w+=,.@-]{1,32}$/);
      if (!accountId || !roleName) return { status: 400, body: { error: "'accountId' (12 digits) and 'roleName' are required (any strings with hostile: true)" } };
      let account = sso.accounts.find((a) => a.accountId === accountId);
      if (!account) {
        const name = typeof o.accountName === 'string' ? o.accountName : `account-${accountId}`;
        account = { accountId, accountName: name, emailAddress: `aws-${accountId}@example.com`, roles: [] };
        sso.accounts.push(account);
      }
      const duration = typeof o.sessionDurationSeconds === 'number' ? o.sessionDurationSeconds : 3600;
      const existing = account.roles.find((r) => r.roleName === roleName);
      if (existing) existing.sessionDurationSeconds = duration;
      else account.roles.push({ roleName, sessionDurationSeconds: duration });
      return { status: 200, body: account };
    }
    default:
      return { status: 404, body: { error: `unknown control endpoint ${key}` } };
  }
}
