// STS calls through @aws-sdk/client-sts: what to ask, and how each failure reads. The SDK
// (its query-protocol parser, retries, signer and error shapes, maintained by AWS) lives in
// a bundle of its own (src/aws/sdk.ts), loaded only when a call is about to be made, so a
// cache hit never pays for it: this module imports only types from it.
//
// Adding an operation is one function: a command built from the input, and what to keep of
// the answer (see getSessionToken). Every call gets the same bounds, clock handling,
// response checks and error mapping from call().

import { KeyroleError, oneLine } from '../util/errors.ts';
import { debug, redactKeyId } from '../util/debug.ts';
import { loadSdk } from './sdk.ts';
import { requestHandler, withoutNodeTlsOverride } from './http.ts';
import { readFailure, isRefusal, isThrottling, outsideText } from './failures.ts';
import { regionalStsEndpoint } from '../config/endpoints.ts';
import { credentialProblem } from '../credentials/shape.ts';
import { caBundleSetting, type CaBundle } from '../config/cabundle.ts';
import { VERSION } from '../util/version.ts';
import type { ClockHook } from '../clock/clock.ts';

export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface TempCredentials extends Required<AwsKeys> {
  expiration: Date;
  accountId?: string;
  arn?: string;
}

export interface StsTarget {
  region: string;
  endpoint: string | undefined;
  endpointFrom: string;
  /** AWS_CA_BUNDLE or the profile's ca_bundle (src/config/cabundle.ts); unset: Node's bundled roots. */
  caBundle?: CaBundle;
  /** Milliseconds to add to the local clock when signing (the measured clock offset). */
  clockOffsetMs?: number;
  /** The run's clock check (src/clock/clock.ts): sets clockOffsetMs before and after each call, sees every response's Date header. */
  clock?: ClockHook;
}

export interface AssumeRoleInput {
  roleArn: string;
  sessionName: string;
  durationSeconds: number;
  externalId?: string;
  serialNumber?: string;
  tokenCode?: string;
  sourceIdentity?: string;
  tags?: { Key: string; Value: string }[];
  transitiveTagKeys?: string[];
  policyArns?: string[];
}

export interface MfaInput {
  serialNumber: string;
  tokenCode: string;
}

// Bounds on one STS exchange: a dead or black-holed endpoint must end in seconds, not hang
// the AWS CLI that is waiting on keyrole.
const CONNECT_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 5000;
const TOTAL_TIMEOUT_MS = 12000;
const MAX_ATTEMPTS = 3;
// STS answers are a few KB.
const MAX_RESPONSE_BYTES = 256 * 1024;

export function endpointLabel(t: StsTarget): string {
  return t.endpoint ?? regionalStsEndpoint(t.region);
}

/** The region a call is signed for: the global endpoint signs for us-east-1. */
function signingRegion(t: StsTarget): string {
  return /^https:\/\/sts\.amazonaws\.com\/?$/.test(endpointLabel(t)) ? 'us-east-1' : t.region;
}

export type Sdk = typeof import('@aws-sdk/client-sts');
export type Client = InstanceType<Sdk['STSClient']>;

/** What the raw responses of one call said, for the error mapping. */
interface Seen {
  status?: number;
  /** X-Amzn-ErrorType, which other STS implementations set (moto, LocalStack). */
  errorType?: string;
}

