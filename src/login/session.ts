// An AWS Sign-In session (`aws login`, AWS CLI 2.32+) in keyrole: signing in (the same-device
// flow in the browser with PKCE and a loopback redirect, or the cross-device flow for a
// browser elsewhere, whose verification text the person pastes), and refreshing it for a
// profile's credentials. The refresh token rotates with every refresh, so the new one is
// kept before the credentials are handed on; the caller holds the layer's single-flight lock
// (src/credentials/cached.ts), so parallel callers make one refresh.

import { randomUUID } from 'node:crypto';
import { KeyroleError } from '../util/errors.ts';
import { debug, redactKeyId } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { openPrivately } from '../util/pagefile.ts';
import type { CaBundle } from '../config/cabundle.ts';
import type { TempCredentials } from '../aws/sts.ts';
import { codeChallenge, codeVerifier, sameSecret } from '../sso/pkce.ts';
import { startLoopback } from '../sso/loopback.ts';
import { loginTimeoutMs } from '../sso/authcode.ts';
import { terminalScreen, type Screen } from '../sso/screen.ts';
import { chooseFlow } from '../sso/flow.ts';
import { CROSS_DEVICE_CLIENT, SAME_DEVICE_CLIENT, createOAuth2Token, type TokenAnswer } from './client.ts';
import { newDpopKey } from './dpop.ts';
import { readRecord, writeRecord, type LoginRecord } from './record.ts';
import { LOGIN_SESSION_ARN, type LoginRef } from './endpoint.ts';

export interface Target { region: string; endpoint: string; caBundle: CaBundle | undefined }

/** The /v1/authorize URL, with the parameters the AWS CLI sends. */
export function authorizeUrl(endpoint: string, p: { clientId: string; redirectUri: string; state: string; challenge: string }): string {
  const q = new URLSearchParams({
    response_type: 'code', client_id: p.clientId, state: p.state, code_challenge_method: 'SHA-256',
    scope: 'openid', redirect_uri: p.redirectUri, code_challenge: p.challenge,
  });
  return `${endpoint}/v1/authorize?${q}`;
}

