// From settings to credentials: the cache in front, single flight behind it, STS last.
// This is the whole hot path; a hit touches the config, the cache store and nothing else.

import { userInfo } from 'node:os';
import { debug, redactKeyId } from '../util/debug.ts';
import { KeyroleError } from '../util/errors.ts';
import { cacheKey, canonicalParams, encodeEntry, fresh, lookup, openStore, parseStoreKind, remainingMs, type CacheEntry, type CacheStore, type StoreKind } from './cache.ts';
import { keyroleHome, privateDir } from '../util/home.ts';
import { singleFlight, type HeldLock } from './lock.ts';
import { loadSource } from '../keychain/keychain.ts';
import { assumeRole, getSessionToken, type AssumeRoleInput, type StsTarget, type TempCredentials } from '../aws/sts.ts';
import { loadAwsFiles, section, type AwsFiles } from '../config/files.ts';
import { regionalStsEndpoint } from '../config/endpoints.ts';
import { resolveSettings, type Settings } from '../config/settings.ts';
import { clockSession, type ClockHook } from '../clock/clock.ts';

/** The login name, from the environment first: getpwuid() reads nsswitch and /etc/passwd on every run. */
export function localUser(): string {
  const fromEnv = process.env.USER || process.env.LOGNAME || process.env.USERNAME;
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username;
  } catch {
    return 'user';
  }
}

/** --cache flag, then KEYROLE_CACHE, then the profile's keyrole_cache, then the keychain. */
export function storeKindFor(files: AwsFiles, s: Settings, flag?: string): StoreKind {
  if (flag) return parseStoreKind(flag, '--cache');
  if (process.env.KEYROLE_CACHE) return parseStoreKind(process.env.KEYROLE_CACHE, 'KEYROLE_CACHE');
  const fromProfile = s.profile ? section(files.config, s.profile)?.keyrole_cache : undefined;
  if (fromProfile) return parseStoreKind(fromProfile, `keyrole_cache in profile ${s.profile}`);
  return 'keychain';
}

/** Every parameter that changes what STS hands out; nothing else, so equal profiles share. */
export function paramsFor(s: Settings): Record<string, unknown> {
  return {
    source: s.source,
    roleArn: s.roleArn,
    durationSeconds: s.durationSeconds,
    sessionName: s.sessionName,
    region: s.region,
    endpoint: s.endpoint ?? regionalStsEndpoint(s.region),
    mfaSerial: s.mfaSerial,
    mfaOnAssume: s.mfaOnAssume || undefined,
    externalId: s.externalId,
    sourceIdentity: s.sourceIdentity,
    tags: s.tags.length ? s.tags : undefined,
    transitiveTagKeys: s.transitiveTagKeys.length ? s.transitiveTagKeys : undefined,
    policyArns: s.policyArns.length ? s.policyArns : undefined,
  };
}

export function keyFor(s: Settings): string {
  return cacheKey(paramsFor(s));
}

// STS caps a role assumed with another role's credentials at one hour (role chaining).
export const CHAINED_MAX_SECONDS = 3600;

/**
 * The clock check of this run (src/clock/clock.ts): measures the offset of this machine's clock
 * (server minus local, ms) when the first STS call is about to be made, never on a cache
 * hit; each call then signs on the corrected clock and leaves the offset to store with its
 * credentials in StsTarget.clockOffsetMs.
 */
let runClock: ClockHook | undefined;
function clockFor(s: Settings): ClockHook {
  runClock ??= clockSession({
    // keyrole_ntp_servers is not in Settings: the config is read again, once, on a miss.
    profileServers: async () => (s.profile ? section((await loadAwsFiles()).config, s.profile)?.keyrole_ntp_servers : undefined),
  });
  return runClock;
}

async function target(s: Settings): Promise<StsTarget> {
  return { region: s.region, endpoint: s.endpoint, endpointFrom: s.endpointFrom, clock: clockFor(s) };
}

export interface ResolveOptions {
  /** A code given up front (--mfa-token / KEYROLE_MFA_TOKEN). */
  mfaToken?: string;
}

export interface Resolved {
  entry: CacheEntry;
  fromCache: boolean;
  store: CacheStore;
}

type Fetched = Omit<CacheEntry, 'params' | 'storedAt'>;

/**
 * One cached credential: served while fresh, otherwise fetched by exactly one process
 * (single flight) and stored. `windowSeconds` is the session length the refresh window is
 * judged against.
 */
