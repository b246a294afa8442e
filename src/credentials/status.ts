// What a profile's credential has left, layer by layer, from the cache alone: no STS, no
// SDK, no lock. `keyrole status` prints it; `exec --server` and `serve` use it to warn a
// person before a layer that needs them (an MFA code, an SSO sign-in) runs out.

import type { AwsFiles } from '../config/files.ts';
import type { Settings, SsoRef } from '../config/settings.ts';
import { localExpiration, lookup, openStore, servedAsIs, type CacheEntry } from './cache.ts';
import { storeKind, type StoreKind } from '../config/cachestore.ts';
import { lastUse, renewFrom } from './windows.ts';
import { asksForCode, layersOf, planProfile, ssoOf, type Layer } from './plan.ts';
import type { LoginRef } from '../login/endpoint.ts';
import { formatLeft } from '../util/duration.ts';

export interface LayerStatus {
  layer: Layer;
  entry: CacheEntry | undefined;
  /** Expiration in the local clock's frame. */
  expiration: Date | undefined;
  /** Served from the cache as it is (outside its refresh window: src/credentials/windows.ts). */
  servedAsIs: boolean;
}

export interface TokenStatus {
  /** The sso-session name, or the start URL of the legacy form. */
  session: string;
  /** What `keyrole login` takes for it: the sso-session, else the profile (legacy form). */
  loginName: string;
  expiresAt: Date | undefined;
  /** A refresh token (and a live client registration) is there: no person needed when it ends. */
  refreshable: boolean;
  /** Whose token it is: keyrole's (keychain) or the one `aws sso login` left (its logout ends it). */
  from: 'keyrole' | 'aws sso login';
}

export interface ProfileStatus {
  profile: string;
  store: StoreKind;
  layers: LayerStatus[];
  sso: TokenStatus | undefined;
  /** The AWS Sign-In session under the profile, if any. */
  login?: LoginStatus;
}

export interface LoginStatus {
  session: string;
  /** The profile with keyrole_login_session: what `keyrole login` takes. */
  profile: string;
  /** Whether the keychain holds the session. */
  held: boolean;
  /** 12 hours after the sign-in, when known. */
  endsAt: Date | undefined;
}

/** The AWS Sign-In session behind a plan, from the keychain alone: no network. */
export async function loginStatus(ref: LoginRef, profile: string): Promise<LoginStatus> {
  const { readRecord, sessionEnd } = await import('../login/record.ts');
  let r;
  try {
    r = readRecord(ref.session);
  } catch { /* keychain unreadable: said as not held */ }
  return { session: ref.session, profile, held: !!r, endsAt: r ? sessionEnd(r) : undefined };
}

/** The one line status, doctor and cache list show for an AWS Sign-In session. */
export function describeLogin(t: LoginStatus, now: number): string {
  const head = `AWS Sign-In session (${t.session})`;
  if (!t.held) return `${head}: none in the keychain; keyrole login ${t.profile} signs in`;
  if (!t.endsAt) return `${head}: refreshes by itself until it ends (12 hours after the sign-in at most); then keyrole login ${t.profile}`;
  const left = t.endsAt.getTime() - now;
  const until = t.endsAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (left <= 0) return `${head}: ended ${until}; keyrole login ${t.profile} signs in again`;
  return `${head}: refreshes by itself for ${formatLeft(left)} (until ${until}); then keyrole login ${t.profile}`;
}

export async function profileStatus(files: AwsFiles, s: Settings, now = Date.now()): Promise<ProfileStatus> {
  const store = openStore(storeKind(s.cache));
  const plan = planProfile(files, s);
  const layers: LayerStatus[] = [];
  for (const layer of layersOf(plan)) {
    const entry = await lookup(store, layer.key, layer.canonical);
    layers.push({ layer, entry, expiration: entry && localExpiration(entry), servedAsIs: !!entry && servedAsIs(entry, layer.durationSeconds, now) });
  }
  const ref = ssoOf(plan);
  const loginLayer = layersOf(plan).find((l) => l.login);
  const login = loginLayer ? await loginStatus(loginLayer.login!, loginLayer.settings.profile ?? s.profile ?? '(command line)') : undefined;
  return { profile: s.profile ?? '(command line)', store: store.kind, layers, sso: ref && await tokenStatus(ref, now, s.profile), ...(login ? { login } : {}) };
}

/**
 * The SSO token keyrole would use: its own, or the one `aws sso login` left, whichever
 * lasts longer. From the keychain and the file alone: no network.
 */
