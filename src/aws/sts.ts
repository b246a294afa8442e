// STS calls: what to ask and how each failure reads. The calls themselves go through
// src/aws/awsquery.ts (why not the SDK: said there), loaded only when one is about to be made,
// so a cache hit never pays for it.

import { KeyroleError, oneLine } from '../util/errors.ts';
import { debug, redactKeyId } from '../util/debug.ts';
import { loadQuery } from './sdk.ts';
import { regionalStsEndpoint } from '../config/endpoints.ts';
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
// STS answers are a few KB.
const MAX_RESPONSE_BYTES = 256 * 1024;

export function endpointLabel(t: StsTarget): string {
  return t.endpoint ?? regionalStsEndpoint(t.region);
}

const USER_AGENT = `keyrole/${VERSION} md/nodejs#${process.versions.node} os/${process.platform}`;

/** Where the call goes and the region it is signed for (the global endpoint signs for us-east-1). */
function target(t: StsTarget): { url: string; region: string } {
  const url = endpointLabel(t);
  return { url, region: /^https:\/\/sts\.amazonaws\.com\/?$/.test(url) ? 'us-east-1' : t.region };
}

/** One STS action: the clock check first, then the signed call; every failure mapped to one line. */
export async function call(what: string, keys: AwsKeys, t: StsTarget, params: Record<string, string | number | undefined>): Promise<Record<string, unknown>> {
  // The clock check's NTP query (if due) is in flight while the client loads.
  const offset = t.clock?.begin();
  offset?.catch(() => { /* awaited below; handled here in case loading throws first */ });
  const started = performance.now();
  const q = loadQuery();
  debug(`loaded the STS client in ${(performance.now() - started).toFixed(1)} ms`);
  if (offset) t.clockOffsetMs = await offset;
  const where = endpointLabel(t);
  const { url, region } = target(t);
  const clock = { offsetMs: t.clockOffsetMs ?? 0 };
  const flat: Record<string, string> = { Version: '2011-06-15' };
  for (const [k, v] of Object.entries(params)) if (v !== undefined) flat[k] = String(v);
  const signal = AbortSignal.timeout(TOTAL_TIMEOUT_MS);
  debug(`STS ${what} at ${where} (endpoint from ${t.endpointFrom}, region ${t.region}) with key ${redactKeyId(keys.accessKeyId)}`);
  let out: Record<string, unknown>;
  try {
    out = await q.queryCall({
      url, region, service: 'sts', params: flat, keys, userAgent: USER_AGENT, clock,
      maxAttempts: 3, connectTimeoutMs: CONNECT_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS, maxResponseBytes: MAX_RESPONSE_BYTES, signal,
      onResponse: t.clock ? (res, sentAt, receivedAt) => t.clock!.onResponse(res, sentAt, receivedAt, where) : undefined,
      log: (line) => debug(`STS ${line}`),
    });
    debug(`STS ${what} answered in ${(performance.now() - started).toFixed(1)} ms`);
  } catch (err) {
    debug(`STS ${what} failed after ${(performance.now() - started).toFixed(1)} ms: ${(err as Error).name}: ${oneLine(String((err as Error).message))}`);
    const mapped = stsError(err, t, what);
    throw t.clock ? t.clock.explain(mapped) : mapped;
  }
  if (t.clock) t.clockOffsetMs = t.clock.settle();
  return out;
}

export type Xml = Record<string, unknown> | undefined;
const text = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);

function accountOf(arn: string | undefined): string | undefined {
  return arn?.split(':')[4] || undefined;
}

export function temp(x: Xml, arn?: string): TempCredentials {
  const c = x?.Credentials as Xml;
  const expiration = new Date(text(c?.Expiration) ?? NaN);
  const [accessKeyId, secretAccessKey, sessionToken] = [text(c?.AccessKeyId), text(c?.SecretAccessKey), text(c?.SessionToken)];
  if (!accessKeyId || !secretAccessKey || !sessionToken || isNaN(expiration.getTime())) {
    throw new KeyroleError('StsMalformed', 'STS answered without complete credentials', 'retry; if it persists, check the STS endpoint setting');
  }
  return { accessKeyId, secretAccessKey, sessionToken, expiration, arn, accountId: accountOf(arn) };
}

/** The query protocol's list form: Name.member.1, Name.member.2… */
function members(name: string, items: string[] | undefined, field?: string): Record<string, string> {
  const out: Record<string, string> = {};
  items?.forEach((v, i) => { out[`${name}.member.${i + 1}${field ? `.${field}` : ''}`] = v; });
  return out;
}