async function cached(store: CacheStore, params: Record<string, unknown>, windowSeconds: number, what: string, fetch: (lock: HeldLock) => Promise<Fetched>): Promise<Resolved> {
  const key = cacheKey(params);
  const canonical = canonicalParams(params);
  let stale: CacheEntry | undefined;
  const usable = async () => {
    const e = await lookup(store, key, canonical);
    if (e && fresh(e, windowSeconds, Date.now())) return e;
    if (e) debug(`cached ${what} has ${Math.round(remainingMs(e, Date.now()) / 1000)} s left, under the refresh window; fetching new credentials`);
    stale = e;
    return undefined;
  };
  const hit = await usable();
  if (hit) {
    debug(`cache hit for ${what} in the ${store.kind} store (${key.slice(0, 8)}), ${Math.round(remainingMs(hit, Date.now()) / 1000)} s left`);
    return { entry: hit, fromCache: true, store };
  }
  debug(`cache miss for ${what} in the ${store.kind} store (${key.slice(0, 8)})`);
  let fetched = false;
  const attempt = () => singleFlight(key, usable, async (lock) => {
    const e: CacheEntry = { ...(await fetch(lock)), params: canonical, storedAt: new Date() };
    fetched = true;
    if (remainingMs(e, Date.now()) <= 0) {
      throw new KeyroleError('ExpiredOnArrival', 'STS returned credentials that are already expired by this machine\'s clock', 'check the system clock');
    }
    await store.put(key, encodeEntry(e));
    debug(`stored ${what} in the ${store.kind} store`);
    return e;
  }, () => privateDir(keyroleHome()));
  let entry: CacheEntry;
  try {
    entry = await attempt();
  } catch (err) {
    // botocore's 15-minute refresh is advisory and its clients keep working on what they
    // have: when AWS cannot be reached or is failing, credentials that still have more than
    // the JS SDK's 5-minute expiry window (plus a minute) are better than an error.
    const left = stale ? remainingMs(stale, Date.now()) : 0;
    if (stale && left > STALE_SERVE_MIN_MS && err instanceof KeyroleError && TRANSIENT.has(err.code)) {
      debug(`refresh failed (${err.line()}); serving the cached ${what}, which still has ${Math.round(left / 1000)} s left`);
      return { entry: stale, fromCache: true, store };
    }
    throw err;
  }
  return { entry, fromCache: !fetched, store };
}

// Failures of the service or the network, not of the request: worth riding out on a cached credential.
const TRANSIENT = new Set(['StsUnreachable', 'StsThrottled', 'StsError', 'StsMalformed', 'StsNotXml', 'SsoUnreachable', 'SsoThrottled', 'SsoMalformed', 'SsoError']);
const STALE_SERVE_MIN_MS = 6 * 60 * 1000;

export async function resolveCredentials(files: AwsFiles, s: Settings, cacheFlag?: string, o: ResolveOptions = {}): Promise<Resolved> {
  const store = openStore(storeKindFor(files, s, cacheFlag));
  return resolveChain(files, s, store, o, [s.profile ?? '(command line)']);
}

/**
 * The cache parameters of a profile's own credentials, computed from the config alone, so a
 * hit costs one cache read however deep the chain under it is (the layers below are read
 * only on a miss).
 */
function layerParams(files: AwsFiles, s: Settings, chain: string[]): Record<string, unknown> {
  if (s.sourceKind === 'profile') {
    const base = baseOf(files, s, chain);
    return { ...paramsFor(s), durationSeconds: chainedDuration(s, base), base: canonicalParams(layerParams(files, base, [...chain, s.sourceProfile!])) };
  }
  if (s.sourceKind === 'sso') {
    if (!s.roleArn) return ssoParams(s);
    return { ...paramsFor(s), durationSeconds: chainedDuration(s, undefined), base: canonicalParams(ssoParams(s)) };
  }
  if (s.mfaSerial && !s.mfaOnAssume && !s.roleArn) return mfaSessionParams(s);
  return paramsFor(s);
}

function ssoParams(s: Settings): Record<string, unknown> {
  const sso = s.sso!;
  return { kind: 'sso', session: sso.session, startUrl: sso.startUrl, ssoRegion: sso.ssoRegion, accountId: sso.accountId, roleName: sso.roleName };
}

