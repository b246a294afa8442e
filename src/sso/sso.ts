// IAM Identity Center (SSO): what the rest of keyrole calls. A token is looked for in this
// order: keyrole's own (in the keychain, never in a plaintext file), a valid one that
// `aws sso login` left in ~/.aws/sso/cache, a refresh with a refresh token, and last a
// sign-in at the terminal: in the browser with PKCE where one can be opened, else the
// device flow (src/sso/flow.ts). Refreshes and logins are single flight across
// processes (src/credentials/lock.ts), so thirty parallel credential_process calls make one
// login and open at most one browser tab (aws-vault #445, aws-sso-cli #644).
//
// The parts: session.ts (names), record.ts (the keychain record), awscache.ts (the AWS
// CLI's token file), client.ts (the SDK calls), registration.ts (client registrations),
// flow.ts (which sign-in), authcode.ts + loopback.ts + pkce.ts (the browser sign-in),
// deviceflow.ts (the device flow) and screen.ts (what the person reads).
// Nothing here loads the SDK or node:crypto before a call is about to be made.

import { KeyroleError } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { SIGN_IN_BOUNDS, singleFlight, type HeldLock } from '../credentials/lock.ts';
import { keyroleHome, privateDir } from '../util/home.ts';
import type { SsoRef } from '../config/settings.ts';
import type { TempCredentials } from '../aws/sts.ts';
import type { Terminal } from '../util/prompt.ts';
import { describeSession, lockName, loginName, type SsoOptions, type SsoSessionRef } from './session.ts';
import { REFRESH_WINDOW_MS, usableAfterFailedRenewal } from '../credentials/windows.ts';
import { asToken, canRefresh, forgetSession, keepRecord, readRecord, tokenLeftMs, writeRecord, type SsoRecord, type SsoToken } from './record.ts';
import { readAwsCache, writeAwsCache } from './awscache.ts';
import { getRoleCredentials, logout, refreshWith, ssoEndpoints, ssoError } from './client.ts';
import { deviceLogin } from './deviceflow.ts';
import { browserLogin } from './authcode.ts';
import { chooseFlow, type FlowChoice } from './flow.ts';
import { terminalScreen, type Screen } from './screen.ts';

function needLogin(ref: SsoSessionRef, o: SsoOptions, why: string): KeyroleError {
  return new KeyroleError('SsoLoginRequired', `no valid IAM Identity Center token for ${describeSession(ref)} ${why}`, `sign in first: keyrole login ${loginName(ref, o.loginName)}`);
}

async function terminal(): Promise<Terminal | undefined> {
  const { openTerminal } = await import('../util/prompt.ts');
  return openTerminal();
}

function lockDir(): string {
  return privateDir(keyroleHome());
}

/**
 * A usable access token for the session: the keychain, then ~/.aws/sso/cache, then a
 * refresh, then a device-flow login at the terminal (when `interactive` and a terminal
 * exists), else a KeyroleError naming `keyrole login`. `rejected` is a token the portal
 * refused, never to be returned again.
 */
