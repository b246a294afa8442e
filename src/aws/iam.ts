// IAM access-key calls for `keyrole rotate`. @aws-sdk/client-iam lives in its own SDK
// bundle (src/aws/sdk.ts), loaded only when rotate runs.
//
// The endpoint is the configured one (src/config/endpoints.ts configuredEndpoint: the
// variables, the profile's `services` section, its endpoint_url), else the partition's IAM
// endpoint (iamHome).

import { KeyroleError, type ErrorCode } from '../util/errors.ts';
import { debug, redactKeyId } from '../util/debug.ts';
import { loadSdk } from './sdk.ts';
import { requestHandler, withoutNodeTlsOverride } from './http.ts';
import { readFailure, isRefusal, isThrottling, outsideText } from './failures.ts';
import type { CaBundle } from '../config/cabundle.ts';
import type { AwsFiles, Section } from '../config/files.ts';
import type { AwsKeys } from './sts.ts';
import { configuredEndpoint, DEFAULT_REGION, partition, regionalEndpoint } from '../config/endpoints.ts';

export interface IamTarget {
  region: string;
  endpoint: string | undefined;
  endpointFrom: string;
  /** AWS_CA_BUNDLE or the profile's ca_bundle (src/config/cabundle.ts). */
  caBundle?: CaBundle;
}

/**
 * IAM is one endpoint per partition, as the SDK's IAM endpoint rules give it: signed for
 * us-east-1 at iam.amazonaws.com, for cn-north-1 at iam.cn-north-1.amazonaws.com.cn, for
 * us-gov-west-1 at iam.us-gov.amazonaws.com; in the other partitions, the region's own
 * (iam.<region>.<DNS suffix>). The partition is src/config/endpoints.ts's.
 */
function iamHome(region: string | undefined): { region: string; url: string } {
  const r = region ?? DEFAULT_REGION;
  switch (partition(r).id) {
    case 'aws': return { region: 'us-east-1', url: 'https://iam.amazonaws.com' };
    case 'aws-cn': return { region: 'cn-north-1', url: 'https://iam.cn-north-1.amazonaws.com.cn' };
    case 'aws-us-gov': return { region: 'us-gov-west-1', url: 'https://iam.us-gov.amazonaws.com' };
    default: return { region: r, url: regionalEndpoint('iam', r) };
  }
}

/** The region IAM requests are signed for (iamHome). */
export function iamRegion(region: string | undefined): string {
  return iamHome(region).region;
}

export function resolveIamTarget(files: AwsFiles | undefined, profile: Section | undefined, region?: string, flag?: string): IamTarget {
  const home = iamHome(region);
  if (flag) return { region: home.region, endpoint: flag, endpointFrom: '--iam-endpoint-url' };
  const configured = configuredEndpoint(files, profile ?? {}, 'iam');
  if (configured) return { region: home.region, endpoint: configured.endpoint, endpointFrom: configured.from };
  return { region: home.region, endpoint: undefined, endpointFrom: `global (${home.url.slice('https://'.length)})` };
}

export function iamEndpointLabel(t: IamTarget): string {
  return t.endpoint ?? iamHome(t.region).url;
}

export interface AccessKeyInfo {
  accessKeyId: string;
  status: string;
  userName: string | undefined;
  created: Date | undefined;
}

export interface NewAccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  userName: string | undefined;
}

const CONNECT_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 8000;
const TOTAL_TIMEOUT_MS = 20000;

function client(keys: AwsKeys, t: IamTarget, maxAttempts = 3) {
  const iam = loadSdk('iam');
  const c = new iam.IAMClient({
    region: t.region,
    endpoint: t.endpoint,
    credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, sessionToken: keys.sessionToken },
    maxAttempts,
    requestHandler: requestHandler({ url: iamEndpointLabel(t), connectTimeoutMs: CONNECT_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS, caBundle: t.caBundle }),
  });
  return { iam, c };
}

