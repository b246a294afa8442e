// The credential_process output (the AWS CLI's documented contract): Version 1, keys, token, an ISO 8601 expiration
// with a bare `Z` (no milliseconds, which some parsers reject), and the account id that
// recent SDKs use for account-based endpoints.

import type { TempCredentials } from '../aws/sts.ts';

export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function credentialBlob(c: TempCredentials, expiration: Date = c.expiration): string {
  const blob: Record<string, string | number> = {
    Version: 1,
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    SessionToken: c.sessionToken,
    Expiration: isoSeconds(expiration),
  };
  if (c.accountId) blob.AccountId = c.accountId;
  return JSON.stringify(blob);
}