export async function ssoAccessToken(ref: SsoSessionRef, o: SsoOptions, rejected?: string): Promise<SsoToken> {
  // A token's windows are every layer's (src/credentials/windows.ts): used as it is while
  // more than the refresh window remains, renewed below it, and what cannot be renewed is
  // still used until its last minute.
  const left = (r: SsoRecord | undefined) => (r && r.accessToken !== rejected ? tokenLeftMs(r, Date.now()) : -Infinity);
  const asIs = (r: SsoRecord | undefined) => left(r) > REFRESH_WINDOW_MS;
  const now = Date.now();
  const rec = readRecord(ref);
  if (asIs(rec)) {
    debug(`IAM Identity Center token of ${describeSession(ref)} from the keychain, ${Math.round(left(rec) / 1000)} s left`);
    return asToken(rec!, 'keychain');
  }
  const aws = await readAwsCache(ref);
  if (asIs(aws?.record)) {
    debug(`IAM Identity Center token of ${describeSession(ref)} from ${aws!.path} (aws sso login), ${Math.round(left(aws!.record) / 1000)} s left`);
    return asToken(aws!.record, 'aws-cache');
  }
  const refreshable = canRefresh(rec, now) || canRefresh(aws?.record, now);
  const leftover = usableAfterFailedRenewal(left(rec)) ? asToken(rec!, 'keychain') : usableAfterFailedRenewal(left(aws?.record)) ? asToken(aws!.record, 'aws-cache') : undefined;
  if (!refreshable && leftover) {
    debug(`the IAM Identity Center token has ${Math.round((leftover.expiresAt.getTime() - now) / 1000)} s left and cannot be refreshed; using it`);
    return leftover;
  }
  if (!refreshable) {
    // Fail at once where nobody can sign in; never wait on a lock for it.
    if (!o.interactive) throw needLogin(ref, o, '(signed out or expired)');
    const t = await terminal();
    if (!t) throw needLogin(ref, o, 'and no terminal to sign in at');
    t.close();
    o.onPrompt?.('prompt');
  }
  try {
    return await singleFlight(await lockName(ref), async () => {
      // Another process refreshed or signed in while this one waited. A refresh of the token
      // `aws sso login` left went back into its file: read again, as the SDK's fromSso
      // does, so that parallel callers make one CreateToken, not one each.
      const r = readRecord(ref);
      if (asIs(r)) return asToken(r!, 'keychain');
      const a = await readAwsCache(ref);
      return asIs(a?.record) ? asToken(a!.record, 'aws-cache') : undefined;
    }, (lock) => renewOrLogin(ref, o, lock, rejected, leftover), lockDir, SIGN_IN_BOUNDS);
  } finally {
    if (!refreshable) o.onPrompt?.('working');
  }
}

async function renewOrLogin(ref: SsoSessionRef, o: SsoOptions, lock: HeldLock, rejected: string | undefined, leftover: SsoToken | undefined): Promise<SsoToken> {
  const name = loginName(ref, o.loginName);
  const now = Date.now();
  const rec = readRecord(ref);
  if (rec && canRefresh(rec, now)) {
    try {
      const next = await refreshWith(ref, rec);
      keepRecord(ref, next);
      debug(`refreshed the IAM Identity Center token of ${describeSession(ref)}; ${Math.round(tokenLeftMs(next, Date.now()) / 1000)} s left`);
      return asToken(next, 'keychain');
    } catch (err) {
      const e = ssoError(err, 'the token refresh', ssoEndpoints(ref).oidc.url, name);
      if (e.transient) {
        if (leftover) return leftover;
        throw e;
      }
      // Refused (expired, revoked, or a registration that ended): the refresh token is spent.
      debug(`the refresh token was refused (${e.code}); it is dropped`);
      writeRecord(ref, { ...rec, refreshToken: undefined, ...(rec.accessToken === rejected ? { accessToken: undefined, expiresAt: undefined } : {}) });
    }
  }
  const aws = await readAwsCache(ref);
  if (aws && aws.record.accessToken !== rejected && canRefresh(aws.record, now)) {
    try {
      const next = await refreshWith(ref, aws.record);
      // The AWS CLI's session stays the AWS CLI's: its file is updated in place, as the SDKs do.
      writeAwsCache(aws, next);
      debug(`refreshed the token in ${aws.path}`);
      return asToken(next, 'aws-cache');
    } catch (err) {
      const e = ssoError(err, 'the token refresh', ssoEndpoints(ref).oidc.url, name);
      if (leftover && e.transient) return leftover;
      debug(`the refresh token in ${aws.path} was refused (${e.code})`);
    }
  }
  if (leftover) return leftover;
  if (!o.interactive) throw needLogin(ref, o, '(signed out or expired)');
  const term = await terminal();
  if (!term) throw needLogin(ref, o, 'and no terminal to sign in at');
  debug(`no usable IAM Identity Center token for ${describeSession(ref)}; signing in at the terminal`);
  lock.setState('prompt');
  o.onPrompt?.('prompt');
  try {
    return asToken(await signIn(ref, terminalScreen(term), name, chooseFlow({})), 'keychain');
  } finally {
    term.close();
    lock.setState('working');
    o.onPrompt?.('working');
  }
}