function mfaSessionParams(s: Settings): Record<string, unknown> {
  return {
    kind: 'mfa-session', source: s.source, mfaSerial: s.mfaSerial, durationSeconds: s.sessionDurationSeconds,
    region: s.region, endpoint: s.endpoint ?? regionalStsEndpoint(s.region),
  };
}

function baseOf(files: AwsFiles, s: Settings, chain: string[]): Settings {
  const baseName = s.sourceProfile!;
  if (chain.includes(baseName)) {
    throw new KeyroleError('ProfileCycle', `the profiles source each other in a cycle: ${[...chain, baseName].join(' → ')}`, 'break the cycle: one profile in the chain must name a keychain source or SSO');
  }
  return resolveSettings(files, baseName, {}, localUser());
}

/** Credentials from AssumeRole or SSO are role credentials: STS refuses more than an hour on top of them. */
function chainedDuration(s: Settings, base: Settings | undefined): number {
  const baseIsRole = !base || !!base.roleArn || base.sourceKind !== 'keychain';
  return baseIsRole ? Math.min(s.durationSeconds, CHAINED_MAX_SECONDS) : s.durationSeconds;
}

/**
 * Tells every lock holder up the chain that a person is being asked (or no longer is), so
 * the callers waiting on any layer of it use the prompt bound, not the working one.
 */
type Notify = (state: 'prompt' | 'working') => void;
const both = (lock: HeldLock, up: Notify | undefined): Notify => (st) => { lock.setState(st); up?.(st); };

