// The OIDC device flow (RFC 8628): a device authorization, the URL and code shown to the
// person, the browser opened once where one can be, and CreateToken polled until approved.

import { KeyroleError } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { describeSession, type SsoSessionRef } from './session.ts';
import { keepRecord, newRecord, recordFromAnswer, type SsoRecord, type TokenAnswer } from './record.ts';
import { oidcApi, ssoError, timed, tokenAnswer, TOTAL_TIMEOUT_MS } from './client.ts';
import { clientRegistration, type Registration } from './registration.ts';
import { signedInLine } from './authcode.ts';
import { progress, type Screen } from './screen.ts';
import { openBrowser } from '../util/browser.ts';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

const LOOPBACK = /^(127(\.\d{1,3}){3}|\[::1\]|localhost)$/i;

/**
 * The verification URL as it may be shown and opened: https, or http on a loopback address
 * (the emulator, a local proxy); printable, no user name or password in it, not endless.
 * Anything else is a malformed answer: a javascript:, file: or look-alike http URL from a
 * hostile endpoint is never shown as the place to sign in.
 */
export function verificationUrl(raw: string): string {
  let u: URL | undefined;
  try { u = new URL(raw); } catch { /* not a URL */ }
  const ok = u !== undefined && raw.length <= 2048 && printable(raw) === raw && !/\s/.test(raw) && !u.username && !u.password
    && (u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK.test(u.hostname)));
  if (!ok) {
    // Not the URL itself: a person should not be handed it, even in an error.
    const what = u ? `${printable(u.protocol).slice(0, 20)} URL${u.host ? ` on ${printable(u.host).slice(0, 80)}` : ''}` : 'not a URL';
    throw new KeyroleError('SsoMalformed', `IAM Identity Center answered with a verification URL keyrole will not show or open (${what}; only https, or http on loopback)`, 'check AWS_ENDPOINT_URL_SSO_OIDC: only the IAM Identity Center endpoint should be answering');
  }
  return raw;
}

/** The user code as it may be shown: printable, short, not blank. */
export function userCodeOf(raw: string): string {
  if (!raw.trim() || raw.length > 64 || printable(raw) !== raw) {
    throw new KeyroleError('SsoMalformed', 'IAM Identity Center answered with a user code that cannot be shown (blank, over 64 characters, or with control characters)', 'check AWS_ENDPOINT_URL_SSO_OIDC: only the IAM Identity Center endpoint should be answering');
  }
  return raw;
}

export interface PollOptions {
  intervalMs: number;
  expiresInMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Polls CreateToken until the person approves: every `interval`, five seconds slower after
 * each slow_down (RFC 8628 3.5), until the code expires. The SDK error names decide.
 */
export async function pollForToken<T>(call: () => Promise<T>, o: PollOptions): Promise<T> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + o.expiresInMs;
  let interval = Math.max(1000, o.intervalMs);
  for (;;) {
    await sleep(Math.min(interval, Math.max(0, deadline - now())));
    if (now() >= deadline) throw Object.assign(new Error('the device code expired'), { name: 'ExpiredTokenException' });
    try {
      return await call();
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'AuthorizationPendingException') continue;
      if (name === 'SlowDownException') {
        interval += 5000;
        debug(`SSO-OIDC asked to slow down; polling every ${interval / 1000} s`);
        continue;
      }
      throw err;
    }
  }
}

/**
 * The OIDC device flow: (re)uses the client registration, starts a device authorization,
 * shows the URL and code, opens the browser once where one can be opened, and polls.
 * Stores the token in the keychain and returns the record.
 */
export async function deviceLogin(ref: SsoSessionRef, screen: Screen, name: string, o: { open: boolean } = { open: true }): Promise<SsoRecord> {
  let reg: Registration = await clientRegistration(ref, 'device', name);

  const { m, c, where } = oidcApi(ref);
  let auth;
  for (let attempt = 0; ; attempt++) {
    try {
      auth = await timed('SSO-OIDC StartDeviceAuthorization', (abortSignal) => c.send(new m.StartDeviceAuthorizationCommand({ clientId: reg.clientId, clientSecret: reg.clientSecret, startUrl: ref.startUrl }), { abortSignal }));
      break;
    } catch (err) {
      // A registration the service no longer knows: register again, once.
      if ((err as Error).name === 'InvalidClientException' && attempt === 0) {
        debug('the stored client registration was refused; registering again');
        reg = await clientRegistration(ref, 'device', name, { replaceStored: true });
        continue;
      }
      throw ssoError(err, 'the start of the sign-in', where, name);
    }
  }
  if (!auth.deviceCode || !auth.userCode || !(auth.verificationUriComplete || auth.verificationUri)) {
    throw new KeyroleError('SsoMalformed', 'IAM Identity Center answered StartDeviceAuthorization without a code', 'retry later');
  }
  const url = verificationUrl(auth.verificationUriComplete ?? auth.verificationUri!);
  const userCode = userCodeOf(auth.userCode);
  const expiresInMs = (auth.expiresIn ?? 600) * 1000;
  const deadline = Date.now() + expiresInMs;
  screen.write(`\nSign in to AWS IAM Identity Center (${printable(describeSession(ref))}, ${printable(ref.startUrl)})\n`);
  screen.write(`  Open:  ${url}\n`);
  screen.write(`  Code:  ${userCode}   (check that the page shows the same code)\n`);
  const opened = o.open && await openBrowser({ url });
  screen.write(opened ? '  The page was opened in your browser.\n' : '  Open the link in a browser on any device.\n');

  const bar = progress(screen, deadline);
  let answer: TokenAnswer;
  try {
    answer = tokenAnswer(await pollForToken(
      () => c.send(new m.CreateTokenCommand({ clientId: reg.clientId, clientSecret: reg.clientSecret, grantType: DEVICE_GRANT, deviceCode: auth.deviceCode }), { abortSignal: AbortSignal.timeout(TOTAL_TIMEOUT_MS) }),
      { intervalMs: (auth.interval ?? 5) * 1000, expiresInMs },
    ));
  } catch (err) {
    bar.stop('Sign-in did not complete.');
    throw ssoError(err, 'the sign-in', where, name);
  }
  // The token is refreshed with the registration that obtained it: the record keeps that one.
  const rec = recordFromAnswer(newRecord(ref, reg), answer);
  keepRecord(ref, rec);
  bar.stop(signedInLine(ref, rec));
  return rec;
}