/** The session ARN the ID token names (its `sub`), checked. */
export function sessionOf(idToken: string | undefined): string {
  let sub: unknown;
  try {
    sub = (JSON.parse(Buffer.from((idToken ?? '').split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown }).sub;
  } catch { /* judged below */ }
  if (typeof sub !== 'string' || !LOGIN_SESSION_ARN.test(sub)) {
    throw new KeyroleError('LoginMalformed', 'AWS Sign-In answered the sign-in without an ID token that names the session', 'try keyrole login again; check AWS_ENDPOINT_URL_SIGNIN if set');
  }
  return sub;
}

/** The cross-device verification text: base64 of `state=…&code=…`, checked against the state sent. */
export function parseVerification(text: string, state: string): string {
  let p: URLSearchParams;
  try {
    p = new URLSearchParams(Buffer.from(text.trim(), 'base64').toString('utf8'));
  } catch {
    p = new URLSearchParams();
  }
  const code = p.get('code');
  if (!code || !/^[\x21-\x7e]{1,2048}$/.test(code) || !sameSecret(p.get('state'), state)) {
    throw new KeyroleError('LoginDenied', 'that is not the verification code of this sign-in', 'run keyrole login --remote again and paste the code the browser shows at its end');
  }
  return code;
}

export interface SignedIn { record: LoginRecord; answer: TokenAnswer }

/**
 * One sign-in. `remote`: the cross-device flow (needs `ask` for the pasted text); else the
 * browser on this machine, opened when `open`, its URL printed otherwise.
 */
export async function signIn(t: Target, o: { profile: string; screen: Screen; remote: boolean; open: boolean; ask?: (q: string) => Promise<string> }): Promise<SignedIn> {
  const verifier = codeVerifier();
  const state = randomUUID();
  const dpopKey = newDpopKey();
  let grant: { clientId: string; code: string; redirectUri: string };
  if (o.remote) {
    if (!o.ask) throw new KeyroleError('NoTerminal', 'keyrole login --remote needs a terminal to paste the verification code into', 'run it in a terminal');
    const redirectUri = `${t.endpoint}/v1/sessions/confirmation`;
    const url = authorizeUrl(t.endpoint, { clientId: CROSS_DEVICE_CLIENT, redirectUri, state, challenge: codeChallenge(verifier) });
    o.screen.write(`\nSign in to AWS (profile ${printable(o.profile)}) in a browser on any device:\n  ${url}\nThen paste the verification code the browser shows.\n`);
    const code = parseVerification(await o.ask('Verification code: '), state);
    grant = { clientId: CROSS_DEVICE_CLIENT, code, redirectUri };
  } else {
    const listener = await startLoopback({ state, timeoutMs: loginTimeoutMs() });
    try {
      const url = authorizeUrl(t.endpoint, { clientId: SAME_DEVICE_CLIENT, redirectUri: listener.redirectUri, state, challenge: codeChallenge(verifier) });
      o.screen.write(`\nSign in to AWS (profile ${printable(o.profile)}) in the browser.\n`);
      // A page file, not the URL: its state and port on a browser's argv would let another
      // local user abort the sign-in or complete it with an approval of their own.
      const opened = o.open && await openPrivately(url, { dir: 'login', lapseMs: loginTimeoutMs(), title: 'Signing in to AWS' });
      o.screen.write(opened ? '  A browser tab was opened; sign in there.\n' : `  Open this URL in a browser on this machine (it comes back to 127.0.0.1):\n  ${url}\n`);
      const cb = await listener.callback.catch((err: Error) => {
        throw err instanceof KeyroleError ? err : new KeyroleError('LoginDenied', `the sign-in was not approved (${printable(err.message).slice(0, 200)})`, 'run keyrole login again');
      });
      grant = { clientId: SAME_DEVICE_CLIENT, code: cb.code, redirectUri: listener.redirectUri };
      try {
        const answer = await exchange(t, grant, verifier, dpopKey, o.profile);
        cb.finish(true, 'Signed in to AWS. You can close this tab.');
        return answer;
      } catch (err) {
        cb.finish(false, 'The sign-in could not be completed; see the terminal.');
        throw err;
      }
    } finally {
      listener.close();
    }
  }
  return exchange(t, grant, verifier, dpopKey, o.profile);
}

async function exchange(t: Target, g: { clientId: string; code: string; redirectUri: string }, verifier: string, dpopKey: string, profile: string): Promise<SignedIn> {
  const answer = await createOAuth2Token(t.endpoint, { clientId: g.clientId, grantType: 'authorization_code', code: g.code, codeVerifier: verifier, redirectUri: g.redirectUri }, dpopKey, profile, t.caBundle);
  const session = sessionOf(answer.idToken);
  const accountId = /::(\d{12}):/.exec(session)?.[1];
  const record: LoginRecord = { session, clientId: g.clientId, refreshToken: answer.refreshToken, dpopKey, region: t.region, signedInAt: new Date(), ...(accountId ? { accountId } : {}) };
  return { record, answer };
}

export function credentialsOf(a: TokenAnswer, accountId: string | undefined): TempCredentials {
  return { accessKeyId: a.accessKeyId, secretAccessKey: a.secretAccessKey, sessionToken: a.sessionToken, expiration: new Date(a.expiresAt), ...(accountId ? { accountId } : {}) };
}

/**
 * New credentials for a profile's session: CreateOAuth2Token with the refresh token in the
 * keychain, then the rotated refresh token back into the keychain before anything else (the
 * old one is spent).
 */
export async function refreshLogin(ref: LoginRef, profile: string, caBundle: CaBundle | undefined): Promise<TempCredentials> {
  const r = readRecord(ref.session);
  if (!r) throw new KeyroleError('LoginRequired', `there is no AWS Sign-In session for profile ${profile} in the keychain`, `run: keyrole login ${profile}`);
  const a = await createOAuth2Token(ref.endpoint, { clientId: r.clientId, grantType: 'refresh_token', refreshToken: r.refreshToken }, r.dpopKey, profile, caBundle);
  writeRecord({ ...r, refreshToken: a.refreshToken });
  debug(`AWS Sign-In session of profile ${profile} refreshed (key ${redactKeyId(a.accessKeyId)}); the new refresh token is in the keychain`);
  return credentialsOf(a, r.accountId);
}

/**
 * Which sign-in: the cross-device flow with --remote, and by itself where the SSO sign-in
 * would use the device flow (over SSH, no browser: src/sso/flow.ts decides both); else the
 * browser on this machine, its URL printed with --no-browser.
 */
export function chooseLoginFlow(f: { remote?: boolean; noBrowser?: boolean }, e: NodeJS.ProcessEnv = process.env): { remote: boolean; open: boolean; note?: string } {
  const c = chooseFlow({ useDeviceCode: f.remote, noBrowser: f.noBrowser }, e);
  if (c.flow === 'browser') return { remote: false, open: c.open };
  return { remote: true, open: false, ...(c.note ? { note: `${c.note.split(':')[0]}: signing in with a browser on any device (keyrole login --remote); keyrole login --no-browser signs in through a browser on this machine instead.` } : {}) };
}

/**
 * A profile's credentials: a refresh; when the session ended or is not in the keychain and
 * a person is at a terminal (never for the endpoint of exec --server or serve), a new
 * sign-in there, as for IAM Identity Center.
 */
export async function loginCredentials(ref: LoginRef, profile: string, caBundle: CaBundle | undefined, o: { interactive: boolean; onPrompt?: (st: 'prompt' | 'working') => void }): Promise<TempCredentials> {
  try {
    return await refreshLogin(ref, profile, caBundle);
  } catch (err) {
    if (!(err instanceof KeyroleError) || (err.code !== 'LoginExpired' && err.code !== 'LoginRequired') || !o.interactive) throw err;
    const { openTerminal, ask } = await import('../util/prompt.ts');
    const term = openTerminal();
    if (!term) throw err;
    o.onPrompt?.('prompt');
    try {
      const screen = terminalScreen(term);
      screen.write(`keyrole: ${err.message}; signing in again.\n`);
      const flow = chooseLoginFlow({});
      if (flow.note) screen.write(`${flow.note}\n`);
      const { record, answer } = await signIn({ region: ref.region, endpoint: ref.endpoint, caBundle }, { profile, screen, remote: flow.remote, open: flow.open, ask: (q) => ask(term, q) });
      keepSession(record, ref.session, profile);
      return credentialsOf(answer, record.accountId);
    } finally {
      term.close();
      o.onPrompt?.('working');
    }
  }
}

/** Stores a new sign-in's session, if it is the one the profile names. */
export function keepSession(record: LoginRecord, want: string | undefined, profile: string): void {
  if (want !== undefined && record.session !== want) {
    throw new KeyroleError('LoginDenied', `that sign-in was as ${printable(record.session)}, but profile ${profile} is for ${want}`,
      `sign in as that identity, or remove keyrole_login_session from profile ${profile} and run keyrole login ${profile} again`);
  }
  writeRecord(record);
}