/** One sign-in in the chosen flow; a device flow chosen by itself says why first. */
function signIn(ref: SsoSessionRef, screen: Screen, name: string, flow: FlowChoice): Promise<SsoRecord> {
  if (flow.note) screen.write(`${flow.note}\n`);
  return flow.flow === 'browser' ? browserLogin(ref, screen, name, { open: flow.open }) : deviceLogin(ref, screen, name, { open: flow.open });
}

// ---- what the commands call ----

/**
 * `keyrole login`: a new sign-in in the chosen flow, single flight with any other login or
 * refresh of the session (one browser tab however many ask). Talks to the person on `screen`.
 */
export async function ssoLogin(ref: SsoSessionRef, o: { name: string; screen: Screen; flow: FlowChoice }): Promise<{ record: SsoRecord; joined: boolean }> {
  const started = Date.now();
  // A login that finished while this one waited for the lock counts: no second browser tab.
  const newer = () => {
    const r = readRecord(ref);
    return r?.obtainedAt && r.obtainedAt.getTime() >= started && usableAfterFailedRenewal(tokenLeftMs(r, Date.now())) ? r : undefined;
  };
  let working = false;
  const notice = setTimeout(() => {
    if (!working) o.screen.write(`Another keyrole is signing in to ${describeSession(ref)}; waiting for it (see the other terminal or browser tab).\n`);
  }, 1000);
  try {
    const record = await singleFlight(await lockName(ref), newer, async (lock) => {
      working = true;
      lock.setState('prompt');
      try {
        return await signIn(ref, o.screen, o.name, o.flow);
      } finally {
        lock.setState('working');
      }
    }, lockDir, SIGN_IN_BOUNDS);
    return { record, joined: !working };
  } finally {
    clearTimeout(notice);
  }
}

/**
 * Credentials for the profile's account and role: a valid token (see ssoAccessToken), then
 * GetRoleCredentials. A token the portal refuses although it looked valid (signed out
 * elsewhere) is dropped and renewed once.
 */
export async function ssoRoleCredentials(ref: SsoRef, opts: SsoOptions): Promise<TempCredentials> {
  const name = loginName(ref, opts.loginName);
  let token = await ssoAccessToken(ref, opts);
  for (let attempt = 0; ; attempt++) {
    try {
      return await getRoleCredentials(ref, token.accessToken, name);
    } catch (err) {
      if (!(err instanceof KeyroleError) || err.code !== 'SsoTokenRejected' || attempt > 0) throw err;
      debug(`the portal refused the token from the ${token.from === 'keychain' ? 'keychain' : 'AWS CLI cache'}; renewing it`);
      token = await ssoAccessToken(ref, opts, token.accessToken);
    }
  }
}

/** Signs out: the portal's Logout, then keyrole's token leaves the keychain. The AWS CLI's file is left alone. */
export async function ssoLogout(ref: SsoSessionRef, name: string): Promise<boolean> {
  const rec = readRecord(ref);
  if (rec?.accessToken && tokenLeftMs(rec, Date.now()) > 0) {
    try {
      await logout(ref, rec.accessToken, name);
    } catch (err) {
      const code = (err as KeyroleError).code;
      if (code !== 'SsoTokenRejected') debug(`Logout failed (${code}); forgetting the token anyway`);
    }
  }
  if (!rec) return forgetSession(ref);
  // The client registration is no secret of the person's session: kept for the next login.
  writeRecord(ref, { startUrl: rec.startUrl, region: rec.region, scopes: rec.scopes, clientId: rec.clientId, clientSecret: rec.clientSecret, registrationExpiresAt: rec.registrationExpiresAt });
  return rec.accessToken !== undefined || rec.refreshToken !== undefined;
}
