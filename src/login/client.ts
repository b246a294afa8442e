// AWS Sign-In's CreateOAuth2Token (`POST <base>/v1/token`, service `signin`, rest-json,
// unsigned, a DPoP proof on every call): where it is, the one bounded exchange, and one
// line of cause and fix for each way it fails.
//
// Why not the SDK's SigninClient: it ships only in @aws-sdk/nested-clients, which the SDK
// marks for its own internal use (no stable API promised), and the SDK's own login provider
// still builds the DPoP proof by hand around it. One JSON POST through keyrole's connections
// (src/aws/http.ts: proxies, AWS_CA_BUNDLE / ca_bundle, Node's TLS overrides ignored) is
// less to depend on.
// Where the calls go is src/login/endpoint.ts's to say.

import { KeyroleError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';
import { debug } from '../util/debug.ts';
import { boundedRequest, withoutNodeTlsOverride } from '../aws/http.ts';
import type { CaBundle } from '../config/cabundle.ts';
import { dpopProof } from './dpop.ts';

export const SAME_DEVICE_CLIENT = 'arn:aws:signin:::devtools/same-device';
export const CROSS_DEVICE_CLIENT = 'arn:aws:signin:::devtools/cross-device';

const TIMEOUT_MS = 12_000;
const MAX_ANSWER_BYTES = 64 * 1024;

export type TokenInput =
  | { clientId: string; grantType: 'authorization_code'; code: string; codeVerifier: string; redirectUri: string }
  | { clientId: string; grantType: 'refresh_token'; refreshToken: string };

export interface TokenAnswer {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** Epoch ms. */
  expiresAt: number;
  refreshToken: string;
  idToken?: string;
}

/** The one line for each refusal; `profile` names the profile to sign in again. */
function refusal(status: number, type: string, error: string, profile: string): KeyroleError {
  const again = `run: keyrole login ${profile}`;
  switch (error) {
    case 'TOKEN_EXPIRED':
      return new KeyroleError('LoginExpired', `the AWS Sign-In session of profile ${profile} has ended (sessions last at most 12 hours)`, again);
    case 'AUTHCODE_EXPIRED':
      return new KeyroleError('LoginExpired', 'the sign-in took too long and its code expired', again);
    case 'USER_CREDENTIALS_CHANGED':
      return new KeyroleError('LoginCredentialsChanged', `the AWS Sign-In session of profile ${profile} ended because the password changed`, again);
    case 'INSUFFICIENT_PERMISSIONS':
      return new KeyroleError('LoginNotPermitted', `AWS Sign-In refused to refresh profile ${profile}: the identity may not call signin:CreateOAuth2Token`, 'attach the managed policy SignInLocalDevelopmentAccess to the user or role, then run: keyrole login ' + profile);
    default:
      if (status === 429 || type === 'TooManyRequestsError') return new KeyroleError('LoginThrottled', 'AWS Sign-In is throttling requests', 'try again in a minute');
      if (status >= 500) return new KeyroleError('LoginServiceError', `AWS Sign-In failed (HTTP ${status}${type ? ` ${printable(type)}` : ''})`, 'try again later');
      return new KeyroleError('LoginRefused', `AWS Sign-In refused the request (${printable(type || `HTTP ${status}`)}${error ? `: ${printable(error).slice(0, 80)}` : ''})`, again);
  }
}

/** CreateOAuth2Token, with a proof signed by `dpopKey`. */
export async function createOAuth2Token(endpoint: string, input: TokenInput, dpopKey: string, profile: string, caBundle?: CaBundle): Promise<TokenAnswer> {
  const url = `${endpoint}/v1/token`;
  const where = new URL(url).host;
  const started = performance.now();
  let answer: { status: number; headers: import('node:http').IncomingHttpHeaders; body: string };
  try {
    answer = await withoutNodeTlsOverride(() => boundedRequest(url, {
      method: 'POST', body: JSON.stringify(input), timeoutMs: TIMEOUT_MS, maxBytes: MAX_ANSWER_BYTES, caBundle,
      headers: { 'content-type': 'application/json', accept: 'application/json', dpop: dpopProof(dpopKey, url) },
    }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS / 1000} s` : e.name === 'TooLarge' ? 'an answer too large' : printable(String(e.code ?? e.name ?? 'error'));
    throw new KeyroleError('LoginUnreachable', `cannot reach AWS Sign-In at ${where} (${why})`, 'check the network or a proxy, and AWS_ENDPOINT_URL_SIGNIN if set');
  }
  debug(`AWS Sign-In ${where} answered CreateOAuth2Token (${input.grantType}) with HTTP ${answer.status} in ${(performance.now() - started).toFixed(1)} ms`);
  let o: Record<string, unknown> = {};
  try {
    const v = JSON.parse(answer.body) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) o = v as Record<string, unknown>;
  } catch { /* judged below */ }
  const type = String(answer.headers['x-amzn-errortype'] ?? '').split(':')[0] ?? '';
  if (answer.status !== 200) throw refusal(answer.status, type, typeof o.error === 'string' ? o.error : '', profile);
  const at = o.accessToken as Record<string, unknown> | undefined;
  const ok = (v: unknown, re: RegExp) => typeof v === 'string' && re.test(v);
  if (!at || !ok(at.accessKeyId, /^ASIA[A-Z0-9]{12,124}$/) || !ok(at.secretAccessKey, /^\S{16,128}$/) || !ok(at.sessionToken, /^\S{16,8192}$/)
    || !ok(o.refreshToken, /^\S{1,8192}$/) || typeof o.expiresIn !== 'number' || !(o.expiresIn > 0 && o.expiresIn <= 43200)) {
    throw new KeyroleError('LoginMalformed', `AWS Sign-In at ${where} answered CreateOAuth2Token with something that is not a token`, 'check AWS_ENDPOINT_URL_SIGNIN or the proxy');
  }
  return {
    accessKeyId: at.accessKeyId as string, secretAccessKey: at.secretAccessKey as string, sessionToken: at.sessionToken as string,
    expiresAt: Date.now() + o.expiresIn * 1000, refreshToken: o.refreshToken as string,
    ...(typeof o.idToken === 'string' ? { idToken: o.idToken } : {}),
  };
}
