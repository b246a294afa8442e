// AWS Sign-In for the emulator (`aws login`, the `signin` service 2023-01-01), strict the way
// AWS is, from the AWS CLI (`awscli/customizations/login`), botocore's LoginProvider and the
// JS SDK's @aws-sdk/credential-provider-login (../shared/FACTS.md "AWS Sign-In sessions"):
//   GET  /v1/authorize?response_type=code&client_id=arn:aws:signin:::devtools/same-device|cross-device
//        &state&code_challenge_method=SHA-256&code_challenge&scope=openid&redirect_uri
//        → a page with an Allow button (POST /v1/authorize), then a redirect with code and
//        state: to the loopback redirect (same-device), or to /v1/sessions/confirmation, a
//        page that shows the base64 `state=…&code=…` a person pastes (cross-device).
//   POST /v1/token (CreateOAuth2Token, rest-json, unsigned) with a DPoP proof: an ES256 JWS
//        (typ dpop+jwt, a P-256 public jwk, htu the exact URL, htm POST, iat within the
//        window, a jti never seen before), for the authorization_code grant (PKCE with
//        SHA-256, the code once, within its lifetime, the same client and redirect) or the
//        refresh_token grant (the token bound to the thumbprint of the key that got it,
//        rotated with every refresh; the same token again within a few seconds gets the same
//        answer, as a retry would; later it is refused). A session ends 12 hours after the
//        sign-in (TOKEN_EXPIRED).
// The credentials are STS sessions of the shared EmulatorState (the user's own, as
// GetSessionToken's are), so GetCallerIdentity answers the user's ARN and AssumeRole with
// them is held to the 1-hour rule (emulator/sts.ts: any session caller).
// Errors as the service model has them: an x-amzn-ErrorType header and {error, message};
// AccessDeniedException with TOKEN_EXPIRED/AUTHCODE_EXPIRED (401),
// USER_CREDENTIALS_CHANGED/INSUFFICIENT_PERMISSIONS (403); ValidationException (400).
// Test controls under /_emulator/login/.

