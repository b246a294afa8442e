// keyrole's record of an AWS Sign-In session (`keyrole login` for a keyrole_login_session
// profile) in the keychain: the refresh token, the DPoP private key it is bound to, the
// client and region. Its JSON codec, reading and writing it. Never in a plaintext file,
// never on argv or in a log: the AWS CLI and the JS SDK keep the same in
// ~/.aws/login/cache/<sha256>.json in plaintext, which `keyrole import` moves in here.

import { createHash } from 'node:crypto';
import { debug } from '../util/debug.ts';
import { deleteItem, getItem, setItem } from '../keychain/keychain.ts';
import { isDpopKey } from './dpop.ts';
import { jsonObject, nonEmpty } from '../util/json.ts';

export const LOGIN_SERVICE = 'keyrole:login';
/** AWS: a session lasts up to 12 hours from the sign-in. */
export const SESSION_MAX_MS = 12 * 3600_000;
export interface LoginRecord {
  session: string;
  clientId: string;
  refreshToken: string;
  /** SEC1 PEM of the P-256 key the refresh token is bound to. */
  dpopKey: string;
  region: string;
  accountId?: string;
  /** When the person signed in (the 12-hour end is counted from it); unknown for an imported session. */
  signedInAt?: Date;
}

/** The keychain account of a session: the hex SHA-256 of its ARN, as the AWS CLI names its cache file. */
export function sessionKey(arn: string): string {
  return createHash('sha256').update(arn, 'utf8').digest('hex');
}

export function encodeRecord(r: LoginRecord): string {
  return JSON.stringify({ v: 1, ...r, signedInAt: r.signedInAt?.toISOString() });
}

export function decodeRecord(raw: string): LoginRecord | undefined {
  const o = jsonObject(raw);
  if (o?.v !== 1) return undefined;
  const session = nonEmpty(o.session);
  const clientId = nonEmpty(o.clientId);
  const refreshToken = nonEmpty(o.refreshToken);
  const region = nonEmpty(o.region);
  if (!session || !clientId || !refreshToken || !region || !isDpopKey(o.dpopKey)) return undefined;
  const at = nonEmpty(o.signedInAt) ? new Date(o.signedInAt as string) : undefined;
  return {
    session, clientId, refreshToken, dpopKey: o.dpopKey, region,
    ...(nonEmpty(o.accountId) ? { accountId: o.accountId as string } : {}),
    ...(at && !Number.isNaN(at.getTime()) ? { signedInAt: at } : {}),
  };
}

export function readRecord(arn: string): LoginRecord | undefined {
  const raw = getItem(LOGIN_SERVICE, sessionKey(arn), `read the AWS Sign-In session ${arn}`);
  if (raw === null) return undefined;
  const r = decodeRecord(raw);
  if (!r || r.session !== arn) {
    debug(`the keychain entry for the AWS Sign-In session ${arn} is not in keyrole's format; ignoring it`);
    return undefined;
  }
  return r;
}

export function writeRecord(r: LoginRecord): void {
  setItem(LOGIN_SERVICE, sessionKey(r.session), encodeRecord(r), `store the AWS Sign-In session ${r.session}`);
}

export function forgetRecord(arn: string): boolean {
  return deleteItem(LOGIN_SERVICE, sessionKey(arn), `remove the AWS Sign-In session ${arn}`);
}

/** When the session ends at the latest (12 hours after the sign-in), if known. */
export function sessionEnd(r: Pick<LoginRecord, 'signedInAt'>): Date | undefined {
  return r.signedInAt ? new Date(r.signedInAt.getTime() + SESSION_MAX_MS) : undefined;
}
