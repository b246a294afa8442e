// The AWS CLI's token file (~/.aws/sso/cache/<sha1>.json): a token `aws sso login` or an
// SDK left is used as it is, and a refreshed one is written back in place, as the SDKs do.
// keyrole never creates this file: its own tokens stay in the keychain.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { debug } from '../util/debug.ts';
import { writeAtomic } from '../util/atomic.ts';
import { userHome } from '../util/home.ts';
import { sessionId, type SsoSessionRef } from './session.ts';
import { date, type SsoRecord } from './record.ts';
import { nonEmpty } from '../util/json.ts';

/** ~/.aws/sso/cache/<sha1(sso-session name | start URL)>.json, the AWS CLI's and the JS SDK's token file. */
export async function awsCacheFile(ref: SsoSessionRef): Promise<string> {
  const dir = join(userHome(), '.aws', 'sso', 'cache');
  const { createHash } = await import('node:crypto');
  return join(dir, `${createHash('sha1').update(sessionId(ref), 'utf8').digest('hex')}.json`);
}

export interface AwsCacheToken {
  path: string;
  raw: Record<string, unknown>;
  record: SsoRecord;
}

/** A token `aws sso login` (or an SDK) left for this session, or undefined. Never written by keyrole except to refresh it in place. */
export async function readAwsCache(ref: SsoSessionRef): Promise<AwsCacheToken | undefined> {
  const path = await awsCacheFile(ref);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') debug(`${path} is unreadable (${code ?? 'not JSON'}); ignoring it`);
    return undefined;
  }
  if (!raw || typeof raw !== 'object') return undefined;
  const accessToken = nonEmpty(raw.accessToken);
  const expiresAt = date(raw.expiresAt);
  if (!accessToken || !expiresAt) return undefined;
  const startUrl = nonEmpty(raw.startUrl);
  if (startUrl !== undefined && startUrl !== ref.startUrl) {
    debug(`${path} is for ${startUrl}, not ${ref.startUrl}; ignoring it`);
    return undefined;
  }
  return {
    path,
    raw,
    record: {
      startUrl: ref.startUrl,
      region: nonEmpty(raw.region) ?? ref.ssoRegion,
      scopes: ref.registrationScopes,
      clientId: nonEmpty(raw.clientId),
      clientSecret: nonEmpty(raw.clientSecret),
      registrationExpiresAt: date(raw.registrationExpiresAt),
      accessToken,
      expiresAt,
      refreshToken: nonEmpty(raw.refreshToken),
    },
  };
}

/**
 * Writes a refreshed token back into the AWS CLI's file (as the JS SDK does), atomically,
 * 0600, flushed: the refresh token may have rotated, and losing it signs the person out.
 */
export function writeAwsCache(c: AwsCacheToken, r: SsoRecord): void {
  const next = { ...c.raw, accessToken: r.accessToken, expiresAt: r.expiresAt!.toISOString().replace(/\.\d{3}Z$/, 'Z'), ...(r.refreshToken ? { refreshToken: r.refreshToken } : {}) };
  try {
    writeAtomic(c.path, JSON.stringify(next, null, 2));
  } catch (err) {
    debug(`could not write the refreshed token back to ${c.path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
