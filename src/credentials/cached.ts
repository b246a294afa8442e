// Caching as a decorator around any provider: a layer's credentials are served from the
// store while fresh, otherwise fetched by exactly one process (single flight across
// processes) and stored. The layer (src/credentials/plan.ts) owns its key.

import { debug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { KeyroleError, isTransient } from '../util/errors.ts';
import { encodeEntry, fresh, lookup, paramsDigest, remainingMs, type CacheEntry, type CacheStore } from './cache.ts';
import { keyroleHome, privateDir } from '../util/home.ts';
import { singleFlight, type HeldLock } from './lock.ts';
import { asksForCode, type Layer } from './plan.ts';
import type { Fetched } from './providers/types.ts';

export interface Resolved {
  entry: CacheEntry;
  fromCache: boolean;
  store: CacheStore;
}

// botocore's 15-minute refresh is advisory and its clients keep working on what they have:
// when AWS cannot be reached or is failing, credentials that still have more than the JS
// SDK's 5-minute expiry window (plus a minute) are better than an error. A refusal (any
// 4xx: AccessDenied, ExpiredToken, …) is never answered that way.
const STALE_SERVE_MIN_MS = 6 * 60 * 1000;

export async function cached(store: CacheStore, layer: Layer, fetch: (lock: HeldLock) => Promise<Fetched>): Promise<Resolved> {
  const { key, canonical, label: what, durationSeconds } = layer;
  let stale: CacheEntry | undefined;
  const usable = async () => {
    const e = await lookup(store, key, canonical);
    if (e && fresh(e, durationSeconds, Date.now())) return e;
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
  }, () => privateDir(keyroleHome()));
  try {
    const entry = await attempt();
    return { entry, fromCache: !fetched, store };
  } catch (err) {
    const left = stale ? remainingMs(stale, Date.now()) : 0;
    if (stale && left > STALE_SERVE_MIN_MS && isTransient(err)) {
      debug(`refresh failed (${(err as KeyroleError).line()}); serving the cached ${what}, which still has ${Math.round(left / 1000)} s left`);
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