export async function assumeRole(keys: AwsKeys, t: StsTarget, input: AssumeRoleInput): Promise<TempCredentials> {
  const out = await call(`AssumeRole ${input.roleArn} for ${input.durationSeconds} s`, keys, t, {
    Action: 'AssumeRole',
    RoleArn: input.roleArn,
    RoleSessionName: input.sessionName,
    DurationSeconds: input.durationSeconds,
    ExternalId: input.externalId,
    SerialNumber: input.serialNumber,
    TokenCode: input.tokenCode,
    SourceIdentity: input.sourceIdentity,
    ...members('Tags', input.tags?.map((x) => x.Key), 'Key'),
    ...members('Tags', input.tags?.map((x) => x.Value), 'Value'),
    ...members('TransitiveTagKeys', input.transitiveTagKeys),
    ...members('PolicyArns', input.policyArns, 'arn'),
  });
  return temp(out, text((out.AssumedRoleUser as Xml)?.Arn));
}

export async function getSessionToken(keys: AwsKeys, t: StsTarget, durationSeconds: number, mfa?: MfaInput): Promise<TempCredentials> {
  const out = await call(`GetSessionToken for ${durationSeconds} s${mfa ? ` with MFA ${mfa.serialNumber}` : ''}`, keys, t, {
    Action: 'GetSessionToken', DurationSeconds: durationSeconds, SerialNumber: mfa?.serialNumber, TokenCode: mfa?.tokenCode,
  });
  return temp(out);
}

export interface Identity {
  account: string;
  arn: string;
  userId: string;
}