function client(keys: AwsKeys, t: StsTarget, seen: Seen): { sts: Sdk; c: Client } {
  const sts = loadSdk('sts');
  const where = endpointLabel(t);
  const c = new sts.STSClient({
    region: signingRegion(t),
    // The endpoint is computed from the settings in one place (src/config/endpoints.ts), the
    // partition's, FIPS and dual-stack variants included; the SDK is given the result.
    endpoint: where,
    credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, sessionToken: keys.sessionToken },
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'standard',
    // Settings keyrole decides itself, given so the SDK does not look them up in the
    // environment and the config files on every miss.
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
    defaultsMode: 'standard',
    authSchemePreference: [],
    // Requests are signed on the corrected clock; the SDK corrects it further from the Date
    // header of a clock-skew error and retries once, as AWS's own clients do.
    systemClockOffset: t.clockOffsetMs ?? 0,
    customUserAgent: `keyrole/${VERSION}`,
    // A target built without settings (a test, doctor's environment check) still honours AWS_CA_BUNDLE.
    requestHandler: requestHandler({ url: where, connectTimeoutMs: CONNECT_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS, caBundle: t.caBundle ?? caBundleSetting(undefined) }),
  });
  // A 2xx answer that is not XML is not STS: a captive portal or a proxy's page (the SDK would
  // parse its HTML into an empty result). Said as such, not retried. And no answer may be
  // larger than MAX_RESPONSE_BYTES: the SDK would buffer an endless one until memory ran out.
  c.middlewareStack.add((next) => async (args) => {
    const out = await next(args);
    const res = out.response as { statusCode?: number; headers?: Record<string, string>; body?: unknown };
    const body = res.body as (import('node:stream').Readable & { destroy(): void }) | undefined;
    const type = res.headers?.['content-type'] ?? '';
    seen.status = res.statusCode;
    seen.errorType = res.headers?.['x-amzn-errortype'];
    const tooLarge = () => new KeyroleError('StsMalformed', `STS at ${where} sent an answer larger than ${MAX_RESPONSE_BYTES / 1024} KB, which no STS answer is`, `check the network path and the endpoint setting (${t.endpointFrom})`);
    if (res.statusCode !== undefined && res.statusCode < 300 && type && !/xml/i.test(type)) {
      body?.destroy?.();
      throw new KeyroleError('StsNotXml', `${where} answered with ${JSON.stringify(outsideText(type.split(';')[0], 60))} instead of STS's XML (a captive portal, a proxy or a wrong endpoint)`, `sign in to the network or fix the proxy, or check the endpoint setting (${t.endpointFrom})`);
    }
    if (Number(res.headers?.['content-length']) > MAX_RESPONSE_BYTES) {
      body?.destroy?.();
      throw tooLarge();
    }
    if (body && typeof body.pipe === 'function') {
      const { Transform } = process.getBuiltinModule('node:stream') as typeof import('node:stream');
      let size = 0;
      const limited = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            body.destroy();
            done(tooLarge());
          } else done(null, chunk);
        },
      });
      body.on('error', (err) => limited.destroy(err));
      res.body = body.pipe(limited);
    }
    return out;
  }, { step: 'deserialize', priority: 'low', name: 'keyroleResponseCheck' });
  // Innermost: sees each attempt's raw response, the ones the SDK then retries included.
  const clock = t.clock;
  if (clock) {
    c.middlewareStack.add((next) => async (args) => {
      const sentAt = Date.now();
      const out = await next(args);
      clock.onResponse(out.response, sentAt, Date.now(), where);
      return out;
    }, { step: 'deserialize', priority: 'low', name: 'keyroleClockDate' });
  }
  return { sts, c };
}