import { createHash, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { EmulatorState, User } from './state.ts';
import { isoSeconds } from './sts.ts';
import { perEmulator, withControlBody, type AuthorizationRequest, type ControlResult, esc, header, isChallenge, jsonBody, JsonError, jsonOperation, jsonReply, page, redirect, repeatedParam, verifierMatches, type Reply } from './http.ts';

export const SAME_DEVICE_CLIENT = 'arn:aws:signin:::devtools/same-device';
export const CROSS_DEVICE_CLIENT = 'arn:aws:signin:::devtools/cross-device';

export type LoginRefusal = 'USER_CREDENTIALS_CHANGED' | 'INSUFFICIENT_PERMISSIONS';

export interface LoginBehaviour {
  /** /v1/authorize approves at once and redirects (no Allow page). */
  autoAuthorize: boolean;
  /** The IAM user who signs in (the seed's first user when unset). */
  userName: string | null;
  /** The answer's expiresIn (AWS: 900). */
  expiresIn: number;
  /** From the sign-in to the session's end (AWS: 12 hours). */
  sessionLifetimeSeconds: number;
  authCodeLifetimeSeconds: number;
  /** How far a proof's iat may be from the emulator's clock. */
  dpopWindowSeconds: number;
  /** How long a used refresh token still gets the same answer again (a client's retry). */
  replaySeconds: number;
  /** A refresh the account refuses from now on (the password changed, the policy removed). */
  refusal: LoginRefusal | null;
}

export interface LoginStats {
  authorize: number;
  authorizeRefused: number;
  /** Every CreateOAuth2Token call that reached the service, answered or refused. */
  createOAuth2Token: number;
  codeGrants: number;
  refreshGrants: number;
  refused: Record<string, number>;
}

interface Authorization extends AuthorizationRequest {
  status: 'pending' | 'approved';
}

interface LoginSession {
  id: string;
  user: User;
  endsAt: number;
  /** RFC 7638 thumbprint of the DPoP key the session is bound to. */
  jkt: string;
  clientId: string;
}

interface RefreshToken {
  session: LoginSession;
  /** Set when it was used: the answer it got, and when (a retry within replaySeconds gets the same). */
  answered?: { at: number; body: Record<string, unknown> };
}

class LoginState {
  authorizations = new Map<string, Authorization>();
  codes = new Map<string, Authorization>();
  refreshTokens = new Map<string, RefreshToken>();
  sessions = new Map<string, LoginSession>();
  jtis = new Map<string, number>();
  behaviour: LoginBehaviour = {
    autoAuthorize: false, userName: null, expiresIn: 900, sessionLifetimeSeconds: 43200,
    authCodeLifetimeSeconds: 300, dpopWindowSeconds: 300, replaySeconds: 10, refusal: null,
  };
  stats: LoginStats = freshStats();
  /** Signs the ID tokens. */
  idKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

function freshStats(): LoginStats {
  return { authorize: 0, authorizeRefused: 0, createOAuth2Token: 0, codeGrants: 0, refreshGrants: 0, refused: {} };
}

const loginState = perEmulator(() => new LoginState());

// {error, message}; the record of the call names the error (TOKEN_EXPIRED, invalid_grant…).
const loginError = (status: number, type: string, error: string, message: string) => new JsonError(status, type, { error, message }, error);
const validation = (m: string) => loginError(400, 'ValidationException', 'INVALID_REQUEST', m);
const invalidGrant = (m: string) => loginError(400, 'ValidationException', 'invalid_grant', m);
const denied = (status: number, error: string, m: string) => loginError(status, 'AccessDeniedException', error, m);

function userOf(state: EmulatorState, ls: LoginState): User {
  const users = [...state.users.values()];
  const u = ls.behaviour.userName === null ? users[0] : users.find((x) => x.userName === ls.behaviour.userName);
  if (!u) throw new Error(`no user ${ls.behaviour.userName ?? ''} to sign in`);
  return u;
}

/** The same-device redirect: http://127.0.0.1:<port>/oauth/callback (or localhost), nothing else. */
function sameDeviceRedirect(uri: string): boolean {
  let u: URL;
  try { u = new URL(uri); } catch { return false; }
  return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost') && u.port !== ''
    && u.pathname === '/oauth/callback' && !u.search && !u.hash && !u.username && !u.password;
}

function approve(ls: LoginState, now: number, a: Authorization): Reply {
  a.status = 'approved';
  a.code = randomBytes(32).toString('base64url');
  a.expiresAt = now + ls.behaviour.authCodeLifetimeSeconds * 1000;
  ls.codes.set(a.code, a);
  return redirect(a.redirectUri, { code: a.code, state: a.state });
}

function authorize(ls: LoginState, now: number, base: string, method: string, q: URLSearchParams, body: Buffer): Reply {
  const refuse = (why: string) => {
    ls.stats.authorizeRefused++;
    return page(400, 'Sign-in request refused', `<p>${esc(why)}</p>`);
  };
  if (method === 'POST') {
    const a = ls.authorizations.get(new URLSearchParams(body.toString('utf8')).get('request') ?? '');
    if (!a || a.status !== 'pending' || a.expiresAt <= now) return refuse('This sign-in request is unknown, answered or expired.');
    return approve(ls, now, a);
  }
  if (method !== 'GET') return refuse('GET or POST only.');
  const twice = repeatedParam(q);
  if (twice !== undefined) return refuse(`The parameter ${twice} was given more than once.`);
  const clientId = q.get('client_id') ?? '';
  const redirectUri = q.get('redirect_uri') ?? '';
  if (clientId === SAME_DEVICE_CLIENT) {
    if (!sameDeviceRedirect(redirectUri)) return refuse('The redirect_uri is not allowed for this client.');
  } else if (clientId === CROSS_DEVICE_CLIENT) {
    if (redirectUri !== `${base}/v1/sessions/confirmation`) return refuse('The redirect_uri is not allowed for this client.');
  } else {
    return refuse('Unknown client_id.');
  }
  const state = q.get('state') ?? '';
  if (!state) return refuse('A state is required.');
  if (q.get('response_type') !== 'code') return refuse('response_type must be code.');
  const challenge = q.get('code_challenge') ?? '';
  if (q.get('code_challenge_method') !== 'SHA-256' || !isChallenge(challenge)) return refuse('PKCE with SHA-256 is required.');
  if (q.get('scope') !== 'openid') return refuse('scope must be openid.');
  ls.stats.authorize++;
  const a: Authorization = { id: randomBytes(18).toString('base64url'), clientId, redirectUri, state, challenge, status: 'pending', expiresAt: now + 600_000, used: false };
  ls.authorizations.set(a.id, a);
  if (ls.behaviour.autoAuthorize) return approve(ls, now, a);
  return page(200, 'keyrole emulator: AWS Sign-In', `<p>Sign in to the AWS CLI as the emulator's user?</p>
<form method="post" action="/v1/authorize"><input type="hidden" name="request" value="${esc(a.id)}">
<button type="submit" id="allow" name="allow" value="1">Allow</button></form>`);
}

/** The cross-device page: the verification text a person copies into the CLI. */
function confirmation(q: URLSearchParams): Reply {
  const code = q.get('code');
  const state = q.get('state');
  if (!code || !state) return page(400, 'Sign-in not confirmed', '<p>No code.</p>');
  const text = Buffer.from(`state=${state}&code=${code}`).toString('base64');
  return page(200, 'Sign-in confirmed', `<p>Paste this into your terminal:</p><pre id="verification">${esc(text)}</pre>`);
}

// ---- DPoP (RFC 9449) ----

function b64json(part: string, what: string): Record<string, unknown> {
  let v: unknown;
  try { v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')); } catch { throw validation(`The DPoP proof's ${what} is not JSON`); }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw validation(`The DPoP proof's ${what} is not an object`);
  return v as Record<string, unknown>;
}

/** RFC 7638 thumbprint of an EC public key. */
export function jwkThumbprint(jwk: { crv: string; x: string; y: string }): string {
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y })).digest('base64url');
}

