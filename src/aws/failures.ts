// How a call to AWS failed, read one way for every client (STS, SSO, SSO-OIDC, IAM): the
// network (no connection, a reset, no answer in time, a server that does not speak HTTP,
// a certificate keyrole does not trust) or the service (an HTTP status and an error code).
// Each client then says it in its own words (sts.ts, iam.ts, sso.ts); what is transient
// follows from the kind and the status, never from matching message texts of AWS.

import { printable } from '../util/printable.ts';

export type FailureKind =
  /** No connection, or it broke: refused, reset, DNS, unreachable. */
  | 'network'
  /** No connection within the connect bound. */
  | 'connect-timeout'
  /** A connection, then no (complete) answer within the per-attempt bound. */
  | 'no-answer'
  /** The whole exchange's bound ran out (all attempts). */
  | 'aborted'
  /** The server answered, but not in HTTP. */
  | 'not-http'
  /** The endpoint's TLS certificate is not trusted (or not for that name). */
  | 'tls'
  /** An HTTP answer with an error status, or an error the service named. */
  | 'service';

export interface Failure {
  kind: FailureKind;
  /** The service's error code (the SDK's exception name), or Node's error code for the network kinds. */
  code: string;
  /** HTTP status, for 'service'. */
  status?: number;
  /** Printable, one line, at most 400 characters: a hostile endpoint chooses these texts. */
  message: string;
}

// Node's and libuv's codes for a connection that could not be made or broke.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ETIMEDOUT', 'ECONNRESET', 'ECONNABORTED', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'EPIPE', 'ERR_SOCKET_CLOSED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_PROXY_TUNNEL']);
// OpenSSL's verification failures as Node reports them, and a certificate for another name.
const TLS_CODES = /^(UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|ERR_SSL_)/;

/** Outside text made safe for one terminal line, at most `max` characters. */
export function outsideText(x: unknown, max = 400): string {
  let s: string;
  try { s = typeof x === 'string' ? x : String(x); } catch { s = 'an error without a message'; }
  const line = printable(s).replace(/\s{2,}/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** What an SDK (or Node) error says about how the call failed. */
export function readFailure(err: unknown): Failure {
  const e = (err ?? {}) as { name?: unknown; code?: unknown; message?: unknown; error?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const name = typeof e.name === 'string' ? outsideText(e.name, 100) || 'Error' : 'Error';
  const code = typeof e.code === 'string' ? outsideText(e.code, 100) : '';
  let text: unknown;
  try { text = typeof e.message === 'string' ? e.message : err; } catch { text = undefined; }
  const message = outsideText(text);
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  if (status !== undefined) return { kind: 'service', code: name, status, message };
  // The SDK's handler names its own bounds in its messages (@smithy/node-http-handler).
  if (name === 'AbortError') return { kind: 'aborted', code: name, message };
  if (/requestTimeout|timed out after \d+ ms of inactivity/.test(message)) return { kind: 'no-answer', code: name, message };
  if (/did not establish a connection/.test(message)) return { kind: 'connect-timeout', code: name, message };
  if (/^HPE_/.test(code)) return { kind: 'not-http', code, message };
  if (TLS_CODES.test(code)) return { kind: 'tls', code, message };
  // The handler names a reset a TimeoutError: the code says what happened.
  if (NETWORK_CODES.has(code)) return { kind: 'network', code, message };
  if (NETWORK_CODES.has(name) || name === 'TimeoutError') return { kind: 'network', code: name, message };
  if (typeof e.error === 'string' && e.error) return { kind: 'service', code: outsideText(e.error, 100), message };
  // An SDK service exception always has $metadata; anything else with an AWS-looking name
  // (tests, other clients) is read as the service's code.
  return { kind: 'service', code: name, message };
}

// @smithy/service-error-classification's throttling codes (and HTTP 429).
const THROTTLING = new Set(['BandwidthLimitExceeded', 'EC2ThrottledException', 'LimitExceededException', 'PriorRequestNotComplete', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded', 'RequestThrottled', 'RequestThrottledException', 'SlowDown', 'SlowDownException', 'ThrottledException', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'TransactionInProgressException']);

export function isThrottling(f: Failure): boolean {
  return f.kind === 'service' && (THROTTLING.has(f.code) || f.status === 429);
}

/**
 * A refusal: the service answered 4xx (and it is not throttling). Never transient: AWS said
 * no, and old credentials must not be served instead.
 */
export function isRefusal(f: Failure): boolean {
  return f.kind === 'service' && f.status !== undefined && f.status >= 400 && f.status < 500 && !isThrottling(f);
}
