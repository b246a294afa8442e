// The credential cache. The AWS CLI runs keyrole once per command and no SDK caches
// process credentials across processes, so this cache is what makes keyrole cheap.
//
// Entries live in the OS keychain by default (they hold session secrets) or, when asked,
// in 0600 files under a private 0700 directory. Both stores hold the same JSON entries,
// keyed by a hash of every parameter that changes the credentials.

import { join } from 'node:path';
import { closeSync, constants, fstatSync, openSync, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { existingPrivateDir, keyroleHome, privateDir } from '../util/home.ts';
import { writeAtomic } from '../util/atomic.ts';
import { openToOthers } from '../util/platform.ts';
import { KeyroleError, type ErrorCode } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { deleteItem, getItem, getItemFast, listAccounts, setItemFast } from '../keychain/keychain.ts';
import { unlockDeferred } from '../keychain/unlocked.ts';
import { kernelCopiesPossible, kernelDelete, kernelEntries, kernelGet, kernelSet, kernelSweep, kernelTier } from '../keychain/tier.ts';
import type { TempCredentials } from '../aws/sts.ts';
import { credentialProblem } from './shape.ts';
import { servedAsIs as servedAsIsLeft } from './windows.ts';
import { jsonObject } from '../util/json.ts';
import type { StoreKind } from '../config/cachestore.ts';


export interface CacheEntry {
  /**
   * What produced it: paramsDigest(canonicalParams()) as keyrole writes it now, or the
   * canonical parameters themselves in entries older versions wrote (still read).
   */
  params: string;
  profile?: string;
  source: string;
  roleArn?: string;
  credentials: TempCredentials;
  /** Server clock minus local clock when the credentials were fetched (ms). */
  clockOffsetMs: number;
  storedAt: Date;
}

export interface CacheStore {
  readonly kind: StoreKind;
  readonly where: string;
  get(key: string): Promise<string | null>;
  /** durable: an entry only a person can renew (an MFA session), kept where it survives a reboot. */
  put(key: string, value: string, o?: { durable?: boolean }): Promise<void>;
  delete(key: string): Promise<boolean>;
  list(): Promise<{ key: string; value: string }[]>;
  /** The entries' names alone: what clearing needs (a keychain read per entry costs a D-Bus session). */
  keys(): Promise<string[]>;
}

// ---- what goes into the key ----

/** The parameters in a canonical form; stored in the entry and compared on every read. */
export function canonicalParams(params: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(params).sort().filter((k) => params[k] !== undefined).map((k) => [k, params[k]]));
}

/**
 * The entry's name: a 64-bit FNV-1a hash of the canonical parameters. Not cryptographic on
 * purpose: node:crypto costs ~4 ms to load, a tenth of a cache hit, and the name needs no
 * secrecy: the entry carries its canonical parameters and a read checks them, so a
 * collision can only cause a miss, never the wrong credentials.
 */
export function cacheKey(params: Record<string, unknown>): string {
  return fnv1a64(canonicalParams(params));
}

// FNV-1a over UTF-16 code units, in 32-bit lanes (Math.imul-free: every product stays below
// 2^53, so doubles hold it exactly). The same values as the BigInt form of the algorithm,
// which test/unit/cache.test.ts keeps as the reference, at a tenth of its cost on a cold
// start: BigInt arithmetic per character was ~0.5 ms of a hit.
const TWO32 = 4294967296;

