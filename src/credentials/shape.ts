// What temporary credentials look like, checked where they enter keyrole (STS and IAM
// Identity Center answers) and where they come back (the cache decoder): an endpoint that
// is not AWS, or a cache entry someone else wrote, must not get quotes, newlines or
// escape sequences into the blob, a shell's `export` line or a terminal.
//
// The bounds are AWS's: access key ids are 16 to 128 characters (the STS model), in practice
// capital letters and digits; secrets are 40 base64 characters; session tokens are opaque
// base64 of several hundred to a couple of thousand characters.

const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;
const SECRET = /^[A-Za-z0-9/+=]{16,128}$/;
const SESSION_TOKEN = /^[A-Za-z0-9/+=]{16,8192}$/;
// Credentials expire within days; the bound keeps the blob's Expiration a plain 4-digit-year ISO time.
export const MAX_EXPIRATION_MS = Date.UTC(9999, 0, 1);

export interface CredentialFields {
  accessKeyId: unknown;
  secretAccessKey: unknown;
  sessionToken: unknown;
  expiration: unknown;
}

/** Why these are not temporary credentials keyrole can hand out, or undefined when they are. Never quotes a value. */
export function credentialProblem(c: CredentialFields): string | undefined {
  if (typeof c.accessKeyId !== 'string' || !ACCESS_KEY_ID.test(c.accessKeyId)) return 'the access key id is not 16 to 128 capital letters and digits';
  if (typeof c.secretAccessKey !== 'string' || !SECRET.test(c.secretAccessKey)) return 'the secret access key is not 16 to 128 base64 characters';
  if (typeof c.sessionToken !== 'string' || !SESSION_TOKEN.test(c.sessionToken)) return 'the session token is not 16 to 8192 base64 characters';
  const exp = c.expiration instanceof Date ? c.expiration.getTime() : NaN;
  if (!(exp >= 0 && exp <= MAX_EXPIRATION_MS)) return 'the expiration is not a date';
  return undefined;
}
