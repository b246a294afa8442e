// What the emulator's JSON and browser services share, so each rule is written once:
// IAM Identity Center (SSO-OIDC and the portal: emulator/sso.ts), AWS Sign-In
// (emulator/login.ts), the federation endpoint and stub console (emulator/signin.ts) and the
// test controls under /_emulator/ (emulator/control.ts and each service's own).
//   - the reply a service hands to emulator/server.ts, which sends it;
//   - a rest-json operation answered as AWS answers it: 200 and the result, or the error's
//     status, an `x-amzn-ErrorType` header and a JSON body, and the call recorded either
//     way (GET /_emulator/stats). Each service keeps its own error shapes: SSO-OIDC
//     {error, error_description}, the portal {message}, AWS Sign-In {error, message};
//   - a JSON request body, refused with the service's own error; a control's JSON body;
//   - each service's own state beside an EmulatorState, without touching its shape;
//   - the browser side of an OAuth authorization: HTML pages, redirects with parameters,
//     a parameter given twice, PKCE's S256 check (RFC 7636).
// By hand: the few lines these wire shapes need; node:http sends them (emulator/server.ts).

import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { EmulatorState } from './state.ts';
import { isoSeconds } from './sts.ts';

export interface Reply {
  status: number;
  contentType: string;
  headers: Record<string, string>;
  body: string;
  /** The x-amzn-RequestId header, where the service sends one (SSO). */
  requestId?: string;
}

/** A test control's answer: JSON and a newline. */
export const jsonReply = (status: number, body: unknown): Reply => ({ status, contentType: 'application/json', headers: {}, body: `${JSON.stringify(body)}\n` });

/** A rest-json service's refusal: its HTTP status, exception type (x-amzn-ErrorType) and body. */
export class JsonError extends Error {
  readonly status: number;
  readonly type: string;
  readonly body: Record<string, string>;
  /** What the record of the call (GET /_emulator/stats) names as its code: the type unless the service says otherwise. */
  readonly code: string;
  constructor(status: number, type: string, body: Record<string, string>, code = type) {
    super(code);
    this.status = status;
    this.type = type;
    this.body = body;
    this.code = code;
  }
}

/**
 * Runs one rest-json operation: 200 and what `run` returns, or the JsonError it threw (its
 * type, plus `typeSuffix`, in x-amzn-ErrorType). Anything else thrown is the emulator's own
 * fault and goes on up. The call is recorded as `action` either way.
 */
export function jsonOperation(state: EmulatorState, action: string, now: number, run: () => unknown, typeSuffix = ''): { reply: Reply; error?: JsonError } {
  let status = 200;
  let out: unknown;
  let error: JsonError | undefined;
  const headers: Record<string, string> = {};
  try {
    out = run();
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
    error = err;
    status = err.status;
    out = err.body;
    headers['x-amzn-ErrorType'] = `${err.type}${typeSuffix}`;
  }
  state.record({ action, accessKeyId: null, ok: status === 200, status, time: isoSeconds(now), ...(error && status !== 200 ? { code: error.code } : {}) });
  return { reply: { status, contentType: 'application/json', headers, body: JSON.stringify(out) }, ...(error ? { error } : {}) };
}

/** `raw` as a JSON object; the error `notJson` or `notObject` makes otherwise. */
function jsonObject(raw: Buffer, notJson: () => Error, notObject: () => Error): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch {
    throw notJson();
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw notObject();
  return v as Record<string, unknown>;
}

/**
 * A request body that must be a JSON object; `refuse` makes the service's own error for one
 * that is not JSON (`notJson`) or not an object.
 */
export function jsonBody(body: Buffer, refuse: (message: string, notJson: boolean) => Error): Record<string, unknown> {
  return jsonObject(body, () => refuse('The request body is not valid JSON', true), () => refuse('The request body must be a JSON object', false));
}

/** What a test control answers: a status and a JSON body (jsonReply sends it). */
export interface ControlResult {
  status: number;
  body: unknown;
}

/** A bad control request; its message is the 400's {error}. */
export class ControlError extends Error {}

/** A control's body: a JSON object, or none ({}). */
export function controlBody(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) return {};
  return jsonObject(raw, () => new ControlError('body is not valid JSON'), () => new ControlError('expected a JSON object'));
}

/** Runs a control on its body (a JSON object, or none: {}); a body that is neither is a 400 that says so. */
export function withControlBody(raw: Buffer, run: (o: Record<string, unknown>) => ControlResult): ControlResult {
  let o: Record<string, unknown>;
  try {
    o = controlBody(raw);
  } catch (err) {
    if (err instanceof ControlError) return { status: 400, body: { error: err.message } };
    throw err;
  }
  return run(o);
}

/** A service's own state for each EmulatorState (one emulator, one directory of SSO users, sign-ins…), made on first use. */
export function perEmulator<T>(make: () => T): (state: EmulatorState) => T {
  const states = new WeakMap<EmulatorState, T>();
  return (state) => {
    let s = states.get(state);
    if (!s) states.set(state, (s = make()));
    return s;
  };
}

/** A request header as one string (node:http gives an array only for set-cookie; the first of those). */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

// ---- the browser side of an authorization ----

/**
 * An authorization request (GET /authorize with PKCE) waiting on the Allow page, then the
 * code it was answered with: what the token call checks the code against.
 */
export interface AuthorizationRequest {
  id: string;
  clientId: string;
  redirectUri: string;
  state: string;
  challenge: string;
  code?: string;
  expiresAt: number;
  /** Set by the one token call that may redeem the code. */
  used: boolean;
}

export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Nothing about a sign-in is cached, and the pages' URLs (which carry state and codes) are
// never sent on as a Referer.
const PRIVATE = { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' };

/** An HTML page: the title as its heading, then `body` (already escaped). */
export const page = (status: number, title: string, body: string): Reply => ({
  status, contentType: 'text/html; charset=utf-8', headers: { ...PRIVATE },
  body: `<!DOCTYPE html><html><head><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1>${body}</body></html>\n`,
});

/** A 302 to `uri` with `params` set in its query (a redirect URI keeps its own query). */
export function redirect(uri: string, params: Record<string, string>): Reply {
  const u = new URL(uri);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return { status: 302, contentType: 'text/html; charset=utf-8', headers: { ...PRIVATE, Location: u.href }, body: '' };
}

/** The first query parameter given more than once (an authorization request must give each once). */
export function repeatedParam(q: URLSearchParams): string | undefined {
  return [...new Set(q.keys())].find((k) => q.getAll(k).length > 1);
}

/** A PKCE code challenge as S256 makes it (RFC 7636 4.2): 43 base64url characters. */
export const isChallenge = (s: string): boolean => /^[\w-]{43}$/.test(s);

/** Whether `verifier` is a PKCE code verifier (RFC 7636 4.1) whose S256 challenge is `challenge`. */
export function verifierMatches(verifier: string, challenge: string): boolean {
  return /^[A-Za-z0-9._~-]{43,128}$/.test(verifier) && createHash('sha256').update(verifier, 'ascii').digest('base64url') === challenge;
}
