// What a provider is given and what it returns. Providers are small functions, one per
// layer kind (src/credentials/plan.ts), with everything that talks to the outside passed in,
// as the AWS SDK for JavaScript v3 passes its role assumer and MFA code provider: the
// provider says what to call, the resolver decides caching and locking.

import type { SourceKeys } from '../../keychain/sourcekeys.ts';
import type { AssumeRoleInput, AwsKeys, MfaInput, StsTarget, TempCredentials } from '../../aws/sts.ts';
import type { Settings, SsoRef } from '../../config/settings.ts';
import type { CacheEntry } from '../cache.ts';
import type { Layer } from '../plan.ts';
import type { LoginRef } from '../../login/endpoint.ts';

/** A person is being asked (or no longer is): waiters on every lock up the chain use the prompt bound. */
export type Notify = (state: 'prompt' | 'working') => void;

export type Fetched = Omit<CacheEntry, 'params' | 'storedAt'>;

export interface ProviderDeps {
  loadSource(name: string): Promise<SourceKeys>;
  /** The STS target of a profile's calls, with this run's clock check. */
  target(s: Settings): Promise<StsTarget>;
  assumeRole(creds: AwsKeys, t: StsTarget, input: AssumeRoleInput): Promise<TempCredentials>;
  getSessionToken(creds: AwsKeys, t: StsTarget, durationSeconds: number, mfa?: MfaInput): Promise<TempCredentials>;
  /** Gets a code (terminal, GUI, mfa_process) and runs the call with it; retries a mistyped code once at a terminal. */
  withMfaCode(s: Settings, notify: Notify, call: (code: string) => Promise<TempCredentials>): Promise<TempCredentials>;
  ssoRoleCredentials(sso: SsoRef, notify: Notify, loginName: string | undefined): Promise<TempCredentials>;
  /** An AWS Sign-In session's credentials (a refresh; a new sign-in offered at a terminal when the session ended). */
  loginCredentials(login: LoginRef, s: Settings, notify: Notify): Promise<TempCredentials>;
  /** The credentials of the layer below, through the cache. */
  resolveUnder(layer: Layer, notify: Notify): Promise<CacheEntry>;
}

export type Provider = (layer: Layer, deps: ProviderDeps, notify: Notify) => Promise<Fetched>;

export function roleInput(s: Settings, durationSeconds: number): AssumeRoleInput {
  return {
    roleArn: s.roleArn!, sessionName: s.sessionName, durationSeconds, externalId: s.externalId, sourceIdentity: s.sourceIdentity,
    tags: s.tags, transitiveTagKeys: s.transitiveTagKeys, policyArns: s.policyArns,
  };
}

/** What a provider hands the cache; roleArn only for a layer that assumed a role (an MFA session of a role profile is not the role's). */
export function fetched(s: Settings, credentials: TempCredentials, t: StsTarget | undefined, roleArn: string | undefined): Fetched {
  return { profile: s.profile, source: s.source, roleArn, credentials, clockOffsetMs: t?.clockOffsetMs ?? 0 };
}
