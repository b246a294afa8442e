// STS calls. @aws-sdk/client-sts is imported only here and only when a call is about to
// be made, so a cache hit never pays for loading the SDK.

import { KeyroleError, oneLine } from './errors.ts';
import { debug, redactKeyId } from './debug.ts';
import { loadSts } from './sdk.ts';
import type { ClockHook } from './clock.ts';

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
  /** The run's clock check (src/clock.ts): sets clockOffsetMs before and after each call, sees every response's Date header. */
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
  return t.endpoint ?? `https://sts.${t.region}.amazonaws.com`;
}

async function client(keys: AwsKeys, t: StsTarget) {
  // The SDK warns on stderr about old Node versions; stderr is the user's error channel.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // The clock check's NTP query (if due) is in flight while the SDK loads.
  const offset = t.clock?.begin();
  offset?.catch(() => { /* awaited below; handled here in case loading the SDK throws first */ });
  const started = performance.now();
  const sts = loadSts();
  debug(`loaded @aws-sdk/client-sts in ${(performance.now() - started).toFixed(1)} ms`);
  if (offset) t.clockOffsetMs = await offset;
  const c = new sts.STSClient({
    region: t.region,
    endpoint: t.endpoint,
    credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, sessionToken: keys.sessionToken },
    maxAttempts: 3,
    systemClockOffset: t.clockOffsetMs ?? 0,
    // requestTimeout only warns unless throwOnRequestTimeout is set (smithy 4.x), and it ends
    // at the response headers; socketTimeout bounds a body that stalls after them.
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true, socketTimeout: REQUEST_TIMEOUT_MS },
  });
  // A 2xx answer that is not XML is not STS: a captive portal or a proxy's page (the SDK would
  // parse its HTML into an empty result). Said as such, not retried. And no answer may be
  // larger than MAX_RESPONSE_BYTES: the SDK would buffer an endless one until memory ran out.
  c.middlewareStack.add((next) => async (args) => {
    const out = await next(args);
    const res = out.response as { statusCode?: number; headers?: Record<string, string>; body?: unknown };
    const body = res.body as (import('node:stream').Readable & { destroy(): void }) | undefined;
    const type = res.headers?.['content-type'] ?? '';
    const tooLarge = () => new KeyroleError('StsMalformed', `STS at ${endpointLabel(t)} sent an answer larger than ${MAX_RESPONSE_BYTES / 1024} KB, which no STS answer is`, `check the network path and the endpoint setting (${t.endpointFrom})`);
    if (res.statusCode !== undefined && res.statusCode < 300 && type && !/xml/i.test(type)) {
      body?.destroy?.();
      throw new KeyroleError('StsNotXml', `${endpointLabel(t)} answered with ${JSON.stringify(oneLine(type.split(';')[0]).slice(0, 60))} instead of STS's XML (a captive portal, a proxy or a wrong endpoint)`, `sign in to the network or fix the proxy, or check the endpoint setting (${t.endpointFrom})`);
    }
    if (Number(res.headers?.['content-length']) > MAX_RESPONSE_BYTES) {
      body?.destroy?.();
      throw tooLarge();
    }
    if (body && typeof body.pipe === 'function') {
      const { Transform } = await import('node:stream');
      let seen = 0;
      const limited = new Transform({
        transform(chunk: Buffer, _enc, done) {
          seen += chunk.length;
          if (seen > MAX_RESPONSE_BYTES) {
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
      clock.onResponse(out.response, sentAt, Date.now(), endpointLabel(t));
      return out;
    }, { step: 'deserialize', priority: 'low', name: 'keyroleClockDate' });
  }
  return { sts, c };
}

async function send<T>(what: string, keys: AwsKeys, t: StsTarget, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = AbortSignal.timeout(TOTAL_TIMEOUT_MS);
  const started = performance.now();
  debug(`STS ${what} at ${endpointLabel(t)} (endpoint from ${t.endpointFrom}, region ${t.region}) with key ${redactKeyId(keys.accessKeyId)}`);
  let out: T;
  try {
    out = await run(signal);
    debug(`STS ${what} answered in ${(performance.now() - started).toFixed(1)} ms`);
  } catch (err) {
    debug(`STS ${what} failed after ${(performance.now() - started).toFixed(1)} ms: ${(err as Error).name}: ${oneLine(String((err as Error).message))}`);
    throw t.clock ? t.clock.explain(stsError(err, t, what)) : stsError(err, t, what);
  }
  if (t.clock) t.clockOffsetMs = t.clock.settle();
  return out;
}

function accountOf(arn: string | undefined): string | undefined {
  return arn?.split(':')[4] || undefined;
}

function temp(c: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date } | undefined, arn?: string): TempCredentials {
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !(c.Expiration instanceof Date) || isNaN(c.Expiration.getTime())) {
    throw new KeyroleError('StsMalformed', 'STS answered without complete credentials', 'retry; if it persists, check the STS endpoint setting');
  }
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration, arn, accountId: accountOf(arn) };
}