/** Verifies the DPoP header of a request to `htu`; the key's thumbprint. */
function checkDpop(ls: LoginState, now: number, proof: string | undefined, htu: string): string {
  if (!proof) throw validation('A DPoP proof is required');
  const parts = proof.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[\w-]*$/.test(p))) throw validation('The DPoP proof is not a compact JWS');
  const header = b64json(parts[0]!, 'header');
  const claims = b64json(parts[1]!, 'payload');
  if (header.typ !== 'dpop+jwt') throw validation('The DPoP proof\'s typ must be dpop+jwt');
  if (header.alg !== 'ES256') throw validation('The DPoP proof\'s alg must be ES256');
  const jwk = header.jwk as Record<string, unknown> | undefined;
  if (!jwk || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string' || 'd' in jwk) {
    throw validation('The DPoP proof\'s jwk must be a P-256 public key');
  }
  let key: KeyObject;
  try { key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } as JsonWebKey, format: 'jwk' }); } catch { throw validation('The DPoP proof\'s jwk is not a valid P-256 key'); }
  const sig = Buffer.from(parts[2]!, 'base64url');
  if (sig.length !== 64 || !verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: 'ieee-p1363' }, sig)) {
    throw validation('The DPoP proof\'s signature does not verify');
  }
  if (claims.htm !== 'POST') throw validation('The DPoP proof\'s htm does not match the request');
  if (claims.htu !== htu) throw validation('The DPoP proof\'s htu does not match the request');
  if (typeof claims.iat !== 'number' || Math.abs(claims.iat * 1000 - now) > ls.behaviour.dpopWindowSeconds * 1000) {
    throw validation('The DPoP proof\'s iat is outside the accepted window');
  }
  if (typeof claims.jti !== 'string' || !claims.jti || claims.jti.length > 256) throw validation('The DPoP proof needs a jti');
  for (const [j, until] of ls.jtis) if (until <= now) ls.jtis.delete(j);
  if (ls.jtis.has(claims.jti)) throw validation('The DPoP proof\'s jti was used before');
  ls.jtis.set(claims.jti, now + 2 * ls.behaviour.dpopWindowSeconds * 1000);
  return jwkThumbprint({ crv: 'P-256', x: jwk.x, y: jwk.y });
}

// ---- CreateOAuth2Token ----

function str(o: Record<string, unknown>, k: string): string {
  const v = o[k];
  if (typeof v !== 'string' || !v) throw validation(`${k} is required`);
  return v;
}

