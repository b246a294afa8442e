// PKCE (RFC 7636) and the OAuth `state` for the authorization-code sign-in: a random code
// verifier of 64 unreserved characters, its S256 challenge, and a constant-time compare for
// what comes back on the redirect. node:crypto does all of it; no library adds anything.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** RFC 7636 4.1: 43 to 128 characters of [A-Za-z0-9-._~]. */
export const VERIFIER_CHARS = /^[A-Za-z0-9\-._~]{43,128}$/;

/** A fresh code verifier: 48 random bytes in base64url, 64 characters (all unreserved). */
export function codeVerifier(): string {
  return randomBytes(48).toString('base64url');
}

/** The S256 code challenge of a verifier: BASE64URL(SHA256(ASCII(verifier))), unpadded. */
export function codeChallenge(verifier: string): string {
  if (!VERIFIER_CHARS.test(verifier)) throw new Error('a PKCE code verifier is 43 to 128 unreserved characters');
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** A random `state` for one authorization request: 32 bytes, base64url. */
export function randomState(): string {
  return randomBytes(32).toString('base64url');
}

/** Compares a value that came back with the one sent, in time that does not depend on where they differ. */
export function sameSecret(got: string | null | undefined, want: string): boolean {
  if (typeof got !== 'string') return false;
  // Hashing first gives equal lengths, so the length of `want` does not leak either.
  const h = (v: string) => createHash('sha256').update(v, 'utf8').digest();
  return timingSafeEqual(h(got), h(want)) && got === want;
}
