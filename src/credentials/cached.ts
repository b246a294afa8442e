// Caching as a decorator around any provider: a layer's credentials are served from the
// store while outside their refresh window (src/credentials/windows.ts), otherwise fetched by exactly one process (single flight across
// processes) and stored. The layer (src/credentials/plan.ts) owns its key.

import { debug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { KeyroleError, isTransient } from '../util/errors.ts';
import { encodeEntry, lookup, paramsDigest, remainingMs, servedAsIs, type CacheEntry, type CacheStore } from './cache.ts';
import { usableAfterFailedRenewal } from './windows.ts';
import { keyroleHome, privateDir } from '../util/home.ts';
import { SIGN_IN_BOUNDS, singleFlight, waitBounds, type HeldLock, type WaitBounds } from './lock.ts';
import { asksForCode, loginOf, ssoOf, type Layer } from './plan.ts';
import type { Fetched } from './providers/types.ts';

export interface Resolved {
  entry: CacheEntry;
  fromCache: boolean;
  store: CacheStore;
}

// botocore's 15-minute refresh is advisory and its clients keep working on what they have.
// When a renewal fails because AWS cannot be reached or is failing, or because it needs a
// person nobody can ask (the endpoint of `exec --server` and `serve` never prompts; a
// credential_process call may have no terminal), the credentials a layer still holds are
// better than an error (src/credentials/windows.ts usableAfterFailedRenewal: to their last
// minute when a person is needed, to six minutes when AWS is failing):
// a role whose IAM Identity Center sign-in ended, or whose MFA session needs a new code,
// works to its own end. A refusal (any 4xx: AccessDenied, ExpiredToken, …) is never
// answered that way: AWS said those credentials must not be used.
// An AWS Sign-In session that ended (or needs a sign-in) is a refusal of the refresh token, not
// of the credentials it gave: those work to their end.
const NEEDS_PERSON: ReadonlySet<string> = new Set(['MfaNoPrompt', 'SsoLoginRequired', 'LoginExpired', 'LoginRequired']);

/** Why credentials a failed renewal could not replace may still be served after `err` (usableAfterFailedRenewal); undefined: never. */
export function servableAfter(err: unknown): 'transient' | 'needs a person' | undefined {
  if (isTransient(err)) return 'transient';
  return err instanceof KeyroleError && NEEDS_PERSON.has(err.code) ? 'needs a person' : undefined;
}

/**
 * `renewSince`: serve nothing stored before this moment (`keyrole login` of an MFA profile
 * renews the session whatever it has left); what another process stored after it counts.
 */
/**
 * How long a waiter on this layer's lock waits for its holder: a layer over an IAM Identity
 * Center or AWS Sign-In session may be held by a browser sign-in, so its waiters wait as
 * long as that may take (SIGN_IN_BOUNDS), not an MFA prompt's two minutes.
 */
export function waitBoundsFor(layer: Layer): WaitBounds {
  return waitBounds(ssoOf(layer) || loginOf(layer) ? SIGN_IN_BOUNDS : undefined);
}

export async function cached(store: CacheStore, layer: Layer, fetch: (lock: HeldLock) => Promise<Fetched>, o: { renewSince?: number } = {}): Promise<Resolved> {
  const { key, canonical, label: what, durationSeconds } = layer;
  let stale: CacheEntry | undefined;
  const usable = async () => {
    const e = await lookup(store, key, canonical);
    const renewing = o.renewSince !== undefined && e !== undefined && e.storedAt.getTime() < o.renewSince;
    if (e && !renewing && servedAsIs(e, durationSeconds, Date.now())) return e;
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
    const e: CacheEntry = { ...(await fetch(lock)), params: paramsDigest(canonical), storedAt: new Date() };
    fetched = true;
    if (remainingMs(e, Date.now()) <= 0) {
      throw new KeyroleError('ExpiredOnArrival', 'STS returned credentials that are already expired by this machine\'s clock', 'check the system clock');
    }
    await storeEntry(store, key, encodeEntry(e), what, { durable: asksForCode(layer) });
    return e;
  }, () => privateDir(keyroleHome()), waitBoundsFor(layer));
  try {
    const entry = await attempt();
    return { entry, fromCache: !fetched, store };
  } catch (err) {
    const left = stale ? remainingMs(stale, Date.now()) : 0;
    const why = servableAfter(err);
    // A renewal asked for by a person (keyrole login) reports its failure: it is what they asked about.
    if (stale && why && o.renewSince === undefined && usableAfterFailedRenewal(left, why)) {
      debug(`refresh failed (${why}: ${(err as KeyroleError).line()}); serving the cached ${what}, which still has ${Math.round(left / 1000)} s left`);
      return { entry: stale, fromCache: true, store };
    }
    throw err;
  }
}

/**
 * Stores a fetched entry. STS (or the person at an MFA prompt) already answered: a store
 * that refuses the entry (a full disk, a keychain that is locked or refuses the size) costs
 * the next caller a fetch, never this caller its credentials. One stderr line says so
 * (credential_process callers show stderr only on failure; a person running keyrole sees it).
 */
export async function storeEntry(store: CacheStore, key: string, value: string, what: string, o?: { durable?: boolean }): Promise<void> {
  try {
    await store.put(key, value, o);
    debug(`stored ${what} in the ${store.kind} store`);
  } catch (err) {
    const why = err instanceof KeyroleError ? err.line() : (err as Error).message;
    debug(`storing ${what} in the ${store.kind} store failed: ${why}`);
    process.stderr.write(`keyrole: warning: the credentials were not cached (${printable(why)}); the next call fetches anew\n`);
  }
}
