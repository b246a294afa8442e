// IAM Identity Center (SSO): the OIDC device flow, refresh tokens, and GetRoleCredentials.
//
// A token is looked for in this order: keyrole's own (in the keychain, never in a plaintext
// file), a valid one that `aws sso login` left in ~/.aws/sso/cache, a refresh with a refresh
// token, and last a device-flow login at the terminal. Refreshes and logins are single
// flight across processes (src/credentials/lock.ts), so thirty parallel credential_process calls make
// one login and open at most one browser tab (aws-vault #445, aws-sso-cli #644).
//
// Nothing here loads the SDK or node:crypto before a call is about to be made.

import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { KeyroleError } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { loadSdk } from '../aws/sdk.ts';
import { requestHandler as awsRequestHandler, withoutNodeTlsOverride } from '../aws/http.ts';
import { readFailure, isRefusal, isThrottling, outsideText } from '../aws/failures.ts';
import { checkRegion } from '../config/region.ts';
import { caBundleSetting } from '../config/cabundle.ts';
import { credentialProblem } from '../credentials/shape.ts';
import { deleteItem, getItem, setItem } from '../keychain/keychain.ts';
import { singleFlight, type HeldLock, type WaitBounds } from '../credentials/lock.ts';
import { keyroleHome, privateDir } from '../credentials/cache.ts';
import { section, type AwsFiles, type SsoRef } from '../config/config.ts';
import type { TempCredentials } from '../aws/sts.ts';
import type { Terminal } from '../util/prompt.ts';
import { openBrowser } from '../util/browser.ts';

/** What a login needs: the session, without an account or role. */
export type SsoSessionRef = Pick<SsoRef, 'session' | 'startUrl' | 'ssoRegion' | 'registrationScopes'>;

export interface SsoOptions {
  /** May a device-flow login start at the terminal when there is no usable token? */
  interactive: boolean;
  /** Told 'prompt' before keyrole waits for the person, 'working' after (src/credentials/lock.ts HeldLock.setState). */
  onPrompt?: (state: 'prompt' | 'working') => void;
  /** The name `keyrole login` takes for this session: the sso-session, else the profile (legacy form). */
  loginName?: string;
}

/** A session's record in the keychain: the client registration and, once logged in, the token. */
export interface SsoRecord {
  startUrl: string;
  region: string;
  scopes: string[];
  clientId?: string;
  clientSecret?: string;
  registrationExpiresAt?: Date;
  accessToken?: string;
  expiresAt?: Date;
  refreshToken?: string;
  /** When keyrole got this access token (a forced login waits for a newer one). */
  obtainedAt?: Date;
}

/** A usable access token and where it came from. */
export interface SsoToken {
  accessToken: string;
  expiresAt: Date;
  from: 'keychain' | 'aws-cache';
  refreshable: boolean;
}

export const SSO_SERVICE = 'keyrole:sso';
/** A token with more than this left is used as it is; below it, keyrole renews it if it can (botocore's advisory window). */
export const TOKEN_FRESH_MS = 15 * 60_000;
/** Below this a token is not used at all: GetRoleCredentials must still accept it. */
export const TOKEN_MIN_MS = 60_000;
/** A client registration is reused for a new login while it has at least this long to live. */
export const REGISTRATION_REUSE_MS = 24 * 3600_000;
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const REFRESH_SCOPE = 'sso:account:access';
// A person signing in may take minutes; waiters on the login lock wait as long as a code lasts.
const SSO_LOCK_BOUNDS: WaitBounds = { workingMs: 45_000, promptMs: 15 * 60_000 };
const CONNECT_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 5000;
const TOTAL_TIMEOUT_MS = 12000;

const env = process.env;

// ---- names ----

/** The sso-session name, or the start URL for the legacy form: what the AWS tools key the session by. */
export function sessionId(ref: SsoSessionRef): string {
  return ref.session ?? ref.startUrl;
}

export function loginName(ref: SsoSessionRef, o: Pick<SsoOptions, 'loginName'> = {}): string {
  return ref.session ?? o.loginName ?? '<profile>';
}

function describe(ref: SsoSessionRef): string {
  return ref.session ? `sso-session ${ref.session}` : `start URL ${ref.startUrl}`;
}

function home(): string {
  return env.HOME || env.USERPROFILE || homedir();
}