async function send<T>(what: string, keys: AwsKeys, t: IamTarget, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = AbortSignal.timeout(TOTAL_TIMEOUT_MS);
  const started = performance.now();
  debug(`IAM ${what} at ${iamEndpointLabel(t)} (endpoint from ${t.endpointFrom}) with key ${redactKeyId(keys.accessKeyId)}`);
  try {
    const out = await withoutNodeTlsOverride(() => run(signal));
    debug(`IAM ${what} answered in ${(performance.now() - started).toFixed(1)} ms`);
    return out;
  } catch (err) {
    debug(`IAM ${what} failed after ${(performance.now() - started).toFixed(1)} ms: ${outsideText((err as Error)?.name, 100)}: ${outsideText((err as Error)?.message)}`);
    throw iamError(err, t, what);
  }
}

/** The caller's own access keys (no UserName: IAM answers for the user that signs). */
export async function listAccessKeys(keys: AwsKeys, t: IamTarget): Promise<AccessKeyInfo[]> {
  const { iam, c } = client(keys, t);
  const out = await send('ListAccessKeys', keys, t, (abortSignal) => c.send(new iam.ListAccessKeysCommand({}), { abortSignal }));
  return (out.AccessKeyMetadata ?? []).map((k) => ({ accessKeyId: k.AccessKeyId ?? '', status: k.Status ?? 'Active', userName: k.UserName, created: k.CreateDate }));
}

export async function createAccessKey(keys: AwsKeys, t: IamTarget): Promise<NewAccessKey> {
  // One attempt: a retried create whose first answer was lost makes a second key (and the
  // SDK counts IAM's LimitExceeded as throttling, which would only delay the same answer).
  const { iam, c } = client(keys, t, 1);
  const out = await send('CreateAccessKey', keys, t, (abortSignal) => c.send(new iam.CreateAccessKeyCommand({}), { abortSignal }));
  const k = out.AccessKey;
  if (!k?.AccessKeyId || !k.SecretAccessKey) throw new KeyroleError('IamMalformed', 'IAM answered CreateAccessKey without a complete key', `check IAM in the console for an unused new key of this user and delete it; check the IAM endpoint (${iamEndpointLabel(t)})`);
  return { accessKeyId: k.AccessKeyId, secretAccessKey: k.SecretAccessKey, userName: k.UserName };
}

export async function deleteAccessKey(keys: AwsKeys, t: IamTarget, accessKeyId: string): Promise<void> {
  const { iam, c } = client(keys, t);
  await send(`DeleteAccessKey ${redactKeyId(accessKeyId)}`, keys, t, (abortSignal) => c.send(new iam.DeleteAccessKeyCommand({ AccessKeyId: accessKeyId }), { abortSignal }));
}

const PERMISSIONS = 'the source user needs iam:ListAccessKeys, iam:CreateAccessKey and iam:DeleteAccessKey on itself (Resource arn:aws:iam::*:user/${aws:username})';

/**
 * IAM error codes (the SDK's exception names and the Query protocol's codes) to one line of
 * cause and fix. `{what}` is the call, `{msg}` IAM's own message, `{where}` the endpoint.
 */
