// Console sign-in through the AWS federation endpoint (IAM User Guide, "Enable custom
// identity broker access to the AWS console"; aws-vault's `login` and granted's console do
// the same): temporary credentials → getSigninToken → a login URL that lands on the console.
// No SDK covers the federation endpoint, so the few rules are here, as pure functions, plus
// the one bounded HTTP exchange; src/commands/console.ts only wires them together.
//
// What kind of credentials a profile gives decides the rest:
//   role        a role assumed with the source's long-term key (an MFA code sent with it or
//               not): SessionDuration allowed
//   sso         IAM Identity Center's role credentials: SessionDuration allowed
//   chained     a role assumed with temporary credentials (the MFA session's, another
//               profile's, SSO's: role chaining for AWS, src/credentials/assume.ts): the
//               endpoint answers 400 to a SessionDuration, so none is sent and the console
//               session lasts as the credentials do (at most an hour)
//   federation  no role at all: GetSessionToken credentials are refused by the console, so a
//               GetFederationToken session is made from the long-term key instead; its
//               DurationSeconds is the console session's length and SessionDuration is refused

import { KeyroleError, oneLine, type ErrorCode } from '../util/errors.ts';
import { printable } from '../util/printable.ts';
import { debug } from '../util/debug.ts';
import type { Layer } from '../credentials/plan.ts';
import { signedWithTemporary } from '../credentials/assume.ts';
import type { AwsKeys } from './sts.ts';
import type { CaBundle } from '../config/cabundle.ts';
import { checkRegion } from '../config/region.ts';
import { partition } from '../config/endpoints.ts';
import { boundedRequest, withoutNodeTlsOverride } from './http.ts';

export type ConsoleKind = 'role' | 'sso' | 'chained' | 'federation';
export type Partition = 'aws' | 'aws-cn' | 'aws-us-gov';

/** The sign-in host and console domain of each partition that has a public console. */
export const PARTITIONS: Record<Partition, { signin: string; console: string }> = {
  aws: { signin: 'signin.aws.amazon.com', console: 'console.aws.amazon.com' },
  'aws-cn': { signin: 'signin.amazonaws.cn', console: 'console.amazonaws.cn' },
  'aws-us-gov': { signin: 'signin.amazonaws-us-gov.com', console: 'console.amazonaws-us-gov.com' },
};

// A sign-in token is a bearer credential for 15 minutes, usable once.
export const SIGNIN_TOKEN_MINUTES = 15;
// What AWS hands out is a long base64url-like string; anything else is not a token.
const SIGNIN_TOKEN = /^[A-Za-z0-9_\-+/=.~]{16,8192}$/;
// Bounds on the one exchange with the federation endpoint.
const SIGNIN_TIMEOUT_MS = 12000;
const MAX_ANSWER_BYTES = 64 * 1024;

/** The session policy that keeps the IAM user's own permissions: a federated user gets the intersection of the user's policies and this. */
export const ALLOW_ALL_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}';

export function partitionOf(region: string): Partition {
  // A region is a host label in every URL built here (config/region.ts: the one check).
  checkRegion(region, 'the profile or --region');
  // The partition as the endpoint rules know it (src/config/endpoints.ts); the isolated
  // partitions and the European Sovereign Cloud have no public sign-in endpoint.
  const id = partition(region).id;
  if (!Object.hasOwn(PARTITIONS, id)) {
    throw new KeyroleError('NoConsole', `region ${region} is in a partition without a public console sign-in endpoint`, 'set KEYROLE_SIGNIN_URL to your partition\'s federation endpoint');
  }
  return id as Partition;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The federation endpoint: KEYROLE_SIGNIN_URL (tests, private partitions), else the partition's sign-in host. */
export function federationEndpoint(partition: Partition, e: NodeJS.ProcessEnv = process.env): string {
  const raw = e.KEYROLE_SIGNIN_URL;
  if (raw === undefined || raw === '') return `https://${PARTITIONS[partition].signin}/federation`;
  let u: URL | undefined;
  try { u = new URL(raw); } catch { u = undefined; }
  // Credentials go to this URL: https only, or plain http to this machine.
  const ok = u && !u.username && !u.password && !u.search && !u.hash && (u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK.has(u.hostname)));
  if (!ok) {
    throw new KeyroleError('BadSigninUrl', `KEYROLE_SIGNIN_URL ${JSON.stringify(printable(raw).slice(0, 100))} is not an https URL (or http to this machine) without query`, 'fix or unset KEYROLE_SIGNIN_URL');
  }
  return u!.href;
}

/**
 * The console page to land on. Nothing: the console home of the region. A bare service name
 * (`s3`, `ec2`): that service's home. A path (`s3/buckets`, `/ec2/home#Instances:`): that page
 * on the region's console host. A full URL: kept, if it is on the partition's console.
 * The region is added as `?region=` when the page does not name one.
 */