/** 64-bit FNV-1a: offset basis 0xcbf29ce484222325, prime 2^40 + 0x1b3. */
export function fnv1a64(text: string): string {
  let lo = 0x84222325;
  let hi = 0xcbf29ce4;
  for (let i = 0; i < text.length; i++) {
    lo = (lo ^ text.charCodeAt(i)) >>> 0;
    // h * 0x1b3 + (h << 40), modulo 2^64
    const tlo = lo * 0x1b3;
    const carry = Math.floor(tlo / TWO32);
    hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) % TWO32;
    lo = tlo % TWO32;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** 128-bit FNV-1a: offset basis 0x6c62272e07bb014262b821756295c58d, prime 2^88 + 0x13b. */
export function fnv1a128(text: string): string {
  // l0 is the least significant lane.
  let l0 = 0x6295c58d, l1 = 0x62b82175, l2 = 0x07bb0142, l3 = 0x6c62272e;
  for (let i = 0; i < text.length; i++) {
    l0 = (l0 ^ text.charCodeAt(i)) >>> 0;
    // h << 88: l0's low 8 bits land at the top of lane 2, its other 24 bits at the bottom
    // of lane 3, l1's low 8 bits at the top of lane 3; the rest is beyond 2^128.
    const s2 = (l0 << 24) >>> 0;
    const s3 = ((l0 >>> 8) + ((l1 << 24) >>> 0)) % TWO32;
    // h * 0x13b, lane by lane with carries, plus the shifted part
    const t0 = l0 * 0x13b;
    const t1 = l1 * 0x13b + Math.floor(t0 / TWO32);
    const t2 = l2 * 0x13b + Math.floor(t1 / TWO32) + s2;
    const t3 = l3 * 0x13b + Math.floor(t2 / TWO32) + s3;
    l0 = t0 % TWO32;
    l1 = t1 % TWO32;
    l2 = t2 % TWO32;
    l3 = t3 % TWO32;
  }
  return [l3, l2, l1, l0].map((x) => x.toString(16).padStart(8, '0')).join('');
}

/**
 * What an entry stores about its parameters: a 128-bit FNV-1a digest of the canonical
 * parameters. Entries used to carry the parameters themselves (several hundred characters
 * with an SSO start URL, tags and policy ARNs); Windows' Credential Manager holds at most
 * 2,560 bytes of UTF-16 per credential (CRED_MAX_CREDENTIAL_BLOB_SIZE), and an entry with
 * a real 770-character AssumeRole token must fit in it. The digest keeps the read-time
 * check meaningful: it is independent of the entry's 64-bit name (another width, another
 * offset basis), so a name collision still reads as a miss. FNV, not SHA-256, for the
 * same reason as cacheKey: node:crypto is not loaded on a cache hit.
 */
export function paramsDigest(canonical: string): string {
  return `fnv128:${fnv1a128(canonical)}`;
}

/** Whether an entry's stored parameters (a digest, or an older version's canonical text) are these. */
export function sameParams(stored: string, canonical: string): boolean {
  return stored === canonical || stored === paramsDigest(canonical);
}

// ---- when an entry may be served ----
// The windows themselves are src/credentials/windows.ts's (one rule for time); an entry
// only adds its clock offset.

/** Milliseconds the entry has left on the server's clock, estimated from the local clock. */
export function remainingMs(e: CacheEntry, localNow: number): number {
  return e.credentials.expiration.getTime() - (localNow + e.clockOffsetMs);
}

/** Expiration in the local clock's frame, so the caller refreshes on time by its own clock. */
export function localExpiration(e: CacheEntry): Date {
  return new Date(e.credentials.expiration.getTime() - e.clockOffsetMs);
}

/** Whether the entry is served as it is, without renewing it (src/credentials/windows.ts servedAsIs). */
export function servedAsIs(e: CacheEntry, durationSeconds: number, localNow: number): boolean {
  return servedAsIsLeft(remainingMs(e, localNow), durationSeconds);
}

// ---- entry codec ----

export function encodeEntry(e: CacheEntry): string {
  const c = e.credentials;
  return JSON.stringify({
    keyrole: 1,
    kind: 'cache',
    params: e.params,
    profile: e.profile,
    source: e.source,
    roleArn: e.roleArn,
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    SessionToken: c.sessionToken,
    Expiration: c.expiration.toISOString(),
    AccountId: c.accountId,
    Arn: c.arn,
    ClockOffsetMs: e.clockOffsetMs,
    StoredAt: e.storedAt.toISOString(),
  });
}

const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
// src/clock/estimate.ts corrects offsets below 15 minutes and refuses larger ones, so no entry keyrole
// wrote holds more; a larger one would also push the local expiration out of Date's range.
const MAX_STORED_OFFSET_MS = 15 * 60_000;

/**
 * Undefined for anything keyrole did not write whole: such entries are ignored and replaced.
 * The credentials are checked as they were when they entered (src/credentials/shape.ts).
 */
export function decodeEntry(raw: string): CacheEntry | undefined {
  const v = jsonObject(raw);
  if (v?.keyrole !== 1 || v.kind !== 'cache') return undefined;
  if (!str(v.Expiration) || !str(v.source) || !str(v.params)) return undefined;
  const expiration = new Date(v.Expiration);
  if (credentialProblem({ accessKeyId: v.AccessKeyId, secretAccessKey: v.SecretAccessKey, sessionToken: v.SessionToken, expiration })) return undefined;
  const stored = new Date(str(v.StoredAt) ? v.StoredAt : 0);
  const storedAt = isNaN(stored.getTime()) ? new Date(0) : stored;
  // A missing or non-numeric offset counts as none; a number out of bounds is not keyrole's.
  if (typeof v.ClockOffsetMs === 'number' && !(Math.abs(v.ClockOffsetMs) <= MAX_STORED_OFFSET_MS)) return undefined;
  const offset = typeof v.ClockOffsetMs === 'number' ? v.ClockOffsetMs : 0;
  return {
    params: v.params,
    profile: str(v.profile) ? v.profile : undefined,
    source: v.source,
    roleArn: str(v.roleArn) ? v.roleArn : undefined,
    credentials: {
      accessKeyId: v.AccessKeyId as string,
      secretAccessKey: v.SecretAccessKey as string,
      sessionToken: v.SessionToken as string,
      expiration,
      accountId: str(v.AccountId) ? v.AccountId : undefined,
      arn: str(v.Arn) ? v.Arn : undefined,
    },
    clockOffsetMs: offset,
    storedAt,
  };
}

// ---- stores ----

export const CACHE_SERVICE = 'keyrole:cache';

export function keychainStore(): CacheStore {
  // Linux: the Secret Service keeps every entry; an entry keyrole can renew by itself is
  // also copied to the kernel keyring where this session may write to it, and reads look
  // there first (src/keychain/tier.ts kernelTier).
  const kernel = kernelTier();
  // Clearing reaches the copies even where they are not read (KEYROLE_KERNEL_CACHE=off now,
  // on when they were made): forgetting an entry forgets it everywhere.
  const copies = kernelCopiesPossible();
  return {
    kind: 'keychain',
    where: 'keychain',
    async get(key) {
      if (kernel) {
        const v = kernelGet(CACHE_SERVICE, key);
        if (v !== null) return v;
      }
      // `keyrole process` leaves the file store locked until it reads it (src/keychain/prepare.ts):
      // a hit from the kernel copy above asks no passphrase.
      await unlockDeferred();
      return getItemFast(CACHE_SERVICE, key, 'read the credential cache', false);
    },
    async put(key, value, o) {
      if (kernel && !o?.durable) {
        // Expired copies must not fill the kernel's per-user quota: tidied on every write
        // (a miss), never on a hit.
        kernelSweep(CACHE_SERVICE, expiredCopy);
        // A copy the kernel refused must not leave an older one to be read first.
        if (!kernelSet(CACHE_SERVICE, key, value)) kernelDelete(CACHE_SERVICE, key);
      }
      return setItemFast(CACHE_SERVICE, key, value, 'write the credential cache');
    },
    async delete(key) {
      const inKernel = copies && kernelDelete(CACHE_SERVICE, key);
      return deleteItem(CACHE_SERVICE, key, 'clear the credential cache') || inKernel;
    },
    list: async () => listKeychainEntries(kernel),
    keys: async () => [...new Set([...(copies ? kernelEntries(CACHE_SERVICE).map((e) => e.account) : []), ...listAccounts(CACHE_SERVICE, 'list the credential cache')])],
  };
}

/** A kernel copy that no read could serve any more: expired, or not a cache entry keyrole wrote. */
function expiredCopy(value: string, now = Date.now()): boolean {
  const e = decodeEntry(value);
  return !e || remainingMs(e, now) <= 0;
}

/** Every entry of both tiers, each key once (the kernel keyring's copy is the one reads see first). */
function listKeychainEntries(kernel: boolean): { key: string; value: string }[] {
  const out = new Map<string, string>();
  if (kernel) for (const { account, value } of kernelEntries(CACHE_SERVICE)) out.set(account, value);
  for (const key of listAccounts(CACHE_SERVICE, 'list the credential cache')) {
    if (!out.has(key)) out.set(key, getItem(CACHE_SERVICE, key, 'read the credential cache') ?? '');
  }
  return [...out].map(([key, value]) => ({ key, value }));
}

function cacheFileName(key: string): string {
  if (!/^[0-9a-f]{16}$/.test(key)) throw new KeyroleError('BadCacheKey', `invalid cache key ${key}`, 'this is a bug in keyrole');
  return `${key}.json`;
}

export function fileStore(): CacheStore {
  const dir = join(keyroleHome(), 'cache');
  const ready = () => {
    privateDir(keyroleHome());
    return privateDir(dir);
  };
  return {
    kind: 'file',
    where: dir,
    async get(key) {
      const path = join(dir, cacheFileName(key));
      // The directories are checked before the read, miss or hit: an unsafe store is refused
      // here, since a refused write no longer fails the call (src/credentials/cached.ts).
      // A directory that does not exist yet is a miss: only put creates it.
      if (!existingPrivateDir(keyroleHome()) || !existingPrivateDir(dir)) return null;
      let fd: number;
      try {
        fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return null;
        if (code === 'ELOOP') throw new KeyroleError('CacheFileSymlink', `${path} is a symbolic link`, `delete it: keyrole cache clear`);
        debug(`cache file ${path} unreadable (${code}); treating as a miss`);
        return null;
      }
      try {
        const st = fstatSync(fd);
        if (openToOthers(st.mode)) throw new KeyroleError('CacheFileExposed', `${path} is readable or writable by others (mode ${(st.mode & 0o777).toString(8)})`, 'delete it: keyrole cache clear');
        return readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    },
    async put(key, value) {
      ready();
      const path = join(dir, cacheFileName(key));
      try {
        writeAtomic(path, value);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new KeyroleError('CacheWriteFailed', `cannot write the cache file in ${dir} (${code ?? (err as Error).message})`, code === 'ENOSPC' ? 'free some disk space' : 'check the directory, or use KEYROLE_CACHE=keychain');
      }
    },
    async delete(key) {
      try {
        unlinkSync(join(dir, cacheFileName(key)));
        return true;
      } catch {
        return false;
      }
    },
    async keys() {
      let names: string[];
      try {
        if (!existingPrivateDir(keyroleHome()) || !existingPrivateDir(dir)) return [];
        names = readdirSync(dir);
      } catch (err) {
        if (err instanceof KeyroleError) throw err;
        return [];
      }
      return names.map((n) => /^([0-9a-f]{16})\.json$/.exec(n)?.[1]).filter((k): k is string => k !== undefined);
    },
    async list() {
      const out: { key: string; value: string }[] = [];
      for (const key of await this.keys()) {
        try { out.push({ key, value: (await this.get(key)) ?? '' }); } catch { out.push({ key, value: '' }); }
      }
      return out;
    },
  };
}

export function noStore(): CacheStore {
  return { kind: 'none', where: 'nowhere', get: async () => null, put: async () => {}, delete: async () => false, list: async () => [], keys: async () => [] };
}

export function openStore(kind: StoreKind): CacheStore {
  return kind === 'file' ? fileStore() : kind === 'none' ? noStore() : keychainStore();
}

/**
 * Failures of the store itself, which a read reports instead of calling them a miss: an
 * unsafe cache directory or file (fetching anew would write into it), and a keychain that
 * cannot be used (the source read that follows would fail the same way, less clearly).
 */
const STORE_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CacheDirForeign', 'CacheDirSymlink', 'CacheDirUnusable', 'CacheDirWritable', 'CacheFileExposed', 'CacheFileSymlink', 'SealKeyUnsafe',
  'NoSecretService', 'KeychainLocked', 'KeychainError', 'KeychainValueTooLarge', 'KeychainAmbiguous', 'KeychainTimeout', 'KeychainBadBus', 'KeychainReadBack',
  // The file store's unlocking (a miss of the kernel copy unlocks it: keychainStore's get).
  'FileStoreLocked', 'FileStoreMissing', 'FileStoreNoPassphrase', 'FileStoreUnusable', 'FileStoreWrongPassphrase', 'PassphraseMismatch', 'PassphraseSourceFailed',
]);

/** Reads an entry; anything unreadable or written for other parameters is a miss, noted in --debug, never a crash. */
export async function lookup(store: CacheStore, key: string, params?: string): Promise<CacheEntry | undefined> {
  let raw: string | null;
  try {
    raw = await store.get(key);
  } catch (err) {
    if (err instanceof KeyroleError && STORE_FAILURES.has(err.code)) throw err;
    debug(`cache entry ${key.slice(0, 8)} unreadable (${(err as Error).message}); fetching anew`);
    return undefined;
  }
  if (raw === null) return undefined;
  const entry = decodeEntry(raw);
  if (!entry) {
    debug(`cache entry ${key.slice(0, 8)} in the ${store.kind} store is corrupt or foreign; it will be replaced`);
    return undefined;
  }
  if (params !== undefined && !sameParams(entry.params, params)) {
    debug(`cache entry ${key.slice(0, 8)} was written for other parameters (a hash collision); it will be replaced`);
    return undefined;
  }
  return entry;
}