/** ~/.aws/sso/cache/<sha1(sso-session name | start URL)>.json, the AWS CLI's and the JS SDK's token file. */
export async function awsCacheFile(ref: SsoSessionRef): Promise<string> {
  const dir = join(home(), '.aws', 'sso', 'cache');
  const { createHash } = await import('node:crypto');
  return join(dir, `${createHash('sha1').update(sessionId(ref), 'utf8').digest('hex')}.json`);
}

/** The single-flight lock for logins and refreshes of one session. */
export async function lockName(ref: SsoSessionRef): Promise<string> {
  const { createHash } = await import('node:crypto');
  return `sso-${createHash('sha256').update(`${ref.startUrl}\n${sessionId(ref)}`).digest('hex').slice(0, 24)}`;
}

/** The [sso-session NAME] section as a login target. */
export function sessionRefFromConfig(files: AwsFiles, name: string): SsoSessionRef | undefined {
  const sec = section(files.config, `sso-session.${name}`);
  if (!sec) return undefined;
  const startUrl = sec.sso_start_url;
  const ssoRegion = sec.sso_region;
  if (!startUrl || !ssoRegion) {
    throw new KeyroleError('BadSsoSession', `[sso-session ${name}] lacks ${!startUrl ? 'sso_start_url' : 'sso_region'}`, `add it to ${files.configPath}`);
  }
  const scopes = (sec.sso_registration_scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return { session: name, startUrl, ssoRegion, registrationScopes: scopes };
}

// ---- endpoints ----

export interface SsoEndpoints {
  oidc: string | undefined;
  oidcFrom: string;
  portal: string | undefined;
  portalFrom: string;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

/** AWS_ENDPOINT_URL_SSO_OIDC / AWS_ENDPOINT_URL_SSO, then AWS_ENDPOINT_URL, else the regional endpoints. */
export function ssoEndpoints(region: string): SsoEndpoints {
  checkRegion(region, 'sso_region');
  const ignore = truthy(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS);
  const pick = (specific: string, fallback: string): [string | undefined, string] => {
    if (!ignore && env[specific]) return [env[specific], specific];
    if (!ignore && env.AWS_ENDPOINT_URL) return [env.AWS_ENDPOINT_URL, 'AWS_ENDPOINT_URL'];
    return [undefined, `regional (${fallback})`];
  };
  const [oidc, oidcFrom] = pick('AWS_ENDPOINT_URL_SSO_OIDC', `https://oidc.${region}.amazonaws.com`);
  const [portal, portalFrom] = pick('AWS_ENDPOINT_URL_SSO', `https://portal.sso.${region}.amazonaws.com`);
  for (const [url, from] of [[oidc, oidcFrom], [portal, portalFrom]] as const) {
    if (url !== undefined && !/^https?:\/\/[^\s/]+/.test(url)) {
      throw new KeyroleError('BadEndpoint', `IAM Identity Center endpoint ${JSON.stringify(url)} (from ${from}) is not an http(s) URL`, 'fix or unset it');
    }
  }
  return { oidc, oidcFrom, portal, portalFrom };
}

// ---- the keychain record ----

const iso = (d: Date | undefined) => d?.toISOString();

export function encodeRecord(r: SsoRecord): string {
  return JSON.stringify({
    keyrole: 1,
    kind: 'sso-session',
    startUrl: r.startUrl,
    region: r.region,
    scopes: r.scopes,
    clientId: r.clientId,
    clientSecret: r.clientSecret,
    registrationExpiresAt: iso(r.registrationExpiresAt),
    accessToken: r.accessToken,
    expiresAt: iso(r.expiresAt),
    refreshToken: r.refreshToken,
    obtainedAt: iso(r.obtainedAt),
  });
}

const s = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

function date(v: unknown): Date | undefined {
  const raw = s(v);
  if (!raw) return undefined;
  // Older AWS CLI versions wrote "2019-11-14T04:05:45UTC".
  const d = new Date(raw.replace(/UTC$/, 'Z'));
  return isNaN(d.getTime()) ? undefined : d;
}

/** Undefined for anything keyrole did not write. */
export function decodeRecord(raw: string): SsoRecord | undefined {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || v.keyrole !== 1 || v.kind !== 'sso-session') return undefined;
  const startUrl = s(v.startUrl);
  const region = s(v.region);
  if (!startUrl || !region) return undefined;
  const scopes = Array.isArray(v.scopes) ? v.scopes.filter((x): x is string => typeof x === 'string') : [];
  const accessToken = s(v.accessToken);
  const expiresAt = date(v.expiresAt);
  return {
    startUrl,
    region,
    scopes,
    clientId: s(v.clientId),
    clientSecret: s(v.clientSecret),
    registrationExpiresAt: date(v.registrationExpiresAt),
    // A token without a readable expiry is no token.
    ...(accessToken && expiresAt ? { accessToken, expiresAt } : {}),
    refreshToken: s(v.refreshToken),
    obtainedAt: date(v.obtainedAt),
  };
}

/** The session's record, if it is for this start URL and region (a changed sso-session starts over). */
export function readRecord(ref: SsoSessionRef): SsoRecord | undefined {
  const raw = getItem(SSO_SERVICE, sessionId(ref), `read the IAM Identity Center token of ${describe(ref)}`);
  if (raw === null) return undefined;
  const r = decodeRecord(raw);
  if (!r) {
    debug(`the keychain entry for ${describe(ref)} is not in keyrole's format; ignoring it`);
    return undefined;
  }
  if (r.startUrl !== ref.startUrl || r.region !== ref.ssoRegion) {
    debug(`the keychain entry for ${describe(ref)} is for ${r.startUrl} in ${r.region}; ignoring it`);
    return undefined;
  }
  return r;
}

function writeRecord(ref: SsoSessionRef, r: SsoRecord): void {
  setItem(SSO_SERVICE, sessionId(ref), encodeRecord(r), `store the IAM Identity Center token of ${describe(ref)}`);
}

/** Forgets keyrole's token (and registration) for a session. */
export function forgetSession(ref: SsoSessionRef): boolean {
  return deleteItem(SSO_SERVICE, sessionId(ref), `remove the IAM Identity Center token of ${describe(ref)}`);
}

// ---- the AWS CLI's token file (interop) ----

export interface AwsCacheToken {
  path: string;
  raw: Record<string, unknown>;
  record: SsoRecord;
}

/** A token `aws sso login` (or an SDK) left for this session, or undefined. Never written by keyrole except to refresh it in place. */
export async function readAwsCache(ref: SsoSessionRef): Promise<AwsCacheToken | undefined> {
  const path = await awsCacheFile(ref);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') debug(`${path} is unreadable (${code ?? 'not JSON'}); ignoring it`);
    return undefined;
  }
  if (!raw || typeof raw !== 'object') return undefined;
  const accessToken = s(raw.accessToken);
  const expiresAt = date(raw.expiresAt);
  if (!accessToken || !expiresAt) return undefined;
  const startUrl = s(raw.startUrl);
  if (startUrl !== undefined && startUrl !== ref.startUrl) {
    debug(`${path} is for ${startUrl}, not ${ref.startUrl}; ignoring it`);
    return undefined;
  }
  return {
    path,
    raw,
    record: {
      startUrl: ref.startUrl,
      region: s(raw.region) ?? ref.ssoRegion,
      scopes: ref.registrationScopes,
      clientId: s(raw.clientId),
      clientSecret: s(raw.clientSecret),
      registrationExpiresAt: date(raw.registrationExpiresAt),
      accessToken,
      expiresAt,
      refreshToken: s(raw.refreshToken),
    },
  };
}