function idToken(ls: LoginState, now: number, user: User): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = enc({ alg: 'ES256', typ: 'JWT', kid: 'emulator' });
  const body = enc({ iss: 'https://signin.aws.amazon.com', sub: user.arn, aud: SAME_DEVICE_CLIENT, iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 900 });
  return `${head}.${body}.${sign('sha256', Buffer.from(`${head}.${body}`), { key: ls.idKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

function answer(state: EmulatorState, ls: LoginState, now: number, s: LoginSession, withId: boolean): Record<string, unknown> {
  const lifetime = Math.min(ls.behaviour.expiresIn, Math.max(1, Math.floor((s.endsAt - now) / 1000)));
  const creds = state.issueSession({
    kind: 'session', accountId: s.user.accountId, arn: s.user.arn, userId: s.user.userId, user: s.user,
    mfaAuthenticated: false, tags: [], transitiveTagKeys: [],
  }, lifetime);
  const refreshToken = `aws_login_${randomBytes(48).toString('base64url')}`;
  ls.refreshTokens.set(refreshToken, { session: s });
  return {
    accessToken: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken },
    tokenType: 'aws_sigv4',
    expiresIn: Math.max(0, Math.round((creds.expiration - now) / 1000)),
    refreshToken,
    ...(withId ? { idToken: idToken(ls, now, s.user) } : {}),
  };
}

function createToken(state: EmulatorState, ls: LoginState, now: number, o: Record<string, unknown>, jkt: string): Record<string, unknown> {
  const clientId = str(o, 'clientId');
  if (clientId !== SAME_DEVICE_CLIENT && clientId !== CROSS_DEVICE_CLIENT) throw validation('Unknown clientId');
  const grant = str(o, 'grantType');
  if (grant === 'authorization_code') {
    ls.stats.codeGrants++;
    const a = ls.codes.get(str(o, 'code'));
    const redirectUri = str(o, 'redirectUri');
    const verifier = str(o, 'codeVerifier');
    if (!a || a.clientId !== clientId) throw invalidGrant('Invalid authorization code');
    if (a.used) throw invalidGrant('The authorization code was already used');
    if (a.expiresAt <= now) throw denied(401, 'AUTHCODE_EXPIRED', 'The authorization code has expired');
    if (a.redirectUri !== redirectUri) throw invalidGrant('The redirectUri does not match the authorization request');
    if (!verifierMatches(verifier, a.challenge)) throw invalidGrant('The code verifier does not match the challenge');
    a.used = true;
    const s: LoginSession = { id: randomUUID(), user: userOf(state, ls), endsAt: now + ls.behaviour.sessionLifetimeSeconds * 1000, jkt, clientId };
    ls.sessions.set(s.id, s);
    return answer(state, ls, now, s, true);
  }
  if (grant === 'refresh_token') {
    ls.stats.refreshGrants++;
    const rt = ls.refreshTokens.get(str(o, 'refreshToken'));
    if (!rt || rt.session.clientId !== clientId) throw invalidGrant('Invalid refresh token');
    if (rt.session.jkt !== jkt) throw invalidGrant('The refresh token is bound to another DPoP key');
    if (rt.session.endsAt <= now) throw denied(401, 'TOKEN_EXPIRED', 'Your session has expired. Please reauthenticate.');
    if (ls.behaviour.refusal === 'USER_CREDENTIALS_CHANGED') throw denied(403, 'USER_CREDENTIALS_CHANGED', 'The user\'s credentials have changed.');
    if (ls.behaviour.refusal === 'INSUFFICIENT_PERMISSIONS') throw denied(403, 'INSUFFICIENT_PERMISSIONS', 'The user is not authorized to perform signin:CreateOAuth2Token.');
    if (rt.answered) {
      if (now - rt.answered.at < ls.behaviour.replaySeconds * 1000) return rt.answered.body;
      throw invalidGrant('The refresh token was already used');
    }
    const body = answer(state, ls, now, rt.session, false);
    rt.answered = { at: now, body };
    return body;
  }
  throw loginError(400, 'ValidationException', 'unsupported_grant_type', `Unsupported grantType ${grant}`);
}

/** Mints a session as `aws login` leaves it in its cache (for import and SDK tests). */
function cliCacheSession(state: EmulatorState, ls: LoginState, now: number, o: Record<string, unknown>): Record<string, unknown> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const s: LoginSession = { id: randomUUID(), user: userOf(state, ls), endsAt: now + ls.behaviour.sessionLifetimeSeconds * 1000, jkt: jwkThumbprint({ crv: 'P-256', x: jwk.x!, y: jwk.y! }), clientId: SAME_DEVICE_CLIENT };
  ls.sessions.set(s.id, s);
  const a = answer(state, ls, now, s, true) as { accessToken: Record<string, string>; expiresIn: number; refreshToken: string; idToken: string };
  const expiresIn = typeof o.expiresInSeconds === 'number' ? o.expiresInSeconds : a.expiresIn;
  return {
    loginSession: s.user.arn,
    token: {
      accessToken: { ...a.accessToken, accountId: s.user.accountId, expiresAt: isoSeconds(now + expiresIn * 1000) },
      tokenType: 'aws_sigv4', clientId: SAME_DEVICE_CLIENT, refreshToken: a.refreshToken, idToken: a.idToken,
      dpopKey: privateKey.export({ format: 'pem', type: 'sec1' }),
    },
  };
}

function control(state: EmulatorState, ls: LoginState, method: string, path: string, o: Record<string, unknown>): ControlResult {
  const now = state.now();
  switch (`${method} ${path}`) {
    case 'GET /_emulator/login/stats':
      return { status: 200, body: ls.stats };
    case 'POST /_emulator/login/reset-stats':
      ls.stats = freshStats();
      return { status: 200, body: { ok: true } };
    case 'GET /_emulator/login/behaviour':
      return { status: 200, body: ls.behaviour };
    case 'POST /_emulator/login/behaviour': {
      const b = ls.behaviour;
      for (const k of ['expiresIn', 'sessionLifetimeSeconds', 'authCodeLifetimeSeconds', 'dpopWindowSeconds', 'replaySeconds'] as const) {
        if (o[k] === undefined) continue;
        if (typeof o[k] !== 'number' || !(o[k] >= 0)) return { status: 400, body: { error: `'${k}' must be a non-negative number` } };
        b[k] = o[k];
      }
      if (o.autoAuthorize !== undefined) b.autoAuthorize = o.autoAuthorize === true;
      if (o.userName !== undefined) b.userName = typeof o.userName === 'string' ? o.userName : null;
      if (o.refusal !== undefined) {
        if (o.refusal !== null && o.refusal !== 'USER_CREDENTIALS_CHANGED' && o.refusal !== 'INSUFFICIENT_PERMISSIONS') return { status: 400, body: { error: 'refusal: null, USER_CREDENTIALS_CHANGED or INSUFFICIENT_PERMISSIONS' } };
        b.refusal = o.refusal;
      }
      return { status: 200, body: b };
    }
    case 'POST /_emulator/login/end-sessions':
      // The 12-hour end, now: every session's refresh is refused with TOKEN_EXPIRED.
      for (const s of ls.sessions.values()) s.endsAt = Math.min(s.endsAt, now - 1000);
      return { status: 200, body: { ended: ls.sessions.size } };
    case 'POST /_emulator/login/cli-session':
      return { status: 200, body: cliCacheSession(state, ls, now, o) };
    default:
      return { status: 404, body: { error: `unknown control endpoint ${method} ${path}` } };
  }
}

/** Answers an AWS Sign-In request or a /_emulator/login/ control; undefined for anything else. */
export function handleLogin(state: EmulatorState, method: string, url: URL, headers: IncomingHttpHeaders, body: Buffer): Reply | undefined {
  const ls = loginState(state);
  const path = url.pathname;
  const base = `http://${header(headers, 'host') ?? '127.0.0.1'}`;
  if (path.startsWith('/_emulator/login/')) {
    const r = withControlBody(body, (o) => control(state, ls, method, path, o));
    return jsonReply(r.status, r.body);
  }
  if (path === '/v1/authorize') return authorize(ls, state.now(), base, method, url.searchParams, body);
  if (path === '/v1/sessions/confirmation' && method === 'GET') return confirmation(url.searchParams);
  if (path !== '/v1/token' || method !== 'POST') return undefined;
  const now = state.now();
  ls.stats.createOAuth2Token++;
  const { reply, error } = jsonOperation(state, 'CreateOAuth2Token', now, () => {
    // The exact URL the client called (no query: CreateOAuth2Token has none).
    if (url.search) throw validation('Unexpected query string');
    const jkt = checkDpop(ls, now, header(headers, 'dpop'), `${base}/v1/token`);
    return createToken(state, ls, now, jsonBody(body, validation), jkt);
  });
  if (error) ls.stats.refused[error.code] = (ls.stats.refused[error.code] ?? 0) + 1;
  return reply;
}
