// From settings to credentials: the planner (src/credentials/plan.ts) says what the
// profile's credential consists of and where each layer is cached; each layer is resolved
// by its provider (src/credentials/providers/) behind the cache decorator (cached.ts).
// This is the whole hot path; a hit touches the config, the cache store and nothing else:
// STS, the clock check, MFA and SSO are imported when a miss needs them.

import { KeyroleError } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { openStore, parseStoreKind, type CacheEntry, type CacheStore, type StoreKind } from './cache.ts';
import type { HeldLock } from './lock.ts';
import { loadSource } from '../keychain/keychain.ts';
import { unlockDeferred } from '../keychain/unlocked.ts';
import type { StsTarget, TempCredentials } from '../aws/sts.ts';
import { section, type AwsFiles } from '../config/files.ts';
import type { Settings } from '../config/settings.ts';
import type { ClockHook } from '../clock/clock.ts';
import { planProfile, type Layer } from './plan.ts';
import { cached, type Resolved } from './cached.ts';
import { PROVIDERS } from './providers/index.ts';
import type { Notify, ProviderDeps } from './providers/types.ts';

export { localUser } from './user.ts';
export type { Resolved } from './cached.ts';

/** --cache flag, then KEYROLE_CACHE, then the profile's keyrole_cache, then the keychain. */
export function storeKindFor(files: AwsFiles, s: Settings, flag?: string): StoreKind {
  if (flag) return parseStoreKind(flag, '--cache');
  if (process.env.KEYROLE_CACHE) return parseStoreKind(process.env.KEYROLE_CACHE, 'KEYROLE_CACHE');
  const fromProfile = s.profile ? section(files.config, s.profile)?.keyrole_cache : undefined;
  if (fromProfile) return parseStoreKind(fromProfile, `keyrole_cache in profile ${s.profile}`);
  return 'keychain';
}

/**
 * The clock check of this run (src/clock): measures the offset of this machine's clock
 * (server minus local, ms) when the first STS call is about to be made, never on a cache
 * hit; each call then signs on the corrected clock and leaves the offset to store with its
 * credentials in StsTarget.clockOffsetMs.
 */
let runClock: ClockHook | undefined;
// The settings of the profile the run was asked for: its keyrole_ntp_servers name the
// servers, not those of a base profile whose layer happens to call STS first.
let runSettings: Settings | undefined;
/**
 * Starts a new run in a process that serves many (the endpoint of `serve`: one per request
 * that resolves): the next STS call checks the clock afresh instead of keeping this
 * process's first verdict, a failure included, for days.
 */
export function newRun(): void {
  runClock = undefined;
  runSettings = undefined;
}
async function clockFor(s: Settings): Promise<ClockHook> {
  const { clockSession } = await import('../clock/clock.ts');
  runClock ??= clockSession({ profileServers: () => (runSettings ?? s).ntpServers });
  return runClock;
}

/** Where a profile's STS calls go and whom they trust: the one place Settings become an StsTarget. */
export function stsTarget(s: Settings, clockOffsetMs = 0): StsTarget {
  return { region: s.region, endpoint: s.endpoint, endpointFrom: s.endpointFrom, caBundle: s.caBundle, clockOffsetMs };
}

/** An STS target with this run's clock check (also for calls made on credentials keyrole already holds: whoami). */
export async function target(s: Settings): Promise<StsTarget> {
  return { ...stsTarget(s), clock: await clockFor(s) };
}

export interface ResolveOptions {
  /** A code given up front (--mfa-token / KEYROLE_MFA_TOKEN). */
  mfaToken?: string;
  /**
   * No person is to be asked at the terminal (the endpoint of `exec --server` and `serve`,
   * whose terminal belongs to the program it serves): MFA only from mfa_process or a
   * dialog, and no SSO sign-in; the failure names `keyrole login`.
   */
  noTerminal?: boolean;
  /** Fetch every layer anew, whatever the cache holds (`keyrole login` of an MFA profile: a new session with the code). */
  renew?: boolean;
}

export async function resolveCredentials(files: AwsFiles, s: Settings, cacheFlag?: string, o: ResolveOptions = {}): Promise<Resolved> {
  runSettings ??= s;
  const store = openStore(storeKindFor(files, s, cacheFlag));
  const plan = planProfile(files, s);
  if (plan.how) debug(`profile ${s.profile ?? '(command line)'}: ${plan.how}`);
  return resolveLayer(plan, store, o.renew ? { ...o, renewSince: Date.now() } : o);
}

/** Tells the lock holders up the chain what this one is doing. */
const both = (lock: HeldLock, up: Notify | undefined): Notify => (st) => { lock.setState(st); up?.(st); };

/** One layer through the cache; its provider is called only on a miss, by one process. */
export function resolveLayer(layer: Layer, store: CacheStore, o: ResolveOptions & { renewSince?: number } = {}, up?: Notify): Promise<Resolved> {
  return cached(store, layer, (lock) => {
    const notify = both(lock, up);
    const deps: ProviderDeps = {
      loadSource, target,
      assumeRole: async (...a) => (await import('../aws/sts.ts')).assumeRole(...a),
      getSessionToken: async (...a) => (await import('../aws/sts.ts')).getSessionToken(...a),
      withMfaCode: (s, n, call) => withMfaCode(s, o, n, call),
      ssoRoleCredentials: async (sso, n, loginName) => {
        const { ssoRoleCredentials } = await import('../sso/sso.ts');
        return ssoRoleCredentials(sso, { interactive: !o.noTerminal, loginName, onPrompt: n });
      },
      loginCredentials: async (login, s, n) => {
        const { loginCredentials } = await import('../login/session.ts');
        return loginCredentials(login, s.profile ?? '(command line)', s.caBundle, { interactive: !o.noTerminal, onPrompt: n });
      },
      resolveUnder: async (under: Layer, n: Notify): Promise<CacheEntry> => (await resolveLayer(under, store, o, n)).entry,
    };
    // A fetch reads the keychain (a source, a sign-in record): `keyrole process` unlocks the file store only now (src/keychain/prepare.ts).
    return unlockDeferred().then(() => PROVIDERS[layer.kind](layer, deps, notify));
  }, { renewSince: o.renewSince });
}

/**
 * Gets a code and runs the MFA call with it. A code STS rejects is asked for once more at a
 * terminal (typos happen); a code this machine already used in its window is named as such.
 */
async function withMfaCode(s: Settings, o: ResolveOptions, notify: Notify, call: (code: string) => Promise<TempCredentials>): Promise<TempCredentials> {
  // Loaded here, not at the top: it needs node:child_process, which a cache hit must not pay for.
  const { mfaCode, recentlyUsed, rememberUsed } = await import('./mfa.ts');
  const serial = s.mfaSerial!;
  const request = { serial, profile: s.profile, mfaProcess: s.mfaProcess, token: o.mfaToken ?? process.env.KEYROLE_MFA_TOKEN, onPrompt: notify, noTerminal: o.noTerminal };
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