export async function assumeRole(keys: AwsKeys, t: StsTarget, input: AssumeRoleInput): Promise<TempCredentials> {
  const { sts, c } = await client(keys, t);
  const out = await send(`AssumeRole ${input.roleArn} for ${input.durationSeconds} s`, keys, t, (abortSignal) =>
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
  return temp(out.Credentials, out.AssumedRoleUser?.Arn);
}

export async function getSessionToken(keys: AwsKeys, t: StsTarget, durationSeconds: number, mfa?: MfaInput): Promise<TempCredentials> {
  const { sts, c } = await client(keys, t);
  const out = await send(`GetSessionToken for ${durationSeconds} s${mfa ? ` with MFA ${mfa.serialNumber}` : ''}`, keys, t, (abortSignal) =>
    c.send(new sts.GetSessionTokenCommand({ DurationSeconds: durationSeconds, SerialNumber: mfa?.serialNumber, TokenCode: mfa?.tokenCode }), { abortSignal }));
  return temp(out.Credentials);
}

export interface Identity {
  account: string;
  arn: string;
  userId: string;
}

export async function getCallerIdentity(keys: AwsKeys, t: StsTarget): Promise<Identity> {
  const { sts, c } = await client(keys, t);
  const out = await send('GetCallerIdentity', keys, t, (abortSignal) => c.send(new sts.GetCallerIdentityCommand({}), { abortSignal }));
  return { account: out.Account ?? '', arn: out.Arn ?? '', userId: out.UserId ?? '' };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** One line of cause and fix for every way an STS call fails. */
export function stsError(err: unknown, t: StsTarget, what: string): KeyroleError {
  if (err instanceof KeyroleError) {
    // The SDK appends a hint about its hidden $response field to errors thrown while it reads a body.
    const m = oneLine(err.message.replace(/\s*Deserialization error:[\s\S]*$/, ''));
    err.message = m.length > 600 ? `${m.slice(0, 600)}…` : m;
    return err;
  }
  const e = (err ?? {}) as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  // A hostile or broken endpoint chooses these texts: one line each, and not endless ones.
  const name = typeof e.name === 'string' ? oneLine(e.name).slice(0, 100) || 'Error' : 'Error';
  const code = typeof e.code === 'string' ? oneLine(e.code).slice(0, 100) : '';
  let text: string;
  try { text = typeof e.message === 'string' ? e.message : String(err); } catch { text = 'an error without a message'; }
  const full = oneLine(text);
  const msg = full.length > 400 ? `${full.slice(0, 400)}…` : full;
  const where = endpointLabel(t);
  // A connection made, then no complete answer in time (the SDK names a reset a TimeoutError too).
  const silent = name === 'AbortError' ? `no complete answer within ${TOTAL_TIMEOUT_MS / 1000} s`
    : /requestTimeout|timed out after \d+ ms of inactivity/.test(msg) ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s of a request, ${TOTAL_TIMEOUT_MS / 1000} s in all` : undefined;
  if (silent) {
    return new KeyroleError('StsUnreachable', `cannot reach STS at ${where} (${silent})`, `check the network, a proxy, or the endpoint setting (${t.endpointFrom})`);
  }
  if (/^HPE_/.test(code)) {
    return new KeyroleError('StsUnreachable', `cannot reach STS at ${where}: the server there did not answer in HTTP (${msg})`, `check the endpoint setting (${t.endpointFrom}) and any proxy`);
  }
  if (NETWORK_CODES.has(code) || NETWORK_CODES.has(name) || name === 'TimeoutError' || /socket hang up|timed? ?out|ECONNREFUSED|ENOTFOUND|connect E/i.test(msg) && !e.$metadata?.httpStatusCode) {
    return new KeyroleError('StsUnreachable', `cannot reach STS at ${where} (${code || name}: ${msg})`, `check the network, a proxy, or the endpoint setting (${t.endpointFrom})`);
  }
  if (/Deserialization error|XML parse error|Unexpected end of|not valid JSON/i.test(msg)) {
    // The SDK appends advice about a hidden $response field that means nothing to a user.
    const what = msg.replace(/^@aws-sdk\s*/, '').replace(/\s*Deserialization error:.*$/i, '').slice(0, 200) || 'unreadable';
    return new KeyroleError('StsMalformed', `STS at ${where} sent an answer keyrole cannot read (${what})`, `retry; if it persists, check the network path and the endpoint setting (${t.endpointFrom})`);
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
