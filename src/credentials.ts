// From settings to credentials: the cache in front, single flight behind it, STS last.
// This is the whole hot path; a hit touches the config, the cache store and nothing else.

import { userInfo } from 'node:os';
import { debug, redactKeyId } from './debug.ts';
import { KeyroleError } from './errors.ts';
import { cacheKey, canonicalParams, encodeEntry, fresh, keyroleHome, lookup, openStore, parseStoreKind, privateDir, remainingMs, type CacheEntry, type CacheStore, type StoreKind } from './cache.ts';
import { singleFlight } from './lock.ts';
import { readSource } from './keychain.ts';
import { assumeRole, endpointLabel, getSessionToken, type StsTarget } from './sts.ts';
import { section, type AwsFiles, type Settings } from './config.ts';

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
    endpoint: s.endpoint ?? `https://sts.${s.region}.amazonaws.com`,
  };
}

export function keyFor(s: Settings): string {
  return cacheKey(paramsFor(s));
}

function target(s: Settings, clockOffsetMs: number): StsTarget {
  return { region: s.region, endpoint: s.endpoint, endpointFrom: s.endpointFrom, clockOffsetMs };
}

async function fetchFromSts(s: Settings, params: string): Promise<CacheEntry> {
  const keys = readSource(s.source);
  debug(`source "${s.source}" read from the keychain (key ${redactKeyId(keys.accessKeyId)})`);
  const clockOffsetMs = 0;
  const t = target(s, clockOffsetMs);
  const credentials = s.roleArn
    ? await assumeRole(keys, t, { roleArn: s.roleArn, sessionName: s.sessionName, durationSeconds: s.durationSeconds })
    : await getSessionToken(keys, t, s.durationSeconds);
  return { params, profile: s.profile, source: s.source, roleArn: s.roleArn, credentials, clockOffsetMs, storedAt: new Date() };
}

export interface Resolved {
  entry: CacheEntry;
  fromCache: boolean;
  store: CacheStore;
}

export async function resolveCredentials(files: AwsFiles, s: Settings, cacheFlag?: string): Promise<Resolved> {
  const store = openStore(storeKindFor(files, s, cacheFlag));
  const key = keyFor(s);
  const params = canonicalParams(paramsFor(s));
  const usable = () => {
    const e = lookup(store, key, params);
    if (e && fresh(e, s.durationSeconds, Date.now())) return e;
    if (e) debug(`cached credentials have ${Math.round(remainingMs(e, Date.now()) / 1000)} s left, under the refresh window; fetching new ones`);
    return undefined;
  };

  const hit = usable();
  if (hit) {
    debug(`cache hit in the ${store.kind} store (${key.slice(0, 8)}), ${Math.round(remainingMs(hit, Date.now()) / 1000)} s left`);
    return { entry: hit, fromCache: true, store };
  }
  debug(`cache miss in the ${store.kind} store (${key.slice(0, 8)}); STS endpoint ${endpointLabel(target(s, 0))}`);

  let fetched = false;
  const entry = await singleFlight(key, usable, async () => {
    const e = await fetchFromSts(s, params);
    fetched = true;
    if (remainingMs(e, Date.now()) <= 0) {
      throw new KeyroleError('ExpiredOnArrival', 'STS returned credentials that are already expired by this machine\'s clock', 'check the system clock');
    }
    store.put(key, encodeEntry(e));
    debug(`stored in the ${store.kind} store`);
    return e;
  }, () => privateDir(keyroleHome()));
  return { entry, fromCache: !fetched, store };
}

/** Expiration in the local clock's frame, so the caller refreshes on time by its own clock. */
export function localExpiration(e: CacheEntry): Date {
  return new Date(e.credentials.expiration.getTime() - e.clockOffsetMs);
}
