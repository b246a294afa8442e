// An IAM Identity Center session as keyrole names it: the reference a login needs, the
// options of a token request, the key the AWS tools use for it, the single-flight lock
// name, and the [sso-session NAME] section read as a login target.

import { KeyroleError } from '../util/errors.ts';
import { section, type AwsFiles, type Section } from '../config/files.ts';

/** What a login needs: the session, without an account or role (src/config/settings.ts SsoRef adds them). */
export interface SsoSessionRef {
  /** The [sso-session NAME], or undefined for the legacy form. */
  session: string | undefined;
  startUrl: string;
  ssoRegion: string;
  registrationScopes: string[];
  /** The profile that uses the session, whose endpoint settings apply to its calls (src/sso/client.ts ssoEndpoints); none for an [sso-session] named on its own. */
  endpointSettings?: { files: AwsFiles; profile: Section };
}

export interface SsoOptions {
  /** May a device-flow login start at the terminal when there is no usable token? */
  interactive: boolean;
  /** Told 'prompt' before keyrole waits for the person, 'working' after (src/credentials/lock.ts HeldLock.setState). */
  onPrompt?: (state: 'prompt' | 'working') => void;
  /** The profile that uses the session: what `keyrole login` takes for the legacy form (see loginName). */
  loginName?: string;
}

/** The scope that gives refresh tokens. */
export const REFRESH_SCOPE = 'sso:account:access';

/** The sso-session name, or the start URL for the legacy form: what the AWS tools key the session by. */
export function sessionId(ref: SsoSessionRef): string {
  return ref.session ?? ref.startUrl;
}

/**
 * One session, however it is reached: the start URL and sessionId. Refs with the same key
 * share a token, a lock and a sign-in (also the legacy form reached from two profiles).
 */
export function sessionKey(ref: SsoSessionRef): string {
  return `${ref.startUrl}\n${sessionId(ref)}`;
}

/**
 * What `keyrole login` takes for the session: the sso-session; for the legacy form, the
 * profile that names the start URL (`profile`), else a placeholder for it.
 */
export function loginName(ref: SsoSessionRef, profile?: string): string {
  return ref.session ?? profile ?? '<profile>';
}

export function describeSession(ref: SsoSessionRef): string {
  return ref.session ? `sso-session ${ref.session}` : `start URL ${ref.startUrl}`;
}

/** The single-flight lock for logins and refreshes of one session. */
export async function lockName(ref: SsoSessionRef): Promise<string> {
  const { createHash } = await import('node:crypto');
  return `sso-${createHash('sha256').update(sessionKey(ref)).digest('hex').slice(0, 24)}`;
}

/** The [sso-session NAME] section: a login target, and what a profile's keyrole_sso_session names (src/config/settings.ts resolveSso). */
export function sessionRefFromConfig(files: AwsFiles, name: string): SsoSessionRef | undefined {
  const sec = section(files.config, `sso-session.${name}`);
  if (!sec) return undefined;
  const startUrl = sec.sso_start_url;
  const ssoRegion = sec.sso_region;
  if (!startUrl || !ssoRegion) {
    throw new KeyroleError('BadSsoSession', `[sso-session ${name}] lacks ${!startUrl ? 'sso_start_url' : 'sso_region'}`, `add it to ${files.configPath}`);
  }
  const scopes = (sec.sso_registration_scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return { session: name, startUrl, ssoRegion, registrationScopes: scopes };
}