export async function getCallerIdentity(keys: AwsKeys, t: StsTarget): Promise<Identity> {
  const out = await call('GetCallerIdentity', keys, t, { Action: 'GetCallerIdentity' });
  return { account: text(out.Account) ?? '', arn: text(out.Arn) ?? '', userId: text(out.UserId) ?? '' };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** One line of cause and fix for every way an STS call fails. */
export function stsError(err: unknown, t: StsTarget, what: string): KeyroleError {
  if (err instanceof KeyroleError) {
    const m = oneLine(err.message);
    err.message = m.length > 600 ? `${m.slice(0, 600)}…` : m;
    return err;
  }
  const e = (err ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; queryProblem?: string; contentType?: string };
  // A 2xx answer that is not XML is not STS: a captive portal or a proxy's page. Not retried.
  if (e.queryProblem === 'not-xml') {
    return new KeyroleError('StsNotXml', `${endpointLabel(t)} answered with ${JSON.stringify(oneLine(String(e.contentType).split(';')[0]).slice(0, 60))} instead of STS's XML (a captive portal, a proxy or a wrong endpoint)`, `sign in to the network or fix the proxy, or check the endpoint setting (${t.endpointFrom})`);
  }
  // No STS answer is anywhere near this large; reading an endless one would exhaust memory.
  if (e.queryProblem === 'too-large') {
    return new KeyroleError('StsMalformed', `STS at ${endpointLabel(t)} sent an answer larger than ${MAX_RESPONSE_BYTES / 1024} KB, which no STS answer is`, `check the network path and the endpoint setting (${t.endpointFrom})`);
  }
  // A hostile or broken endpoint chooses these texts: one line each, and not endless ones.
  const name = typeof e.name === 'string' ? oneLine(e.name).slice(0, 100) || 'Error' : 'Error';
  const code = typeof e.code === 'string' ? oneLine(e.code).slice(0, 100) : '';
  let text: string;
  try { text = typeof e.message === 'string' ? e.message : String(err); } catch { text = 'an error without a message'; }
  const full = oneLine(text);
  const msg = full.length > 400 ? `${full.slice(0, 400)}…` : full;
  const where = endpointLabel(t);
  // A connection made, then no complete answer in time.
  const silent = name === 'AbortError' ? `no complete answer within ${TOTAL_TIMEOUT_MS / 1000} s`
    : e.queryProblem === 'no-answer' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s of a request, ${TOTAL_TIMEOUT_MS / 1000} s in all` : undefined;
  if (silent) {
    return new KeyroleError('StsUnreachable', `cannot reach STS at ${where} (${silent})`, `check the network, a proxy, or the endpoint setting (${t.endpointFrom})`);
  }
  if (/^HPE_/.test(code)) {
    return new KeyroleError('StsUnreachable', `cannot reach STS at ${where}: the server there did not answer in HTTP (${msg})`, `check the endpoint setting (${t.endpointFrom}) and any proxy`);
  }
  if (NETWORK_CODES.has(code) || NETWORK_CODES.has(name) || name === 'TimeoutError' || /socket hang up|timed? ?out|ECONNREFUSED|ENOTFOUND|connect E/i.test(msg) && !e.$metadata?.httpStatusCode) {
    return new KeyroleError('StsUnreachable', `cannot reach STS at ${where} (${code || name}: ${msg})`, `check the network, a proxy, or the endpoint setting (${t.endpointFrom})`);
  }
  if (e.queryProblem === 'unreadable') {
    return new KeyroleError('StsMalformed', `STS at ${where} sent an answer keyrole cannot read (${msg.slice(0, 200) || 'unreadable'})`, `retry; if it persists, check the network path and the endpoint setting (${t.endpointFrom})`);
  }
  switch (name) {
    case 'AccessDenied':
    case 'AccessDeniedException':
      if (/invalid MFA one time pass code/i.test(msg)) {
        return new KeyroleError('MfaCodeRejected', 'STS rejected the MFA code: it was wrong, or it was already used (STS accepts each code only once)', 'wait for the next code and try again');
      }
      if (/unable to validate MFA code|verify your MFA serial/i.test(msg)) {
        return new KeyroleError('MfaSerialInvalid', `STS does not know that MFA device for this user (${msg})`, 'check keyrole_mfa_serial: it is the ARN of the device assigned to the source user');
      }
      return new KeyroleError('AccessDenied', `STS denied ${what}: ${msg}`, "check the role's trust policy and the source user's sts:AssumeRole permission (a role that requires MFA needs keyrole_mfa_serial)");
    case 'ExpiredToken':
    case 'ExpiredTokenException':
      return new KeyroleError('ExpiredToken', `STS says the security token is expired (${msg})`, 'run keyrole cache clear and retry; if it persists, check the system clock');
    case 'InvalidClientTokenId':
      return new KeyroleError('InvalidClientTokenId', `STS does not recognise the source's access key (${msg})`, 'the key was deleted, deactivated or mistyped: store a current one with keyrole setup <source> --force');
    case 'SignatureDoesNotMatch':
      if (/Signature expired|not yet current/i.test(msg)) {
        return new KeyroleError('ClockSkew', `STS rejected the request because this machine's clock is off by more than 15 minutes (${msg})`, 'sync the clock: Linux timedatectl set-ntp true; macOS sntp -sS time.apple.com; Windows w32tm /resync');
      }
      return new KeyroleError('SignatureDoesNotMatch', 'STS rejected the signature: the stored secret access key does not belong to the access key id', 'store the right pair with keyrole setup <source> --force');
    case 'ValidationError':
      if (/chaining/i.test(msg)) {
        return new KeyroleError('DurationTooLong', `STS refused the duration: ${msg}`, 'a role assumed with another role\'s credentials lasts at most 3600 s: lower keyrole_duration_seconds');
      }
      if (/MaxSessionDuration|DurationSeconds/i.test(msg)) {
        return new KeyroleError('DurationTooLong', `STS refused the duration: ${msg}`, "lower keyrole_duration_seconds in the profile, or raise the role's maximum session duration in IAM");
      }
      return new KeyroleError('ValidationError', `STS refused ${what}: ${msg}`, 'check the profile\'s keyrole_* settings');
    case 'Throttling':
    case 'ThrottlingException':
    case 'RequestLimitExceeded':
    case 'TooManyRequestsException':
      return new KeyroleError('StsThrottled', `STS is throttling ${what} (${msg}); keyrole tried 3 times, backing off between them`, 'wait a minute and retry');
    case 'RegionDisabledException':
      return new KeyroleError('RegionDisabled', `STS is not activated in region ${t.region} for this account (${msg})`, 'activate the region in IAM account settings, or set region to one that is active');
    case 'MalformedPolicyDocument':
    case 'PackedPolicyTooLarge':
      return new KeyroleError(name, `STS refused the session policy or tags: ${msg}`, 'shorten or fix the policy and tags');
    default: {
      const status = e.$metadata?.httpStatusCode;
      return new KeyroleError('StsError', `STS ${what} failed: ${name}${status ? ` (HTTP ${status})` : ''}: ${msg}`, `retry later; check the endpoint (${where})`);
    }
  }
}
