// keyrole's record of an IAM Identity Center session in the keychain (the client
// registration and, once signed in, the token): its JSON codec, reading and writing it, and
// the rules that judge a token or a registration. Never in a plaintext file.

import { debug } from '../util/debug.ts';
import { KeyroleError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';
import { deleteItem, getItem, setItem } from '../keychain/keychain.ts';
import { describeSession, sessionId, type SsoSessionRef } from './session.ts';
import { jsonObject, nonEmpty } from '../util/json.ts';

/** A session's record in the keychain: the client registration and, once logged in, the token. */
export interface SsoRecord {
  startUrl: string;
  region: string;
  scopes: string[];
  clientId?: string;
  clientSecret?: string;
  registrationExpiresAt?: Date;
  accessToken?: string;
  expiresAt?: Date;
  refreshToken?: string;
  /** When keyrole got this access token (a forced login waits for a newer one). */
  obtainedAt?: Date;
}

/** What CreateToken answered, checked (src/sso/client.ts tokenAnswer). */
export interface TokenAnswer { accessToken: string; expiresIn: number; refreshToken?: string }

/** A usable access token and where it came from. */
export interface SsoToken {
  accessToken: string;
  expiresAt: Date;
  from: 'keychain' | 'aws-cache';
  refreshable: boolean;
}

export const SSO_SERVICE = 'keyrole:sso';
/** A client registration is reused for a new login while it has at least this long to live. */
export const REGISTRATION_REUSE_MS = 24 * 3600_000;

const iso = (d: Date | undefined) => d?.toISOString();

export function encodeRecord(r: SsoRecord): string {
  return JSON.stringify({
    keyrole: 1,
    kind: 'sso-session',
    startUrl: r.startUrl,
    region: r.region,
    scopes: r.scopes,
    clientId: r.clientId,
    clientSecret: r.clientSecret,
    registrationExpiresAt: iso(r.registrationExpiresAt),
    accessToken: r.accessToken,
    expiresAt: iso(r.expiresAt),
    refreshToken: r.refreshToken,
    obtainedAt: iso(r.obtainedAt),
  });
}

/** A time as the AWS tools write it, else undefined. */
export function date(v: unknown): Date | undefined {
  const raw = nonEmpty(v);
  if (!raw) return undefined;
  // Older AWS CLI versions wrote "2019-11-14T04:05:45UTC".
  const d = new Date(raw.replace(/UTC$/, 'Z'));
  return isNaN(d.getTime()) ? undefined : d;
}

/** Undefined for anything keyrole did not write. */
export function decodeRecord(raw: string): SsoRecord | undefined {
  const v = jsonObject(raw);
  if (v?.keyrole !== 1 || v.kind !== 'sso-session') return undefined;
  const startUrl = nonEmpty(v.startUrl);
  const region = nonEmpty(v.region);
  if (!startUrl || !region) return undefined;
  const scopes = Array.isArray(v.scopes) ? v.scopes.filter((x): x is string => typeof x === 'string') : [];
  const accessToken = nonEmpty(v.accessToken);
  const expiresAt = date(v.expiresAt);
  return {
    startUrl,
    region,
    scopes,
    clientId: nonEmpty(v.clientId),
    clientSecret: nonEmpty(v.clientSecret),
    registrationExpiresAt: date(v.registrationExpiresAt),
    // A token without a readable expiry is no token.
    ...(accessToken && expiresAt ? { accessToken, expiresAt } : {}),
    refreshToken: nonEmpty(v.refreshToken),
    obtainedAt: date(v.obtainedAt),
  };
}

/** The session's record, if it is for this start URL and region (a changed sso-session starts over). */
export function readRecord(ref: SsoSessionRef): SsoRecord | undefined {
  const raw = getItem(SSO_SERVICE, sessionId(ref), `read the IAM Identity Center token of ${describeSession(ref)}`);
  if (raw === null) return undefined;
  const r = decodeRecord(raw);
  if (!r) {
    debug(`the keychain entry for ${describeSession(ref)} is not in keyrole's format; ignoring it`);
    return undefined;
  }
  if (r.startUrl !== ref.startUrl || r.region !== ref.ssoRegion) {
    debug(`the keychain entry for ${describeSession(ref)} is for ${r.startUrl} in ${r.region}; ignoring it`);
    return undefined;
  }
  return r;
}

export function writeRecord(ref: SsoSessionRef, r: SsoRecord): void {
  setItem(SSO_SERVICE, sessionId(ref), encodeRecord(r), `store the IAM Identity Center token of ${describeSession(ref)}`);
}

/**
 * Stores a record the service (and the person who approved the sign-in) already handed
 * over: a keychain that refuses it costs the next call a sign-in, never this one its token.
 */
export function keepRecord(ref: SsoSessionRef, r: SsoRecord): void {
  try {
    writeRecord(ref, r);
  } catch (err) {
    const why = err instanceof KeyroleError ? err.line() : (err as Error).message;
    debug(`storing the token of ${describeSession(ref)} failed: ${why}`);
    process.stderr.write(`keyrole: warning: the IAM Identity Center token was not stored (${printable(why)}); the next call signs in again\n`);
  }
}

/** Forgets keyrole's token (and registration) for a session. */
export function forgetSession(ref: SsoSessionRef): boolean {
  return deleteItem(SSO_SERVICE, sessionId(ref), `remove the IAM Identity Center token of ${describeSession(ref)}`);
}

/** A session's record before it has a token: the session and the client registration that signs in. */
export function newRecord(ref: SsoSessionRef, reg: Pick<SsoRecord, 'clientId' | 'clientSecret' | 'registrationExpiresAt'>): SsoRecord {
  return { startUrl: ref.startUrl, region: ref.ssoRegion, scopes: ref.registrationScopes, clientId: reg.clientId, clientSecret: reg.clientSecret, registrationExpiresAt: reg.registrationExpiresAt };
}

/**
 * The record after a token answer, a sign-in's or a refresh's: `base` is the record the token
 * was asked for with (a new one, newRecord, or the one refreshed), whose registration refreshes
 * it later; a refresh that sends no new refresh token keeps the old one.
 */
export function recordFromAnswer(base: SsoRecord, answer: TokenAnswer, now = Date.now()): SsoRecord {
  return { ...base, accessToken: answer.accessToken, expiresAt: new Date(now + answer.expiresIn * 1000), refreshToken: answer.refreshToken ?? base.refreshToken, obtainedAt: new Date(now) };
}

// ---- judging tokens ----

export function tokenLeftMs(r: Pick<SsoRecord, 'accessToken' | 'expiresAt'> | undefined, now: number): number {
  return r?.accessToken && r.expiresAt ? r.expiresAt.getTime() - now : -Infinity;
}

export function canRefresh(r: SsoRecord | undefined, now: number): boolean {
  return !!(r?.refreshToken && r.clientId && r.clientSecret && (!r.registrationExpiresAt || r.registrationExpiresAt.getTime() > now));
}

export function asToken(r: SsoRecord, from: SsoToken['from']): SsoToken {
  return { accessToken: r.accessToken!, expiresAt: r.expiresAt!, from, refreshable: !!r.refreshToken };
}