/** Writes a refreshed token back into the AWS CLI's file (as the JS SDK does), atomically, 0600. */
function writeAwsCache(c: AwsCacheToken, r: SsoRecord): void {
  const next = { ...c.raw, accessToken: r.accessToken, expiresAt: r.expiresAt!.toISOString().replace(/\.\d{3}Z$/, 'Z'), ...(r.refreshToken ? { refreshToken: r.refreshToken } : {}) };
  const tmp = join(dirname(c.path), `.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  try {
    writeFileSync(tmp, JSON.stringify(next, null, 2), { mode: 0o600, flag: 'wx' });
    renameSync(tmp, c.path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* not created */ }
    debug(`could not write the refreshed token back to ${c.path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

// ---- judging tokens ----

export function tokenLeftMs(r: Pick<SsoRecord, 'accessToken' | 'expiresAt'> | undefined, now: number): number {
  return r?.accessToken && r.expiresAt ? r.expiresAt.getTime() - now : -Infinity;
}

export function canRefresh(r: SsoRecord | undefined, now: number): boolean {
  return !!(r?.refreshToken && r.clientId && r.clientSecret && (!r.registrationExpiresAt || r.registrationExpiresAt.getTime() > now));
}

export function reusableRegistration(r: SsoRecord | undefined, ref: SsoSessionRef, now: number): boolean {
  return !!(r?.clientId && r.clientSecret && r.registrationExpiresAt && r.registrationExpiresAt.getTime() - now > REGISTRATION_REUSE_MS
    && sameScopes(r.scopes, ref.registrationScopes));
}

function sameScopes(a: string[], b: string[]): boolean {
  return [...a].sort().join(' ') === [...b].sort().join(' ');
}

function asToken(r: SsoRecord, from: SsoToken['from']): SsoToken {
  return { accessToken: r.accessToken!, expiresAt: r.expiresAt!, from, refreshable: !!r.refreshToken };
}

// ---- SDK calls ----

/** One line of cause and fix for an IAM Identity Center failure. `name` is the `keyrole login` argument. */
export function ssoError(err: unknown, what: string, where: string, name: string): KeyroleError {
  if (err instanceof KeyroleError) return err;
  const f = readFailure(err);
  // The service chooses these texts: one printable line each, and not endless ones (readFailure).
  // OIDC errors carry `error` and `error_description` (RFC 6749); the SDK's message is then 'UnknownError'.
  const e = (err ?? {}) as { error?: unknown; error_description?: unknown };
  const text = typeof e.error_description === 'string' ? e.error_description : f.message && f.message !== 'UnknownError' ? f.message : typeof e.error === 'string' ? e.error : f.code;
  const detail = outsideText(text);
  const type = f.code;
  const status = f.status;
  if (f.kind === 'tls') {
    return new KeyroleError('TlsUntrusted', `IAM Identity Center at ${where} presented a TLS certificate keyrole does not trust (${f.code}); nothing was sent`, 'if a proxy inspects TLS, point AWS_CA_BUNDLE at its CA certificate; otherwise someone may be intercepting the connection');
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

// The profile's ca_bundle is not known here (an sso-session serves many profiles): AWS_CA_BUNDLE only.
function requestHandler(url: string) {
  return awsRequestHandler({ url, connectTimeoutMs: CONNECT_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS, caBundle: caBundleSetting(undefined) });
}

function oidcApi(ref: SsoSessionRef) {
  const ep = ssoEndpoints(ref.ssoRegion);
  const started = performance.now();
  const m = loadSdk('sso-oidc');
  debug(`loaded @aws-sdk/client-sso-oidc in ${(performance.now() - started).toFixed(1)} ms; endpoint ${ep.oidc ?? ep.oidcFrom} (from ${ep.oidcFrom})`);
  const where = ep.oidc ?? `https://oidc.${ref.ssoRegion}.amazonaws.com`;
  const c = new m.SSOOIDCClient({ region: ref.ssoRegion, endpoint: ep.oidc, maxAttempts: 2, requestHandler: requestHandler(where) });
  return { m, c, where };
}

function portalApi(ref: SsoSessionRef) {
  const ep = ssoEndpoints(ref.ssoRegion);
  const started = performance.now();
  const m = loadSdk('sso');
  debug(`loaded @aws-sdk/client-sso in ${(performance.now() - started).toFixed(1)} ms; endpoint ${ep.portal ?? ep.portalFrom} (from ${ep.portalFrom})`);
  const where = ep.portal ?? `https://portal.sso.${ref.ssoRegion}.amazonaws.com`;
  const c = new m.SSOClient({ region: ref.ssoRegion, endpoint: ep.portal, maxAttempts: 3, requestHandler: requestHandler(where) });
  return { m, c, where };
}

async function timed<T>(what: string, run: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const out = await withoutNodeTlsOverride(() => run(AbortSignal.timeout(TOTAL_TIMEOUT_MS)));
    debug(`${what} answered in ${(performance.now() - started).toFixed(1)} ms`);
    return out;
  } catch (err) {
    debug(`${what} failed after ${(performance.now() - started).toFixed(1)} ms: ${(err as Error).name}`);
    throw err;
  }
}

async function registerClient(ref: SsoSessionRef, name: string): Promise<Required<Pick<SsoRecord, 'clientId' | 'clientSecret' | 'registrationExpiresAt'>>> {
  const { m, c, where } = oidcApi(ref);
  try {
    const out = await timed('SSO-OIDC RegisterClient', (abortSignal) => c.send(new m.RegisterClientCommand({
      clientName: `keyrole-${sessionId(ref).replace(/[^\w.-]/g, '_')}`.slice(0, 64),
      clientType: 'public',
      ...(ref.registrationScopes.length ? { scopes: ref.registrationScopes } : {}),
    }), { abortSignal }));
    if (!out.clientId || !out.clientSecret) throw new KeyroleError('SsoMalformed', 'IAM Identity Center answered RegisterClient without a client id', 'retry later');
    // clientSecretExpiresAt is in seconds; AWS registrations last 90 days.
    const expires = out.clientSecretExpiresAt ? new Date(out.clientSecretExpiresAt * 1000) : new Date(Date.now() + 90 * 86400_000);
    return { clientId: out.clientId, clientSecret: out.clientSecret, registrationExpiresAt: expires };
  } catch (err) {
    throw ssoError(err, 'the client registration', where, name);
  }
}

interface TokenAnswer { accessToken: string; expiresIn: number; refreshToken?: string }

function tokenAnswer(out: { accessToken?: string; expiresIn?: number; refreshToken?: string }): TokenAnswer {
  if (!out.accessToken || !out.expiresIn) throw new KeyroleError('SsoMalformed', 'IAM Identity Center answered CreateToken without a token', 'retry later');
  return { accessToken: out.accessToken, expiresIn: out.expiresIn, refreshToken: out.refreshToken };
}

/** Renews an access token with the refresh token. Throws the SDK's error as is (the caller decides). */
async function refreshWith(ref: SsoSessionRef, r: SsoRecord): Promise<SsoRecord> {
  const { m, c } = oidcApi(ref);
  const out = tokenAnswer(await timed('SSO-OIDC CreateToken (refresh_token)', (abortSignal) => c.send(new m.CreateTokenCommand({
    clientId: r.clientId, clientSecret: r.clientSecret, grantType: 'refresh_token', refreshToken: r.refreshToken,
  }), { abortSignal })));
  const now = Date.now();
  return { ...r, accessToken: out.accessToken, expiresAt: new Date(now + out.expiresIn * 1000), refreshToken: out.refreshToken ?? r.refreshToken, obtainedAt: new Date(now) };
}

// ---- the device flow ----

export interface PollOptions {
  intervalMs: number;
  expiresInMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Polls CreateToken until the person approves: every `interval`, five seconds slower after
 * each slow_down (RFC 8628 3.5), until the code expires. The SDK error names decide.
 */
export async function pollForToken<T>(call: () => Promise<T>, o: PollOptions): Promise<T> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + o.expiresInMs;
  let interval = Math.max(1000, o.intervalMs);
  for (;;) {
    await sleep(Math.min(interval, Math.max(0, deadline - now())));
    if (now() >= deadline) throw Object.assign(new Error('the device code expired'), { name: 'ExpiredTokenException' });
    try {
      return await call();
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'AuthorizationPendingException') continue;
      if (name === 'SlowDownException') {
        interval += 5000;
        debug(`SSO-OIDC asked to slow down; polling every ${interval / 1000} s`);
        continue;
      }
      throw err;
    }
  }
}

/** Where a login talks to the person: the terminal, or stderr for `keyrole login` without one. */
export interface Screen {
  write(text: string): void;
  /** A terminal can show a live progress line. */
  live: boolean;
}

function mmss(ms: number): string {
  const t = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, '0')}`;
}

/** The waiting line: a spinner and how long the code stays valid, redrawn in place. */
export function progress(screen: Screen, deadline: number, now: () => number = Date.now): { stop(final?: string): void } {
  const frames = ['|', '/', '-', '\\'];
  let i = 0;
  const draw = () => screen.write(`\r\x1b[2K${frames[i++ % frames.length]} Waiting for approval in the browser; the code is valid for ${mmss(deadline - now())} (Ctrl-C cancels)`);
  if (!screen.live) {
    screen.write(`Waiting for approval; the code is valid for ${mmss(deadline - now())}.\n`);
    return { stop: (final) => { if (final) screen.write(`${final}\n`); } };
  }
  draw();
  const timer = setInterval(draw, 250);
  return {
    stop(final) {
      clearInterval(timer);
      screen.write(`\r\x1b[2K${final ? `${final}\n` : ''}`);
    },
  };
}

function terminalScreen(term: Terminal): Screen {
  return { write: (t) => term.output.write(t), live: true };
}

export function stderrScreen(): Screen {
  const clearLine = '\r\x1b[2K';
  return { write: (t) => process.stderr.write(t.startsWith(clearLine) ? t.slice(clearLine.length) : t), live: false };
}

/**
 * The OIDC device flow: (re)uses the client registration, starts a device authorization,
 * shows the URL and code, opens the browser once where one can be opened, and polls.
 * Stores the token in the keychain and returns the record.
 */
async function deviceLogin(ref: SsoSessionRef, screen: Screen, name: string): Promise<SsoRecord> {
  const now = Date.now();
  let rec: SsoRecord = readRecord(ref) ?? { startUrl: ref.startUrl, region: ref.ssoRegion, scopes: ref.registrationScopes };
  const register = async () => {
    rec = { ...rec, scopes: ref.registrationScopes, ...(await registerClient(ref, name)) };
    // Kept even if the login fails, so the next attempt reuses it.
    writeRecord(ref, rec);
  };
  if (reusableRegistration(rec, ref, now)) debug(`reusing the client registration (valid until ${rec.registrationExpiresAt!.toISOString()})`);
  else await register();

  const { m, c, where } = oidcApi(ref);
  let auth;
  for (let attempt = 0; ; attempt++) {
    try {
      auth = await timed('SSO-OIDC StartDeviceAuthorization', (abortSignal) => c.send(new m.StartDeviceAuthorizationCommand({ clientId: rec.clientId, clientSecret: rec.clientSecret, startUrl: ref.startUrl }), { abortSignal }));
      break;
    } catch (err) {
      // A registration the service no longer knows: register again, once.
      if ((err as Error).name === 'InvalidClientException' && attempt === 0) {
        debug('the stored client registration was refused; registering again');
        await register();
        continue;
      }
      throw ssoError(err, 'the start of the sign-in', where, name);
    }
  }
  if (!auth.deviceCode || !auth.userCode || !(auth.verificationUriComplete || auth.verificationUri)) {
    throw new KeyroleError('SsoMalformed', 'IAM Identity Center answered StartDeviceAuthorization without a code', 'retry later');
  }
  const url = auth.verificationUriComplete ?? auth.verificationUri!;
  const expiresInMs = (auth.expiresIn ?? 600) * 1000;
  const deadline = Date.now() + expiresInMs;
  screen.write(`\nSign in to AWS IAM Identity Center (${describe(ref)}, ${ref.startUrl})\n`);
  screen.write(`  Open:  ${url}\n`);
  screen.write(`  Code:  ${auth.userCode}   (check that the page shows the same code)\n`);
  const opened = await openBrowser({ url });
  screen.write(opened ? '  The page was opened in your browser.\n' : '  Open the link in a browser on any device.\n');

  const bar = progress(screen, deadline);
  let answer: TokenAnswer;
  try {
    answer = tokenAnswer(await pollForToken(
      () => c.send(new m.CreateTokenCommand({ clientId: rec.clientId, clientSecret: rec.clientSecret, grantType: DEVICE_GRANT, deviceCode: auth.deviceCode }), { abortSignal: AbortSignal.timeout(TOTAL_TIMEOUT_MS) }),
      { intervalMs: (auth.interval ?? 5) * 1000, expiresInMs },
    ));
  } catch (err) {
    bar.stop('Sign-in did not complete.');
    throw ssoError(err, 'the sign-in', where, name);
  }
  const got = Date.now();
  rec = { ...rec, accessToken: answer.accessToken, expiresAt: new Date(got + answer.expiresIn * 1000), refreshToken: answer.refreshToken, obtainedAt: new Date(got) };
  writeRecord(ref, rec);
  const renew = rec.refreshToken
    ? 'keyrole renews it with its refresh token'
    : ref.registrationScopes.includes(REFRESH_SCOPE) ? 'no refresh token was issued' : `add sso_registration_scopes = ${REFRESH_SCOPE} to the sso-session for refresh tokens`;
  bar.stop(`Signed in. The token is in the keychain until ${rec.expiresAt!.toISOString().replace(/\.\d{3}Z$/, 'Z')}; ${renew}.`);
  return rec;
}

// ---- getting a token ----

function needLogin(ref: SsoSessionRef, o: SsoOptions, why: string): KeyroleError {
  return new KeyroleError('SsoLoginRequired', `no valid IAM Identity Center token for ${describe(ref)} ${why}`, `sign in first: keyrole login ${loginName(ref, o)}`);
}

async function terminal(): Promise<Terminal | undefined> {
  const { openTerminal } = await import('../util/prompt.ts');
  return openTerminal();
}

function lockDir(): string {
  return privateDir(keyroleHome());
}

/**
 * A usable access token for the session: the keychain, then ~/.aws/sso/cache, then a
 * refresh, then a device-flow login at the terminal (when `interactive` and a terminal
 * exists), else a KeyroleError naming `keyrole login`. `rejected` is a token the portal
 * refused, never to be returned again.
 */
export async function ssoAccessToken(ref: SsoSessionRef, o: SsoOptions, rejected?: string): Promise<SsoToken> {
  const now = Date.now();
  const usable = (r: SsoRecord | undefined, minMs: number) => !!r && r.accessToken !== rejected && tokenLeftMs(r, now) > minMs;
  const rec = readRecord(ref);
  if (usable(rec, TOKEN_FRESH_MS)) {
    debug(`IAM Identity Center token of ${describe(ref)} from the keychain, ${Math.round(tokenLeftMs(rec, now) / 1000)} s left`);
    return asToken(rec!, 'keychain');
  }
  const aws = await readAwsCache(ref);
  if (usable(aws?.record, TOKEN_FRESH_MS)) {
    debug(`IAM Identity Center token of ${describe(ref)} from ${aws!.path} (aws sso login), ${Math.round(tokenLeftMs(aws!.record, now) / 1000)} s left`);
    return asToken(aws!.record, 'aws-cache');
  }
  const refreshable = canRefresh(rec, now) || canRefresh(aws?.record, now);
  const leftover = usable(rec, TOKEN_MIN_MS) ? asToken(rec!, 'keychain') : usable(aws?.record, TOKEN_MIN_MS) ? asToken(aws!.record, 'aws-cache') : undefined;
  if (!refreshable && leftover) {
    debug(`the IAM Identity Center token has ${Math.round((leftover.expiresAt.getTime() - now) / 1000)} s left and cannot be refreshed; using it`);
    return leftover;
  }
  if (!refreshable) {
    // Fail at once where nobody can sign in; never wait on a lock for it.
    if (!o.interactive) throw needLogin(ref, o, '(signed out or expired)');
    const t = await terminal();
    if (!t) throw needLogin(ref, o, 'and no terminal to sign in at');
    t.close();
    o.onPrompt?.('prompt');
  }
  try {
    return await singleFlight(await lockName(ref), () => {
      // Another process refreshed or signed in while this one waited.
      const r = readRecord(ref);
      return usable(r, TOKEN_FRESH_MS) ? asToken(r!, 'keychain') : undefined;
    }, (lock) => renewOrLogin(ref, o, lock, rejected, leftover), lockDir, SSO_LOCK_BOUNDS);
  } finally {
    if (!refreshable) o.onPrompt?.('working');
  }
}

async function renewOrLogin(ref: SsoSessionRef, o: SsoOptions, lock: HeldLock, rejected: string | undefined, leftover: SsoToken | undefined): Promise<SsoToken> {
  const name = loginName(ref, o);
  const now = Date.now();
  const rec = readRecord(ref);
  if (rec && canRefresh(rec, now)) {
    try {
      const next = await refreshWith(ref, rec);
      writeRecord(ref, next);
      debug(`refreshed the IAM Identity Center token of ${describe(ref)}; ${Math.round(tokenLeftMs(next, Date.now()) / 1000)} s left`);
      return asToken(next, 'keychain');
    } catch (err) {
      const e = ssoError(err, 'the token refresh', ssoEndpoints(ref.ssoRegion).oidc ?? 'oidc', name);
      if (e.transient) {
        if (leftover) return leftover;
        throw e;
      }
      // Refused (expired, revoked, or a registration that ended): the refresh token is spent.
      debug(`the refresh token was refused (${e.code}); it is dropped`);
      writeRecord(ref, { ...rec, refreshToken: undefined, ...(rec.accessToken === rejected ? { accessToken: undefined, expiresAt: undefined } : {}) });
    }
  }
  const aws = await readAwsCache(ref);
  if (aws && aws.record.accessToken !== rejected && canRefresh(aws.record, now)) {
    try {
      const next = await refreshWith(ref, aws.record);
      // The AWS CLI's session stays the AWS CLI's: its file is updated in place, as the SDKs do.
      writeAwsCache(aws, next);
      debug(`refreshed the token in ${aws.path}`);
      return asToken(next, 'aws-cache');
    } catch (err) {
      const e = ssoError(err, 'the token refresh', ssoEndpoints(ref.ssoRegion).oidc ?? 'oidc', name);
      if (leftover && e.transient) return leftover;
      debug(`the refresh token in ${aws.path} was refused (${e.code})`);
    }
  }
  if (leftover) return leftover;
  if (!o.interactive) throw needLogin(ref, o, '(signed out or expired)');
  const term = await terminal();
  if (!term) throw needLogin(ref, o, 'and no terminal to sign in at');
  debug(`no usable IAM Identity Center token for ${describe(ref)}; signing in at the terminal`);
  lock.setState('prompt');
  o.onPrompt?.('prompt');
  try {
    return asToken(await deviceLogin(ref, terminalScreen(term), name), 'keychain');
  } finally {
    term.close();
    lock.setState('working');
    o.onPrompt?.('working');
  }
}

// ---- what the commands call ----

/**
 * `keyrole login`: a new device-flow login, single flight with any other login or refresh of
 * the session (one browser tab however many ask). Shows the code on `screen`.
 */
export async function ssoLogin(ref: SsoSessionRef, o: { name: string; screen: Screen }): Promise<{ record: SsoRecord; joined: boolean }> {
  const started = Date.now();
  // A login that finished while this one waited for the lock counts: no second browser tab.
  const newer = () => {
    const r = readRecord(ref);
    return r?.obtainedAt && r.obtainedAt.getTime() >= started && tokenLeftMs(r, Date.now()) > TOKEN_MIN_MS ? r : undefined;
  };
  let working = false;
  const notice = setTimeout(() => {
    if (!working) o.screen.write(`Another keyrole is signing in to ${describe(ref)}; waiting for it (see the other terminal or browser tab).\n`);
  }, 1000);
  try {
    const record = await singleFlight(await lockName(ref), newer, async (lock) => {
      working = true;
      lock.setState('prompt');
      try {
        return await deviceLogin(ref, o.screen, o.name);
      } finally {
        lock.setState('working');
      }
    }, lockDir, SSO_LOCK_BOUNDS);
    return { record, joined: !working };
  } finally {
    clearTimeout(notice);
  }
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

/**
 * Credentials for the profile's account and role: a valid token (see ssoAccessToken), then
 * GetRoleCredentials. A token the portal refuses although it looked valid (signed out
 * elsewhere) is dropped and renewed once.
 */
export async function ssoRoleCredentials(ref: SsoRef, opts: SsoOptions): Promise<TempCredentials> {
  const name = loginName(ref, opts);
  let token = await ssoAccessToken(ref, opts);
  for (let attempt = 0; ; attempt++) {
    try {
      return await getRoleCredentials(ref, token.accessToken, name);
    } catch (err) {
      if (!(err instanceof KeyroleError) || err.code !== 'SsoTokenRejected' || attempt > 0) throw err;
      debug(`the portal refused the token from the ${token.from === 'keychain' ? 'keychain' : 'AWS CLI cache'}; renewing it`);
      token = await ssoAccessToken(ref, opts, token.accessToken);
    }
  }
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

/** Signs out: the portal's Logout, then keyrole's token leaves the keychain. The AWS CLI's file is left alone. */
export async function ssoLogout(ref: SsoSessionRef, name: string): Promise<boolean> {
  const rec = readRecord(ref);
  if (rec?.accessToken && tokenLeftMs(rec, Date.now()) > 0) {
    const { m, c, where } = portalApi(ref);
    try {
      await timed('SSO Logout', (abortSignal) => c.send(new m.LogoutCommand({ accessToken: rec.accessToken }), { abortSignal }));
    } catch (err) {
      const e = ssoError(err, 'the sign-out', where, name);
      if (e.code !== 'SsoTokenRejected') debug(`Logout failed (${e.code}); forgetting the token anyway`);
    }
  }
  if (!rec) return forgetSession(ref);
  // The client registration is no secret of the person's session: kept for the next login.
  writeRecord(ref, { startUrl: rec.startUrl, region: rec.region, scopes: rec.scopes, clientId: rec.clientId, clientSecret: rec.clientSecret, registrationExpiresAt: rec.registrationExpiresAt });
  return rec.accessToken !== undefined || rec.refreshToken !== undefined;
}