export const IAM_ERRORS: Record<string, { code: ErrorCode; cause: string; fix: string }> = {
  AccessDenied: { code: 'IamAccessDenied', cause: 'IAM denied {what}: {msg}', fix: PERMISSIONS },
  LimitExceeded: { code: 'AccessKeyLimit', cause: 'IAM refused {what}: the user already has two access keys, the most IAM allows ({msg})', fix: 'delete the key that is not in use (aws iam list-access-keys shows both) and run keyrole rotate again' },
  NoSuchEntity: { code: 'IamNoSuchEntity', cause: 'IAM found nothing to act on for {what}: {msg}', fix: 'the key or user is already gone: run keyrole list and check the user in the IAM console' },
  InvalidClientTokenId: { code: 'InvalidClientTokenId', cause: "IAM does not recognise the source's access key ({msg})", fix: 'the key was deleted, deactivated or mistyped: store a current one with keyrole setup <source> --force' },
  SignatureDoesNotMatch: { code: 'SignatureDoesNotMatch', cause: 'IAM rejected the signature of {what}: the stored secret does not belong to the access key id, or the clock is off ({msg})', fix: 'store the right pair with keyrole setup <source> --force; check the clock with keyrole doctor' },
  ExpiredToken: { code: 'ExpiredToken', cause: 'IAM says the security token is expired ({msg})', fix: 'rotate signs with the long-term key: store it with keyrole setup <source> --force' },
  InvalidUserType: { code: 'IamInvalidUserType', cause: 'IAM cannot manage access keys for this kind of principal ({msg})', fix: 'rotate works on an IAM user\'s long-term key (AKIA…), not a role session' },
  ValidationError: { code: 'IamValidation', cause: 'IAM refused {what}: {msg}', fix: 'rotate works on an IAM user\'s long-term key (AKIA…), not a role or session key' },
  InvalidInput: { code: 'IamInvalidInput', cause: 'IAM refused {what} as invalid: {msg}', fix: 'check the source\'s access key id with keyrole list' },
  ConcurrentModification: { code: 'IamConcurrentModification', cause: 'IAM refused {what} because the user was being changed at the same moment ({msg})', fix: 'wait a few seconds and run keyrole rotate again' },
  EntityTemporarilyUnmodifiable: { code: 'IamTemporarilyUnmodifiable', cause: 'IAM cannot change the user right now ({msg})', fix: 'wait a minute and run keyrole rotate again' },
  ServiceFailure: { code: 'IamServiceFailure', cause: 'IAM failed {what} on its side ({msg})', fix: 'retry in a minute; the AWS Health Dashboard shows IAM incidents' },
  Throttling: { code: 'IamThrottled', cause: 'IAM throttled {what} ({msg})', fix: 'wait a minute and retry' },
};

/** The row of IAM_ERRORS for an error name: the SDK names a modelled error <Code>Exception, the Query protocol sends <Code>. */
function rowKey(name: string): string | undefined {
  const key = name.replace(/Exception$/, '');
  return Object.hasOwn(IAM_ERRORS, key) ? key : undefined;
}

/** One line of cause and fix for every way an IAM call fails. */
export function iamError(err: unknown, t: IamTarget, what: string): KeyroleError {
  if (err instanceof KeyroleError) return err;
  const f = readFailure(err);
  const msg = f.message;
  const where = iamEndpointLabel(t);
  if (f.kind === 'tls') {
    return new KeyroleError('TlsUntrusted', `IAM at ${where} presented a TLS certificate keyrole does not trust (${f.code}); nothing was sent`, 'if a proxy inspects TLS, point AWS_CA_BUNDLE or the profile\'s ca_bundle at its CA certificate; otherwise someone may be intercepting the connection');
  }
  if (f.kind !== 'service') {
    return new KeyroleError('IamUnreachable', `cannot reach IAM at ${where} (${f.code}: ${msg})`, `check the network, a proxy, or the IAM endpoint setting (${t.endpointFrom})`);
  }
  if (/Signature expired|not yet current/i.test(msg)) {
    return new KeyroleError('ClockSkew', `IAM rejected ${what} because this machine's clock is off by more than 15 minutes (${msg})`, 'sync the clock: Linux timedatectl set-ntp true; macOS sntp -sS time.apple.com; Windows w32tm /resync');
  }
  // The Query protocol's <Code> on a generic exception, when the SDK has no class for it.
  const queryCode = typeof (err as { Code?: unknown })?.Code === 'string' ? (err as { Code: string }).Code : '';
  // Any other throttling (the SDK's list: RequestLimitExceeded, SlowDown, HTTP 429…) reads as Throttling's row.
  const key = rowKey(f.code) ?? rowKey(queryCode) ?? (isThrottling(f) ? 'Throttling' : undefined);
  if (key) {
    const row = IAM_ERRORS[key];
    const fill = (s: string) => s.replace('{what}', what).replace('{msg}', msg).replace('{where}', where);
    return new KeyroleError(row.code, fill(row.cause), fill(row.fix));
  }
  const shown = `${f.code}${f.status ? ` (HTTP ${f.status})` : ''}`;
  if (isRefusal(f)) return new KeyroleError('IamRefused', `IAM refused ${what}: ${shown}: ${msg}`, `check the source user's IAM permissions and the IAM endpoint (${where})`);
  return new KeyroleError('IamError', `IAM ${what} failed: ${shown}: ${msg}`, `retry later; check the IAM endpoint (${where})`);
}