/** One STS operation: the clock check first, then the signed call; every failure mapped to one line. */
export async function call<T>(what: string, keys: AwsKeys, t: StsTarget, send: (sts: Sdk, c: Client, abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  // The clock check's NTP query (if due) is in flight while the SDK loads.
  const offset = t.clock?.begin();
  offset?.catch(() => { /* awaited below; handled here in case loading throws first */ });
  const started = performance.now();
  const seen: Seen = {};
  let made: { sts: Sdk; c: Client };
  try {
    loadSdk('sts');
    debug(`loaded @aws-sdk/client-sts in ${(performance.now() - started).toFixed(1)} ms`);
    if (offset) t.clockOffsetMs = await offset;
    made = client(keys, t, seen);
  } catch (err) {
    throw stsError(err, t, what);
  }
  debug(`STS ${what} at ${endpointLabel(t)} (endpoint from ${t.endpointFrom}, region ${t.region}) with key ${redactKeyId(keys.accessKeyId)}`);
  let out: T;
  try {
    out = await withoutNodeTlsOverride(() => send(made.sts, made.c, AbortSignal.timeout(TOTAL_TIMEOUT_MS)));
    debug(`STS ${what} answered in ${(performance.now() - started).toFixed(1)} ms`);
  } catch (err) {
    debug(`STS ${what} failed after ${(performance.now() - started).toFixed(1)} ms: ${outsideText((err as Error)?.name, 100)}: ${outsideText((err as Error)?.message)}`);
    const mapped = stsError(err, t, what, seen);
    throw t.clock ? t.clock.explain(mapped) : mapped;
  } finally {
    made.c.destroy();
  }
  if (t.clock) t.clockOffsetMs = t.clock.settle();
  return out;
}

function accountOf(arn: string | undefined): string | undefined {
  const account = arn?.split(':')[4];
  return account && /^\d{12}$/.test(account) ? account : undefined;
}

type SdkCredentials = { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date } | undefined;

/** The credentials of an answer, checked as they enter keyrole. */
export function temp(c: SdkCredentials, t: StsTarget, arn?: string): TempCredentials {
  const problem = credentialProblem({ accessKeyId: c?.AccessKeyId, secretAccessKey: c?.SecretAccessKey, sessionToken: c?.SessionToken, expiration: c?.Expiration });
  if (problem) {
    throw new KeyroleError('BadCredentials', `STS at ${endpointLabel(t)} answered with credentials keyrole will not use: ${problem}`, `retry; if it persists, check the endpoint setting (${t.endpointFrom})`);
  }
  const validArn = arn && /^arn:[\w+=,.@:/-]{1,2048}$/.test(arn) ? arn : undefined;
  return { accessKeyId: c!.AccessKeyId!, secretAccessKey: c!.SecretAccessKey!, sessionToken: c!.SessionToken!, expiration: c!.Expiration!, arn: validArn, accountId: accountOf(validArn) };
}

export async function assumeRole(keys: AwsKeys, t: StsTarget, input: AssumeRoleInput): Promise<TempCredentials> {
  const out = await call(`AssumeRole ${input.roleArn} for ${input.durationSeconds} s`, keys, t, (sts, c, abortSignal) =>
    c.send(new sts.AssumeRoleCommand({
      RoleArn: input.roleArn,
      RoleSessionName: input.sessionName,
      DurationSeconds: input.durationSeconds,
      ExternalId: input.externalId,
      SerialNumber: input.serialNumber,
      TokenCode: input.tokenCode,
      SourceIdentity: input.sourceIdentity,
      Tags: input.tags?.length ? input.tags : undefined,
      TransitiveTagKeys: input.transitiveTagKeys?.length ? input.transitiveTagKeys : undefined,
      PolicyArns: input.policyArns?.length ? input.policyArns.map((arn) => ({ arn })) : undefined,
    }), { abortSignal }));
  return temp(out.Credentials, t, out.AssumedRoleUser?.Arn);
}

export async function getSessionToken(keys: AwsKeys, t: StsTarget, durationSeconds: number, mfa?: MfaInput): Promise<TempCredentials> {
  const out = await call(`GetSessionToken for ${durationSeconds} s${mfa ? ` with MFA ${mfa.serialNumber}` : ''}`, keys, t, (sts, c, abortSignal) =>
    c.send(new sts.GetSessionTokenCommand({ DurationSeconds: durationSeconds, SerialNumber: mfa?.serialNumber, TokenCode: mfa?.tokenCode }), { abortSignal }));
  return temp(out.Credentials, t);
}

export interface Identity {
  account: string;
  arn: string;
  userId: string;
}

export async function getCallerIdentity(keys: AwsKeys, t: StsTarget): Promise<Identity> {
  const out = await call('GetCallerIdentity', keys, t, (sts, c, abortSignal) => c.send(new sts.GetCallerIdentityCommand({}), { abortSignal }));
  return { account: outsideText(out.Account ?? '', 20), arn: outsideText(out.Arn ?? '', 2048), userId: outsideText(out.UserId ?? '', 200) };
}

const CLOCK_FIX = 'sync the clock: Linux timedatectl set-ntp true; macOS sntp -sS time.apple.com; Windows w32tm /resync';

/** One line of cause and fix for every way an STS call fails. `seen`: what the raw responses said. */
export function stsError(err: unknown, t: StsTarget, what: string, seen: Seen = {}): KeyroleError {
  if (err instanceof KeyroleError) {
    // The SDK appends a hint about its hidden $response field to errors thrown while it reads a body.
    const m = oneLine(err.message.replace(/\s*Deserialization error:[\s\S]*$/, ''));
    err.message = m.length > 600 ? `${m.slice(0, 600)}…` : m;
    return err;
  }
  const f = readFailure(err);
  const where = endpointLabel(t);
  const unreachable = (detail: string) => new KeyroleError('StsUnreachable', `cannot reach STS at ${where} (${detail})`, `check the network, a proxy, or the endpoint setting (${t.endpointFrom})`);
  switch (f.kind) {
    case 'aborted': return unreachable(`no complete answer within ${TOTAL_TIMEOUT_MS / 1000} s`);
    case 'no-answer': return unreachable(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s of a request, ${TOTAL_TIMEOUT_MS / 1000} s in all`);
    case 'connect-timeout': return unreachable(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`);
    case 'network': return unreachable(f.message ? `${f.code}: ${f.message}` : f.code);
    case 'not-http':
      return new KeyroleError('StsUnreachable', `cannot reach STS at ${where}: the server there did not answer in HTTP (${f.message})`, `check the endpoint setting (${t.endpointFrom}) and any proxy`);
    case 'tls':
      return new KeyroleError('TlsUntrusted', `STS at ${where} presented a TLS certificate keyrole does not trust (${f.code}); nothing was sent`, 'if a proxy inspects TLS, point AWS_CA_BUNDLE or the profile\'s ca_bundle at its CA certificate; otherwise someone may be intercepting the connection');
    case 'service': break;
  }
  // The SDK could not read the answer: an error status without an AWS error in it, or broken XML.
  const status = f.status ?? seen.status;
  // Other STS implementations name the error in a header when the body does not.
  const code = /^(Unknown|UnknownError|Error)$/.test(f.code) && seen.errorType ? outsideText(seen.errorType.split(':')[0], 100) : f.code;
  // An error named only by its header has no message of its own.
  const msg = code !== f.code && /^(Unknown|UnknownError)$/.test(f.message) ? 'no message' : f.message;
  if (/XML parse error|Deserialization error|Unexpected end of|not valid JSON/i.test(msg) && !(status !== undefined && status >= 300)) {
    const detail = msg.replace(/^@aws-sdk\s*/, '').replace(/\s*Deserialization error:.*$/i, '').slice(0, 200) || 'unreadable';
    return new KeyroleError('StsMalformed', `STS at ${where} sent an answer keyrole cannot read (${detail})`, `retry; if it persists, check the network path and the endpoint setting (${t.endpointFrom})`);
  }
  switch (code) {
    case 'AccessDenied':
    case 'AccessDeniedException':
      if (/invalid MFA one time pass code/i.test(msg)) {
        return new KeyroleError('MfaCodeRejected', 'STS rejected the MFA code: it was wrong, or it was already used (STS accepts each code only once)', 'wait for the next code and try again');
      }
      if (/unable to validate MFA code|verify your MFA serial/i.test(msg)) {
        return new KeyroleError('MfaSerialInvalid', `STS does not know that MFA device for this user (${msg})`, 'check keyrole_mfa_serial: it is the ARN of the device assigned to the source user');
      }
      return new KeyroleError('AccessDenied', `STS denied ${what}: AccessDenied: ${msg}`, "check the role's trust policy and the source user's sts:AssumeRole permission (a role that requires MFA needs keyrole_mfa_serial)");
    case 'ExpiredToken':
    case 'ExpiredTokenException':
      return new KeyroleError('ExpiredToken', `STS says the security token is expired (${msg})`, 'run keyrole cache clear and retry; if it persists, check the system clock');
    case 'InvalidClientTokenId':
      return new KeyroleError('InvalidClientTokenId', `STS does not recognise the source's access key (${msg})`, 'the key was deleted, deactivated or mistyped: store a current one with keyrole setup <source> --force');
    case 'SignatureDoesNotMatch':
      if (/Signature expired|not yet current/i.test(msg)) {
        return new KeyroleError('ClockSkew', `STS rejected the request because this machine's clock is off by more than 15 minutes (${msg})`, CLOCK_FIX);
      }
      return new KeyroleError('SignatureDoesNotMatch', 'STS rejected the signature: the stored secret access key does not belong to the access key id', 'store the right pair with keyrole setup <source> --force');
    case 'ValidationError':
      if (/chaining/i.test(msg)) {
        return new KeyroleError('DurationTooLong', `STS refused the duration: ${msg}`, 'a role assumed with temporary credentials (another role\'s, a session\'s, even with MFA, or SSO\'s) lasts at most 3600 s: lower keyrole_duration_seconds to 3600 or below');
      }
      if (/MaxSessionDuration|DurationSeconds/i.test(msg)) {
        return new KeyroleError('DurationTooLong', `STS refused the duration: ${msg}`, "lower keyrole_duration_seconds in the profile, or raise the role's maximum session duration in IAM");
      }
      return new KeyroleError('ValidationError', `STS refused ${what}: ${msg}`, 'check the profile\'s keyrole_* settings');
    case 'RegionDisabledException':
      return new KeyroleError('RegionDisabled', `STS is not activated in region ${t.region} for this account (${msg})`, 'activate the region in IAM account settings, or set region to one that is active');
    case 'MalformedPolicyDocument':
    case 'MalformedPolicyDocumentException':
      return new KeyroleError('MalformedPolicyDocument', `STS refused the session policy or tags: ${msg}`, 'shorten or fix the policy and tags');
    case 'PackedPolicyTooLarge':
    case 'PackedPolicyTooLargeException':
      return new KeyroleError('PackedPolicyTooLarge', `STS refused the session policy or tags: ${msg}`, 'shorten or fix the policy and tags');
  }
  const failure = { ...f, code, status };
  if (isThrottling(failure)) {
    return new KeyroleError('StsThrottled', `STS is throttling ${what} (${msg}); keyrole tried ${MAX_ATTEMPTS} times, backing off between them`, 'wait a minute and retry');
  }
  const shown = `${code === 'Error' || code === 'Unknown' ? 'an error without a code' : code}${status ? ` (HTTP ${status})` : ''}`;
  if (isRefusal(failure)) {
    // A 4xx is AWS (or whatever answers there) saying no: never retried, never answered with cached credentials.
    return new KeyroleError('StsRefused', `STS refused ${what}: ${shown}: ${msg}`, `check the source's permissions and the endpoint setting (${t.endpointFrom})`);
  }
  return new KeyroleError('StsError', `STS ${what} failed: ${shown}: ${msg}`, `retry later; check the endpoint (${where})`);
}
