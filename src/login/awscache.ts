// The AWS Sign-In session `aws login` (and the JS SDK) leave in plaintext:
// $AWS_LOGIN_CACHE_DIRECTORY or ~/.aws/login/cache/<hex SHA-256 of the session ARN>.json,
// `{accessToken: {accessKeyId, secretAccessKey, sessionToken, accountId, expiresAt},
// tokenType, clientId, refreshToken, idToken, dpopKey (SEC1 PEM)}`. Read for `keyrole
// import`, which moves it into the keychain and then removes the file.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userHome } from '../util/home.ts';
import { isDpopKey } from './dpop.ts';
import { sessionKey, type LoginRecord } from './record.ts';
import { jsonObject } from '../util/json.ts';

/** Where the AWS CLI keeps a session's file. */
export function awsCachePath(arn: string, e: NodeJS.ProcessEnv = process.env): string {
  return join(e.AWS_LOGIN_CACHE_DIRECTORY || join(userHome(), '.aws', 'login', 'cache'), `${sessionKey(arn)}.json`);
}

/** The session in the file as keyrole's record, or why it cannot be: a missing file is `undefined`. */
export function readAwsCache(arn: string, region: string): { path: string; record?: LoginRecord; problem?: string } | undefined {
  const path = awsCachePath(arn);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { path, problem: `it cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  const o = jsonObject(raw);
  if (!o) return { path, problem: 'it is not a JSON object' };
  const at = (o.accessToken ?? {}) as Record<string, unknown>;
  if (typeof o.refreshToken !== 'string' || !o.refreshToken || typeof o.clientId !== 'string' || !o.clientId) return { path, problem: 'it holds no refresh token or client' };
  if (!isDpopKey(o.dpopKey)) return { path, problem: 'its dpopKey is not a P-256 private key' };
  const accountId = typeof at.accountId === 'string' && /^\d{12}$/.test(at.accountId) ? at.accountId : /::(\d{12}):/.exec(arn)?.[1];
  return { path, record: { session: arn, clientId: o.clientId, refreshToken: o.refreshToken, dpopKey: o.dpopKey, region, ...(accountId ? { accountId } : {}) } };
}
