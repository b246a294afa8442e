// From settings to credentials: the planner (src/credentials/plan.ts) says what the
// profile's credential consists of and where each layer is cached; each layer is resolved
// by its provider (src/credentials/providers/, one module per layer kind) behind the cache
// decorator (cached.ts). This module only wires them: the store is the settings' choice
// (src/config/cachestore.ts), the STS target and this run's clock check are target.ts and
// src/clock/run.ts, the MFA retry policy is mfa-retry.ts.
//
// This is the whole hot path; a hit touches the config, the cache store and nothing else:
// STS, the clock check, MFA and SSO are imported when a miss needs them.

import { loadSource } from '../keychain/sources.ts';
import type { AwsFiles } from '../config/files.ts';
import { unlockDeferred } from '../keychain/unlocked.ts';
import type { Settings } from '../config/settings.ts';
import { storeKind } from '../config/cachestore.ts';
import { debug } from '../util/debug.ts';
import { runFor } from '../clock/run.ts';
import { openStore, type CacheEntry, type CacheStore } from './cache.ts';
import type { HeldLock } from './lock.ts';
import { planProfile, type Layer } from './plan.ts';
import { cached, type Resolved } from './cached.ts';
import { target } from './target.ts';
import { PROVIDERS } from './providers/index.ts';
import type { Notify, ProviderDeps } from './providers/types.ts';

export type { Resolved } from './cached.ts';

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

export async function resolveCredentials(files: AwsFiles, s: Settings, o: ResolveOptions = {}): Promise<Resolved> {
  runFor(s);
  const store = openStore(storeKind(s.cache));
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
      withMfaCode: async (s, n, call) => (await import('./mfa-retry.ts')).withMfaCode(s, o, n, call),
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