export async function tokenStatus(ref: Pick<SsoRef, 'session' | 'startUrl' | 'ssoRegion' | 'registrationScopes'>, now: number, profile?: string): Promise<TokenStatus> {
  const [{ readRecord, canRefresh }, { readAwsCache }, { sessionId, loginName }] = await Promise.all([import('../sso/record.ts'), import('../sso/awscache.ts'), import('../sso/session.ts')]);
  let own;
  try {
    own = readRecord(ref);
  } catch { /* keychain unreadable: the AWS CLI's file may still say */ }
  const aws = (await readAwsCache(ref))?.record;
  const ownAt = own?.accessToken ? own.expiresAt : undefined;
  const awsAt = aws?.accessToken ? aws.expiresAt : undefined;
  const times = [ownAt, awsAt].filter((d): d is Date => d instanceof Date);
  return {
    from: awsAt && (!ownAt || awsAt.getTime() > ownAt.getTime()) ? 'aws sso login' : 'keyrole',
    session: sessionId(ref),
    loginName: loginName(ref, profile),
    expiresAt: times.length ? new Date(Math.max(...times.map((d) => d.getTime()))) : undefined,
    refreshable: canRefresh(own, now) || canRefresh(aws, now),
  };
}

/**
 * The one line every command shows for an SSO sign-in (status, doctor, cache list, cache
 * clear): `IAM Identity Center sign-in (my-sso): 52 min left (until …Z), refreshes by
 * itself`, or what happens when it ends and the command that signs in again.
 */
export function describeToken(t: TokenStatus, now: number): string {
  const head = `IAM Identity Center sign-in (${t.session}${t.from === 'aws sso login' ? ', the token aws sso login left' : ''})`;
  if (!t.expiresAt) return `${head}: none; keyrole login ${t.loginName} signs in`;
  const left = t.expiresAt.getTime() - now;
  const until = t.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (left <= 0) {
    return t.refreshable
      ? `${head}: the token expired ${until}; the next call refreshes it`
      : `${head}: expired ${until} and cannot refresh; keyrole login ${t.loginName} signs in again`;
  }
  return `${head}: ${formatLeft(left)} left (until ${until}), ${t.refreshable ? 'refreshes by itself' : `cannot refresh: keyrole login ${t.loginName} when it ends`}`;
}

export interface PersonNeeded {
  /** What needs the person: `the MFA session of source "alice" (MFA device …)`. */
  what: string;
  /** The argument of the `keyrole login` that renews it. */
  login: string;
  /** From when keyrole renews it, asking the person where it can (a terminal, a dialog, mfa_process). */
  askFrom: Date;
  /** Until when it is used without the person (src/credentials/windows.ts lastUse); the credentials made with it then run to their own end. */
  by: Date;
}

/**
 * When a person will next be needed to keep the profile's credential coming: a new code
 * for an MFA session or for a role that takes the code on AssumeRole itself, or a new
 * sign-in for an SSO token that cannot refresh. Undefined when nothing cached depends on
 * a person, or a hook (`keyrole_mfa_process`) answers for them. The moments are
 * src/credentials/windows.ts's, the ones the cache and the SSO token go by.
 */
export function personNeeded(st: ProfileStatus, now = Date.now()): PersonNeeded | undefined {
  const found: PersonNeeded[] = [];
  for (const l of st.layers) {
    const s = l.layer.settings;
    if (!l.expiration || s.mfaProcess || !asksForCode(l.layer)) continue;
    const what = l.layer.kind === 'mfa-session' ? `${l.layer.label} (MFA device ${s.mfaSerial})` : `${l.layer.label}, assumed with an MFA code each time`;
    found.push({ what, login: st.profile, askFrom: renewFrom(l.expiration, l.layer.durationSeconds), by: lastUse(l.expiration) });
  }
  const t = st.sso;
  if (t?.expiresAt && !t.refreshable) {
    // A token that cannot refresh is used as it is to its last minute (src/sso/sso.ts): a
    // sign-in is asked for only when a call finds it spent, or by keyrole login.
    const by = lastUse(t.expiresAt);
    found.push({ what: `the IAM Identity Center sign-in of ${t.session}`, login: t.loginName, askFrom: by, by });
  }
  const l = st.login;
  if (l?.endsAt) {
    // Nothing renews an AWS Sign-In session: at its 12-hour end a person signs in again.
    found.push({ what: `the AWS Sign-In session ${l.session}`, login: l.profile, askFrom: l.endsAt, by: l.endsAt });
  }
  return found.filter((f) => f.by.getTime() > now - 3600_000).sort((a, b) => a.by.getTime() - b.by.getTime())[0];
}