export function consoleDestination(region: string, partition: Partition, destination?: string): string {
  const domain = PARTITIONS[partition].console;
  const bad = (why: string) => new KeyroleError('BadDestination', `--destination ${JSON.stringify(printable(destination ?? '').slice(0, 100))} ${why}`, `give a console path such as s3 or ec2/home, or a URL on https://${domain}/`);
  let u: URL;
  if (destination === undefined || destination === '') {
    u = new URL(`https://${region}.${domain}/console/home`);
  } else {
    // Control characters and bidi overrides (what printable() removes), spaces and markup: no console page has them.
    if (printable(destination) !== destination || /[\s"<>\\^`{|}]/.test(destination)) throw bad('has characters no console URL has');
    if (/^[a-z][a-z0-9+.-]*:/i.test(destination)) {
      try { u = new URL(destination); } catch { throw bad('is not a URL'); }
      if (u.protocol !== 'https:' || u.username || u.password || u.port || !(u.hostname === domain || u.hostname.endsWith(`.${domain}`))) {
        throw bad(`is not on the ${partition} console (https://…${domain}/)`);
      }
    } else {
      const path = destination.replace(/^\/+/, '');
      u = new URL(`https://${region}.${domain}/${/^[a-z0-9-]+$/.test(path) ? `${path}/home` : path}`);
      if (u.hostname !== `${region}.${domain}`) throw bad('is not a path on the console');
    }
  }
  if (!u.searchParams.has('region')) u.searchParams.set('region', region);
  return u.href;
}

/**
 * Which credentials the profile gives the console (see the top of this file), from the
 * planner's layers: a role is chained when the way it is assumed (assume.ts) signs with
 * temporary credentials.
 */
export function consoleKind(top: Layer): ConsoleKind {
  switch (top.kind) {
    case 'role':
    case 'chained-role': return signedWithTemporary(top.way!) ? 'chained' : 'role';
    case 'sso-role': return 'sso';
    default: return 'federation';
  }
}

export interface ConsolePlan {
  kind: ConsoleKind;
  /** getSigninToken's SessionDuration; undefined: not sent. */
  sessionDuration?: number;
  /** GetFederationToken's DurationSeconds (federation only). */
  federationDuration?: number;
}

/**
 * The durations to ask for, and the refusals a careful user wants before anything is asked
 * of AWS. `duration` is --duration (already range-checked by the caller against 900–129600).
 *
 * MFA: GetFederationToken takes no MFA code and refuses GetSessionToken (MFA) credentials,
 * so for a source protected with keyrole_mfa_serial it would open a console session that
 * carries no MFA, signed with the bare long-term key the MFA was meant to guard. keyrole
 * refuses that unless --no-mfa says it is wanted, and names the way that keeps the MFA: a
 * role profile of the same source (its role is assumed with the MFA session).
 */
export function consolePlan(top: Layer, o: { duration?: number; allowNoMfa?: boolean }): ConsolePlan {
  const kind = consoleKind(top);
  const s = top.settings;
  const where = s.profile ? `profile ${s.profile}` : 'the command line';
  // An AWS Sign-In session is neither of the two ways in keyrole knows: it holds no long-term
  // key for GetFederationToken, and its credentials are not a role's, which is what
  // getSigninToken takes. The person signed in to the console to make the session anyway.
  if (top.kind === 'login') {
    throw new KeyroleError('ConsoleLoginSession', `${where} is an AWS Sign-In session: keyrole opens the console with role credentials or with a long-term key (GetFederationToken), and this session has neither`,
      `sign in to the console in the browser as you did for keyrole login, or put a role on top (a profile with keyrole_source_profile = ${s.profile ?? '<this profile>'} and keyrole_role_arn) and run keyrole console on that profile`);
  }
  switch (kind) {
    case 'federation':
      if (s.mfaSerial && !o.allowNoMfa) {
        throw new KeyroleError('ConsoleNeedsMfa', `${where} has no role, and GetFederationToken (the console's only way in for a plain IAM user) takes no MFA code, so the console session would carry no MFA`,
          `sign in through a role profile of source "${s.source}" (keyrole_role_arn; the MFA is asked as usual), or pass --no-mfa to accept a console session without MFA`);
      }
      return { kind, federationDuration: o.duration ?? s.durationSeconds };
    case 'chained':
      if (o.duration !== undefined) {
        throw new KeyroleError('ConsoleDurationChained', `${where}'s role is assumed with temporary credentials (another role's, a session's or IAM Identity Center's: role chaining), and the federation endpoint refuses a console session duration for those`,
          'leave out --duration: the console session then lasts as the role credentials do (at most an hour)');
      }
      return { kind };
    default:
      if (o.duration !== undefined && o.duration > 43200) {
        throw new KeyroleError('BadDuration', `--duration ${o.duration} is longer than a console session can be for role credentials (43200 s)`, 'pass --duration 43200 or less');
      }
      return { kind, sessionDuration: o.duration ?? s.durationSeconds };
  }
}

/** The federated user's name for GetFederationToken: the source's name as STS allows it (2–32 of [\w+=,.@-]). */
export function federationName(source: string): string {
  const name = source.replace(/[^\w+=,.@-]/g, '-').slice(0, 32);
  return name.length >= 2 ? name : `keyrole-${name}`.slice(0, 32);
}

/** getSigninToken's request URL. The Session JSON holds the temporary secret: it goes only to the endpoint, over https. */
export function signinTokenUrl(endpoint: string, creds: Required<AwsKeys>, sessionDuration?: number): string {
  const u = new URL(endpoint);
  u.searchParams.set('Action', 'getSigninToken');
  if (sessionDuration !== undefined) u.searchParams.set('SessionDuration', String(sessionDuration));
  u.searchParams.set('Session', JSON.stringify({ sessionId: creds.accessKeyId, sessionKey: creds.secretAccessKey, sessionToken: creds.sessionToken }));
  return u.href;
}

/** The SigninToken from the endpoint's answer, checked for shape; every other answer is one line. */
export function parseSigninAnswer(status: number, body: string, where: string, profile: string): string {
  if (status !== 200) {
    // AWS answers refusals with an HTML error page ("HTTP Status 400 - Invalid credentials parameter").
    const title = /<title>([^<]*)<\/title>/i.exec(body)?.[1] ?? /<h1>([^<]*)<\/h1>/i.exec(body)?.[1] ?? body;
    const said = printable(oneLine(title.replace(/&#?\w+;/g, ' '))).slice(0, 200) || 'no explanation';
    const fix = status >= 500 || status === 429 ? 'retry in a minute'
      : `the credentials may have been revoked or have expired: run keyrole cache clear ${profile} and retry`;
    return fail('FederationRefused', `the federation endpoint at ${where} refused the sign-in (HTTP ${status}: ${said})`, fix);
  }
  let parsed: unknown;
  try { parsed = JSON.parse(body); } catch { parsed = undefined; }
  const token = (parsed as { SigninToken?: unknown } | undefined)?.SigninToken;
  if (typeof token !== 'string' || !SIGNIN_TOKEN.test(token)) {
    return fail('SigninMalformed', `the federation endpoint at ${where} answered without a sign-in token keyrole can use`, 'retry; if it persists, check the network path (a proxy or captive portal) and KEYROLE_SIGNIN_URL');
  }
  return token;
}

function fail(code: ErrorCode, message: string, fix: string): never {
  throw new KeyroleError(code, message, fix);
}

/** The login URL: single use, valid for 15 minutes; a bearer credential until then. */
export function loginUrl(endpoint: string, token: string, destination: string): string {
  const u = new URL(endpoint);
  u.searchParams.set('Action', 'login');
  u.searchParams.set('Issuer', 'keyrole');
  u.searchParams.set('Destination', destination);
  u.searchParams.set('SigninToken', token);
  return u.href;
}

/**
 * The one exchange with the federation endpoint, bounded in time and size, through the same
 * connections as every AWS call (src/aws/http.ts: proxies, AWS_CA_BUNDLE / ca_bundle, Node's
 * TLS overrides ignored).
 */
export async function requestSigninToken(endpoint: string, creds: Required<AwsKeys>, sessionDuration: number | undefined, profile: string, caBundle?: CaBundle): Promise<string> {
  const where = new URL(endpoint).host;
  const started = performance.now();
  let answer: { status: number; body: string };
  try {
    answer = await withoutNodeTlsOverride(() => boundedRequest(signinTokenUrl(endpoint, creds, sessionDuration), { headers: { accept: 'application/json' }, timeoutMs: SIGNIN_TIMEOUT_MS, maxBytes: MAX_ANSWER_BYTES, caBundle }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.name === 'TimeoutError' ? `no answer within ${SIGNIN_TIMEOUT_MS / 1000} s` : e.name === 'TooLarge' ? `an answer over ${MAX_ANSWER_BYTES / 1024} KB` : printable(String(e.code ?? e.name ?? 'error'));
    throw new KeyroleError('SigninUnreachable', `cannot reach the federation endpoint at ${where} (${why})`, 'check the network or a proxy, and KEYROLE_SIGNIN_URL if set');
  }
  debug(`federation endpoint ${where} answered getSigninToken with HTTP ${answer.status} in ${(performance.now() - started).toFixed(1)} ms${sessionDuration !== undefined ? ` (SessionDuration ${sessionDuration})` : ''}`);
  return parseSigninAnswer(answer.status, answer.body, where, profile);
}
