// The browser sign-in: OAuth 2.0 authorization code with PKCE (RFC 7636) and a loopback
// redirect (RFC 8252), as AWS CLI 2.22+ signs in by default. RegisterClient for the
// authorization_code grant (kept and reused, src/sso/registration.ts), the listener,
// /authorize in the browser with the S256 challenge and a random state, then CreateToken
// with the code, the verifier and the same redirect URI. No terminal is needed: the
// messages go to whatever screen the caller has (the terminal, else stderr).

import { KeyroleError } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { openPrivately } from '../util/pagefile.ts';
import { describeSession, REFRESH_SCOPE, type SsoSessionRef } from './session.ts';
import { keepRecord, newRecord, recordFromAnswer, type SsoRecord } from './record.ts';
import { oidcApi, ssoEndpoints, ssoError, timed, tokenAnswer } from './client.ts';
import { clientRegistration, dropRegistration } from './registration.ts';
import { codeChallenge, codeVerifier, randomState } from './pkce.ts';
import { REGISTERED_REDIRECT, startLoopback } from './loopback.ts';
import { progress, type Screen } from './screen.ts';

/** How long the browser step may take; KEYROLE_SSO_LOGIN_TIMEOUT (seconds) changes it. */
export function loginTimeoutMs(e: NodeJS.ProcessEnv = process.env): number {
  const v = Number(e.KEYROLE_SSO_LOGIN_TIMEOUT);
  return Number.isFinite(v) && v > 0 && v <= 3600 ? v * 1000 : 10 * 60_000;
}

/** The /authorize URL on the SSO-OIDC endpoint, with the parameters the AWS CLI sends. */
export function authorizeUrl(ref: SsoSessionRef, p: { clientId: string; redirectUri: string; state: string; challenge: string }): string {
  const base = ssoEndpoints(ref).oidc.url.replace(/\/+$/, '');
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    state: p.state,
    code_challenge: p.challenge,
    code_challenge_method: 'S256',
  });
  if (ref.registrationScopes.length) q.set('scopes', ref.registrationScopes.join(' '));
  return `${base}/authorize?${q}`;
}

export async function browserLogin(ref: SsoSessionRef, screen: Screen, name: string, o: { open: boolean }): Promise<SsoRecord> {
  const reg = await clientRegistration(ref, 'auth-code', name, { redirectUri: REGISTERED_REDIRECT });
  const verifier = codeVerifier();
  const state = randomState();
  const timeoutMs = loginTimeoutMs();
  const listener = await startLoopback({ state, timeoutMs });
  try {
    const url = authorizeUrl(ref, { clientId: reg.clientId, redirectUri: listener.redirectUri, state, challenge: codeChallenge(verifier) });
    screen.write(`\nSign in to AWS IAM Identity Center (${printable(describeSession(ref))}, ${printable(ref.startUrl)}) in the browser.\n`);
    // A page file, not the URL: its state and port on a browser's argv would let another
    // local user abort the sign-in or complete it with an approval of their own.
    const opened = o.open && await openPrivately(url, { dir: 'login', lapseMs: timeoutMs, title: 'Signing in to AWS IAM Identity Center' });
    if (opened) screen.write('  A browser tab was opened; approve the request there.\n');
    else screen.write(`  ${o.open ? 'No browser could be opened. ' : ''}Open this URL in a browser on this machine (it comes back to 127.0.0.1):\n  ${url}\n`);
    const bar = progress(screen, Date.now() + timeoutMs, Date.now, 'Waiting for the browser; the sign-in stays open for');
    let cb;
    try {
      cb = await listener.callback;
    } catch (err) {
      bar.stop('Sign-in did not complete.');
      throw ssoError(err, 'the sign-in', 'the browser', name);
    }
    const { m, c, where } = oidcApi(ref);
    let answer;
    try {
      answer = tokenAnswer(await timed('SSO-OIDC CreateToken (authorization_code)', (abortSignal) => c.send(new m.CreateTokenCommand({
        clientId: reg.clientId, clientSecret: reg.clientSecret, grantType: 'authorization_code',
        code: cb.code, codeVerifier: verifier, redirectUri: listener.redirectUri,
      }), { abortSignal })));
    } catch (err) {
      const e = ssoError(err, 'the sign-in', where, name);
      // A registration the service no longer knows is not reused next time.
      if (e.code === 'SsoClientRejected') dropRegistration(ref, 'auth-code');
      cb.finish(false, `keyrole could not complete the sign-in: ${e.message}. See the terminal.`);
      bar.stop('Sign-in did not complete.');
      throw e;
    }
    const rec = recordFromAnswer(newRecord(ref, reg), answer);
    keepRecord(ref, rec);
    cb.finish(true, 'Signed in to AWS IAM Identity Center. You can close this tab.');
    bar.stop(signedInLine(ref, rec));
    debug(`browser sign-in complete; ${listener.refused()} stray request(s) refused by the listener`);
    return rec;
  } catch (err) {
    if (err instanceof KeyroleError) throw err;
    throw ssoError(err, 'the sign-in', 'the browser', name);
  } finally {
    listener.close();
  }
}

/** The last line of a sign-in, either flow: until when, and how it renews. */
export function signedInLine(ref: SsoSessionRef, rec: SsoRecord): string {
  const renew = rec.refreshToken
    ? 'keyrole renews it with its refresh token'
    : ref.registrationScopes.includes(REFRESH_SCOPE) ? 'no refresh token was issued' : `add sso_registration_scopes = ${REFRESH_SCOPE} to the sso-session for refresh tokens`;
  return `Signed in. The token is in the keychain until ${rec.expiresAt!.toISOString().replace(/\.\d{3}Z$/, 'Z')}; ${renew}.`;
}
