// keyrole's OIDC client registrations, kept in the keychain and reused until they near
// their end, as the AWS CLI keeps its own in ~/.aws/sso/cache: one per sso-session, grant
// and set of scopes. A device-flow registration cannot serve a browser sign-in (AWS
// registers the grant types, redirect URIs and issuer with the client), and a registration
// for other scopes gives other tokens, so each combination has its own entry.

import { debug } from '../util/debug.ts';
import { deleteItem, getItem, setItem } from '../keychain/keychain.ts';
import { describeSession, sessionId, type SsoSessionRef } from './session.ts';
import { date, REGISTRATION_REUSE_MS } from './record.ts';
import { registerClient, type ClientGrant } from './client.ts';
import { jsonObject, nonEmpty } from '../util/json.ts';

export const CLIENT_SERVICE = 'keyrole:sso-client';

export interface Registration {
  clientId: string;
  clientSecret: string;
  registrationExpiresAt: Date;
}

/** The keychain account of a registration: session, grant and sorted scopes. */
export function registrationAccount(ref: SsoSessionRef, grant: ClientGrant): string {
  return `${sessionId(ref)} ${grant} ${[...ref.registrationScopes].sort().join(',')}`;
}

/** A stored registration that may serve this session and grant now: keyrole's, for the same directory, with more than a day left. */
export function decodeRegistration(raw: string, ref: SsoSessionRef, grant: ClientGrant, now: number): Registration | undefined {
  const v = jsonObject(raw);
  if (v?.keyrole !== 1 || v.kind !== 'sso-client' || v.grant !== grant) return undefined;
  // A changed start URL or region is another directory: its registration is of no use.
  if (v.startUrl !== ref.startUrl || v.region !== ref.ssoRegion) return undefined;
  const clientId = nonEmpty(v.clientId);
  const clientSecret = nonEmpty(v.clientSecret);
  const registrationExpiresAt = date(v.expiresAt);
  const scopes = Array.isArray(v.scopes) ? v.scopes : [];
  if ([...scopes].sort().join(' ') !== [...ref.registrationScopes].sort().join(' ')) return undefined;
  if (!clientId || !clientSecret || !registrationExpiresAt || registrationExpiresAt.getTime() - now <= REGISTRATION_REUSE_MS) return undefined;
  return { clientId, clientSecret, registrationExpiresAt };
}

/** What is stored for a registration (no secret of the person's: a public client's id and secret). */
export function encodeRegistration(ref: SsoSessionRef, grant: ClientGrant, r: Registration): string {
  return JSON.stringify({
    keyrole: 1, kind: 'sso-client', grant, startUrl: ref.startUrl, region: ref.ssoRegion, scopes: ref.registrationScopes,
    clientId: r.clientId, clientSecret: r.clientSecret, expiresAt: r.registrationExpiresAt.toISOString(),
  });
}

/** The stored registration for this session, grant and scopes, if it has more than a day to live. */
export function storedRegistration(ref: SsoSessionRef, grant: ClientGrant, now = Date.now()): Registration | undefined {
  const raw = getItem(CLIENT_SERVICE, registrationAccount(ref, grant), `read the client registration of ${describeSession(ref)}`);
  return raw === null ? undefined : decodeRegistration(raw, ref, grant, now);
}

/**
 * A registration to sign in with: the stored one while it lasts, else a new RegisterClient
 * (kept even if the sign-in then fails, so the next attempt reuses it). `replaceStored` registers
 * anew (the service refused the stored one).
 */
export async function clientRegistration(ref: SsoSessionRef, grant: ClientGrant, name: string, o: { replaceStored?: boolean; redirectUri?: string } = {}): Promise<Registration> {
  if (!o.replaceStored) {
    const have = storedRegistration(ref, grant);
    if (have) {
      debug(`reusing the ${grant} client registration of ${describeSession(ref)} (valid until ${have.registrationExpiresAt.toISOString()})`);
      return have;
    }
  }
  const r = await registerClient(ref, name, grant === 'auth-code' ? { redirectUri: o.redirectUri! } : undefined);
  setItem(CLIENT_SERVICE, registrationAccount(ref, grant), encodeRegistration(ref, grant, r), `store the client registration of ${describeSession(ref)}`);
  return r;
}

/** Forgets a registration the service refused. */
export function dropRegistration(ref: SsoSessionRef, grant: ClientGrant): void {
  try {
    deleteItem(CLIENT_SERVICE, registrationAccount(ref, grant), `remove the client registration of ${describeSession(ref)}`);
  } catch (err) {
    debug(`could not remove the refused registration (${(err as Error).message})`);
  }
}
