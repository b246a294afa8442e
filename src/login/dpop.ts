// DPoP proofs (RFC 9449) for AWS Sign-In's CreateOAuth2Token: an ES256 JWS with header
// {typ: "dpop+jwt", alg: "ES256", jwk: the P-256 public key} and claims {jti, htm, htu, iat},
// signed r‖s. The P-256 key is made at login and kept (SEC1 PEM, the AWS CLI's and the JS
// SDK's `dpopKey` format) only in the keychain; the refresh token is bound to it.
// node:crypto does all of it (`dsaEncoding: 'ieee-p1363'` gives r‖s directly); a JOSE
// library would add a dependency for three lines of base64url.

import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';

/** A new DPoP key, as SEC1 PEM ("BEGIN EC PRIVATE KEY"). */
export function newDpopKey(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ format: 'pem', type: 'sec1' }) as string;
}

/** Whether `pem` is a P-256 private key (SEC1 or PKCS#8 PEM). */
export function isDpopKey(pem: unknown): pem is string {
  if (typeof pem !== 'string' || pem.length > 4096) return false;
  try {
    const k = createPrivateKey({ key: pem, format: 'pem' });
    return k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  } catch {
    return false;
  }
}

/** The proof for one POST to `htu` (the exact URL), signed with `pem`. */
export function dpopProof(pem: string, htu: string, nowMs = Date.now()): string {
  const key = createPrivateKey({ key: pem, format: 'pem' });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = enc({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } });
  const claims = enc({ jti: randomUUID(), htm: 'POST', htu, iat: Math.floor(nowMs / 1000) });
  const sig = sign('sha256', Buffer.from(`${head}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
  return `${head}.${claims}.${sig.toString('base64url')}`;
}