async function resolveChain(files: AwsFiles, s: Settings, store: CacheStore, o: ResolveOptions, chain: string[], up?: Notify): Promise<Resolved> {
  const meta = { profile: s.profile, source: s.source, roleArn: s.roleArn };
  const params = layerParams(files, s, chain);

  if (s.sourceKind === 'profile' || (s.sourceKind === 'sso' && s.roleArn)) {
    // A role assumed with another profile's (or SSO's) role credentials: role chaining.
    const base = s.sourceKind === 'profile' ? baseOf(files, s, chain) : undefined;
    const duration = chainedDuration(s, base);
    if (duration < s.durationSeconds) {
      debug(`profile ${s.profile} assumes its role with ${base ? `profile ${base.profile}'s` : 'IAM Identity Center'} role credentials (role chaining): STS caps that at ${CHAINED_MAX_SECONDS} s, so keyrole asks for ${CHAINED_MAX_SECONDS} s instead of ${s.durationSeconds} s`);
    }
    const roleArn = s.roleArn!;
    const via = base ? `profile ${base.profile}` : 'IAM Identity Center';
    return cached(store, params, duration, `role ${roleArn} (via ${via})`, async (lock) => {
      const under = base
        ? await resolveChain(files, base, store, o, [...chain, s.sourceProfile!], both(lock, up))
        : await resolveSso(s, store, both(lock, up));
      const t = await target(s);
      const credentials = await assumeRole(under.entry.credentials, t, roleInput(s, roleArn, duration));
      return { ...meta, credentials, clockOffsetMs: t.clockOffsetMs ?? 0 };
    });
  }
  if (s.sourceKind === 'sso') return resolveSso(s, store, up);

  // A keychain source with MFA: one GetSessionToken session per source and device, shared
  // by every role of that source, so the user types one code per working day, not one per
  // role. Roles are then assumed with the session's credentials (that is not chaining).
  if (s.mfaSerial && !s.mfaOnAssume) {
    if (!s.roleArn) return mfaSession(s, store, o, up);
    const roleArn = s.roleArn;
    return cached(store, params, s.durationSeconds, `role ${roleArn}`, async (lock) => {
      const session = await mfaSession(s, store, o, both(lock, up));
      const t = await target(s);
      const credentials = await assumeRole(session.entry.credentials, t, roleInput(s, roleArn, s.durationSeconds));
      return { ...meta, credentials, clockOffsetMs: t.clockOffsetMs ?? 0 };
    });
  }

  return cached(store, params, s.durationSeconds, s.roleArn ? `role ${s.roleArn}` : `a session of source "${s.source}"`, async (lock) => {
    const keys = await loadSource(s.source);
    debug(`source "${s.source}" read from the keychain (key ${redactKeyId(keys.accessKeyId)})`);
    const t = await target(s);
    let credentials: TempCredentials;
    if (s.roleArn) {
      const roleArn = s.roleArn;
      credentials = s.mfaSerial
        // keyrole_mfa_on_assume: the role's trust wants the code on the AssumeRole call itself.
        ? await withMfaCode(s, o, both(lock, up), (code) => assumeRole(keys, t, { ...roleInput(s, roleArn, s.durationSeconds), serialNumber: s.mfaSerial, tokenCode: code }))
        : await assumeRole(keys, t, roleInput(s, roleArn, s.durationSeconds));
    } else {
      credentials = await getSessionToken(keys, t, s.durationSeconds);
    }
    return { ...meta, credentials, clockOffsetMs: t.clockOffsetMs ?? 0 };
  });
}

/** The source's shared MFA session (GetSessionToken with a code), cached per source and device. */
function mfaSession(s: Settings, store: CacheStore, o: ResolveOptions, up: Notify | undefined): Promise<Resolved> {
  const serial = s.mfaSerial!;
  return cached(store, mfaSessionParams(s), s.sessionDurationSeconds, `the MFA session of source "${s.source}"`, async (lock) => {
    const keys = await loadSource(s.source);
    debug(`source "${s.source}" read from the keychain (key ${redactKeyId(keys.accessKeyId)}); MFA device ${serial}`);
    const t = await target(s);
    const credentials = await withMfaCode(s, o, both(lock, up), (code) => getSessionToken(keys, t, s.sessionDurationSeconds, { serialNumber: serial, tokenCode: code }));
    return { profile: s.profile, source: s.source, roleArn: undefined, credentials, clockOffsetMs: t.clockOffsetMs ?? 0 };
  });
}

/** IAM Identity Center: GetRoleCredentials, cached like any other credential. */
async function resolveSso(s: Settings, store: CacheStore, up: Notify | undefined): Promise<Resolved> {
  const sso = s.sso!;
  return cached(store, ssoParams(s), 3600, `IAM Identity Center role ${sso.roleName} in ${sso.accountId}`, async (lock) => {
    const { ssoRoleCredentials } = await import('../sso/sso.ts');
    const credentials = await ssoRoleCredentials(sso, { interactive: true, loginName: s.profile, onPrompt: both(lock, up) });
    return { profile: s.profile, source: s.source, roleArn: undefined, credentials, clockOffsetMs: 0 };
  });
}

function roleInput(s: Settings, roleArn: string, durationSeconds: number): AssumeRoleInput {
  return {
    roleArn, sessionName: s.sessionName, durationSeconds, externalId: s.externalId, sourceIdentity: s.sourceIdentity,
    tags: s.tags, transitiveTagKeys: s.transitiveTagKeys, policyArns: s.policyArns,
  };
}

/**
 * Gets a code and runs the MFA call with it. A code STS rejects is asked for once more at a
 * terminal (typos happen); a code this machine already used in its window is named as such.
 */
async function withMfaCode(s: Settings, o: ResolveOptions, notify: Notify, call: (code: string) => Promise<TempCredentials>): Promise<TempCredentials> {
  // Loaded here, not at the top: it needs node:child_process, which a cache hit must not pay for.
  const { mfaCode, recentlyUsed, rememberUsed } = await import('./mfa.ts');
  const serial = s.mfaSerial!;
  const request = { serial, profile: s.profile, mfaProcess: s.mfaProcess, token: o.mfaToken ?? process.env.KEYROLE_MFA_TOKEN, onPrompt: notify };
  let { code, from } = await mfaCode(request);
  for (let attempt = 1; ; attempt++) {
    if (recentlyUsed(serial, code)) {
      const err = new KeyroleError('MfaCodeReused', 'that MFA code was already used in the last 90 seconds, and STS accepts each code only once', 'wait for the next code and try again');
      if (from !== 'terminal' || attempt > 1) throw err;
      ({ code, from } = await mfaCode({ ...request, retryReason: 'that code was already used; wait for the next one' }));
      continue;
    }
    try {
      const out = await call(code);
      rememberUsed(serial, code);
      return out;
    } catch (err) {
      if (err instanceof KeyroleError && err.code === 'MfaCodeRejected' && from === 'terminal' && attempt === 1) {
        ({ code, from } = await mfaCode({ ...request, retryReason: 'STS rejected that code (wrong or already used); try the next one' }));
        continue;
      }
      throw err;
    }
  }
}

/** Expiration in the local clock's frame, so the caller refreshes on time by its own clock. */
export function localExpiration(e: CacheEntry): Date {
  return new Date(e.credentials.expiration.getTime() - e.clockOffsetMs);
}
