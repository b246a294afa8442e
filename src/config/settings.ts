// Turns a profile plus command-line flags into the settings keyrole acts on: the source,
// the role, MFA, SSO, durations, session names and tags, each value checked where it is
// read, with one line naming the profile and the fix when it is wrong.

import { existsSync } from 'node:fs';
import { KeyroleError, type ErrorCode } from '../util/errors.ts';
import { caBundleSetting, type CaBundle } from './cabundle.ts';
import type { Section } from './ini.ts';
import { section, type AwsFiles } from './files.ts';
import { checkProfileKeys, missingProfileHint, quote, shadowingKeys } from './checks.ts';
import { resolveEndpoint, resolveRegion } from './endpoints.ts';
import { cacheChoice, type CacheChoice } from './cachestore.ts';
import { sessionRefFromConfig, type SsoSessionRef } from '../sso/session.ts';
import { LOGIN_SESSION_ARN, signinEndpoint, type LoginRef } from '../login/endpoint.ts';

export interface Overrides {
  source?: string;
  mfaSerial?: string;
  roleArn?: string;
  duration?: string;
  region?: string;
  endpointUrl?: string;
  sessionName?: string;
  /** --cache: wins over KEYROLE_CACHE and keyrole_cache (src/config/cachestore.ts). */
  cache?: string;
}

/** An IAM Identity Center role: the sso-session (or legacy start URL, src/sso/session.ts) and the account/role. */
export interface SsoRef extends SsoSessionRef {
  accountId: string;
  roleName: string;
}

export type SourceKind = 'keychain' | 'profile' | 'sso' | 'login';

export interface Tag { Key: string; Value: string }

export interface Settings {
  profile: string | undefined;
  /** Where the base credentials come from. */
  sourceKind: SourceKind;
  /** A label for the source: the keychain source name, `profile:NAME` or `sso:URL/ACCOUNT/ROLE`. */
  source: string;
  /** keyrole_source_profile: another profile whose credentials sign this one's AssumeRole. */
  sourceProfile: string | undefined;
  sso: SsoRef | undefined;
  /** keyrole_login_session: an AWS Sign-In session (`keyrole login`) gives the credentials. */
  login?: LoginRef;
  mfaSerial: string | undefined;
  /** keyrole_mfa_on_assume: send the MFA code with AssumeRole itself instead of a shared GetSessionToken session. */
  mfaOnAssume: boolean;
  mfaProcess: string | undefined;
  /** GetSessionToken duration for the shared MFA session (keyrole_session_duration). */
  sessionDurationSeconds: number;
  externalId: string | undefined;
  sourceIdentity: string | undefined;
  tags: Tag[];
  transitiveTagKeys: string[];
  policyArns: string[];
  /** Whether the duration was set explicitly (the chaining cap is explained when it was). */
  durationExplicit: boolean;
  roleArn: string | undefined;
  durationSeconds: number;
  region: string;
  regionFrom: string;
  endpoint: string | undefined;
  endpointFrom: string;
  /** AWS_CA_BUNDLE, then the profile's ca_bundle (src/config/cabundle.ts). */
  caBundle?: CaBundle;
  /** keyrole_ntp_servers as written: parsed by the clock check only when NTP is due (src/clock/servers.ts). */
  ntpServers?: string;
  /** The cache store chosen (--cache, KEYROLE_CACHE, keyrole_cache, the keychain), checked when opened: storeKind (src/config/cachestore.ts). */
  cache: CacheChoice;
  sessionName: string;
  /** Keys in this profile that make the AWS CLI or an SDK skip credential_process. */
  shadowing: string[];
}

export const SESSION_DURATION_MAX = 129600;
export const DEFAULT_SESSION_DURATION = 43200;
export const DURATION_MIN = 900;
export const DURATION_MAX = 43200;
export const DEFAULT_DURATION = 3600;

export const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const SOURCE_NAME = /^[\w.@+=-]{1,64}$/;

export function validSourceName(name: string): boolean {
  return SOURCE_NAME.test(name);
}

export function parseDuration(raw: string, where: string, fix: string, max = DURATION_MAX): number {
  const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < DURATION_MIN || n > max) {
    throw new KeyroleError(
      'BadDuration',
      `${where} = ${quote(raw)} is not a whole number of seconds from ${DURATION_MIN} to ${max}`,
      fix,
    );
  }
  return n;
}

/** "a, b ,c" → ["a","b","c"]. */
function list(raw: string | undefined): string[] {
  return raw ? raw.split(',').map((x) => x.trim()).filter(Boolean) : [];
}

function bad(code: ErrorCode, what: string, value: string, where: string, rule: string): KeyroleError {
  return new KeyroleError(code, `${what} ${quote(value)} in ${where} is not valid`, rule);
}

export const MFA_SERIAL = /^(arn:aws[a-z-]*:iam::\d{12}:(mfa|u2f)\/[\w+=,.@/-]{1,512}|[\w+=/:,.@-]{9,256})$/;

function parseTags(raw: string | undefined, where: string): Tag[] {
  const tags = list(raw).map((pair) => {
    const eq = pair.indexOf('=');
    const Key = eq > 0 ? pair.slice(0, eq).trim() : '';
    const Value = eq > 0 ? pair.slice(eq + 1).trim() : '';
    if (!/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u.test(Key) || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u.test(Value)) {
      throw bad('BadTags', 'session tag', pair, where, 'write keyrole_tags = Key=Value, Key2=Value2');
    }
    return { Key, Value };
  });
  if (tags.length > 50) throw new KeyroleError('BadTags', `${where} sets ${tags.length} session tags`, 'STS accepts at most 50');
  return tags;
}

/** SSO settings from keyrole_sso_* keys and the named [sso-session], or undefined when the profile does not use SSO. */
function resolveSso(files: AwsFiles, profile: Section, where: string): SsoRef | undefined {
  const session = profile.keyrole_sso_session;
  const accountId = profile.keyrole_sso_account_id;
  const roleName = profile.keyrole_sso_role_name;
  if (!session && !profile.keyrole_sso_start_url && !accountId && !roleName) return undefined;
  let ref: SsoSessionRef;
  if (session) {
    const found = sessionRefFromConfig(files, session);
    if (!found) throw new KeyroleError('UnknownSsoSession', `${where} names sso-session "${session}", which is not in ${files.configPath}`, `add an [sso-session ${session}] section with sso_start_url and sso_region`);
    ref = found;
  } else {
    const startUrl = profile.keyrole_sso_start_url;
    const ssoRegion = profile.keyrole_sso_region;
    if (!startUrl || !ssoRegion) throw new KeyroleError('BadSsoProfile', `${where} uses SSO but names no keyrole_sso_session (or keyrole_sso_start_url and keyrole_sso_region)`, 'add keyrole_sso_session = <name> and an [sso-session <name>] section');
    ref = { session: undefined, startUrl, ssoRegion, registrationScopes: list(profile.keyrole_sso_registration_scopes) };
  }
  if (!accountId || !/^\d{12}$/.test(accountId)) throw new KeyroleError('BadSsoProfile', `${where} needs keyrole_sso_account_id as a 12-digit account id`, 'add keyrole_sso_account_id = 123456789012');
  if (!roleName) throw new KeyroleError('BadSsoProfile', `${where} needs keyrole_sso_role_name`, 'add keyrole_sso_role_name = <permission set name>');
  return { ...ref, accountId, roleName, endpointSettings: { files, profile } };
}

/** A role session name valid for STS ([\w+=,.@-], 2 to 64 characters). */
export function defaultSessionName(source: string, user: string): string {
  const clean = (s: string) => s.replace(/[^\w+=,.@-]/g, '_');
  return `keyrole-${clean(source)}-${clean(user)}`.slice(0, 64);
}

/**
 * Where a profile's credentials come from and what is done with them, in words (doctor's
 * profile line, process --debug): `source alice, role arn:…, 3600 s`, `profile base, role
 * arn:…`, `IAM Identity Center role AdministratorAccess in 111122223333 (sso-session
 * my-sso, https://…/start)`.
 */
export function describeSettings(s: Settings): string {
  if (s.sourceKind === 'sso' && s.sso) {
    const via = s.sso.session ? `sso-session ${s.sso.session}, ${s.sso.startUrl}` : s.sso.startUrl;
    const sso = `IAM Identity Center role ${s.sso.roleName} in ${s.sso.accountId} (${via})`;
    return s.roleArn ? `${sso}, then role ${s.roleArn}, ${s.durationSeconds} s` : sso;
  }
  const from = s.sourceKind === 'profile' ? `profile ${s.sourceProfile}` : `source ${s.source}`;
  return `${from}, ${s.roleArn ? `role ${s.roleArn}` : 'no role (GetSessionToken)'}, ${s.durationSeconds} s`;
}

/** keyrole's own yes/no settings: a value that is neither is an error, not a silent "no". */
function flag(v: string | undefined, key: string, where: string): boolean {
  if (v === undefined) return false;
  if (/^(1|true|yes|on)$/i.test(v.trim())) return true;
  if (/^(0|false|no|off)$/i.test(v.trim())) return false;
  throw bad('BadFlag', key, v, where, 'write true or false');
}

const fromConfigured = (c: { endpoint: string; from: string }) => ({ endpoint: c.endpoint, endpointFrom: c.from });

export function resolveSettings(files: AwsFiles, profileName: string | undefined, o: Overrides, localUser: string): Settings {
  let profile: Section = {};
  if (profileName !== undefined) {
    const found = section(files.config, profileName);
    if (!found) {
      const where = existsSync(files.configPath) ? files.configPath : `${files.configPath} (the file does not exist)`;
      const header = profileName === 'default' ? '[default]' : `[profile ${profileName}]`;
      const hint = missingProfileHint(files, profileName);
      throw new KeyroleError('UnknownProfile', `profile "${profileName}" is not in ${where}${hint?.[0] ?? ''}`, hint?.[1] ?? `add a ${header} section, or check AWS_CONFIG_FILE and the profile name`);
    }
    profile = found;
    checkProfileKeys(files, profileName, profile);
  }
  const where = profileName ? `profile ${profileName}` : 'the command line';
  const shadowing = profileName ? shadowingKeys(files, profileName) : [];

  // A --source flag picks the keychain source whatever the profile says.
  const keychainSource = o.source ?? profile.keyrole_source;
  const sourceProfile = o.source === undefined ? profile.keyrole_source_profile : undefined;
  const sso = o.source === undefined ? resolveSso(files, profile, where) : undefined;
  const loginSession = o.source === undefined ? profile.keyrole_login_session : undefined;
  const given = [keychainSource && 'keyrole_source', sourceProfile && 'keyrole_source_profile', sso && 'keyrole_sso_*', loginSession && 'keyrole_login_session'].filter(Boolean);
  if (given.length > 1) {
    throw new KeyroleError('AmbiguousSource', `${where} names more than one source (${given.join(', ')})`, 'keep exactly one of them');
  }
  if (!given.length) {
    const hint = profile.source_profile
      ? `; it has source_profile, which makes the AWS CLI assume the role itself and never run keyrole: rename it keyrole_source (a keychain source) or keyrole_source_profile (another profile)`
      : '';
    throw new KeyroleError('NoSource', `${where} names no source${hint}`, `add keyrole_source = <name> to ${where} (the name given to keyrole setup), or pass --source`);
  }
  if (keychainSource !== undefined && !validSourceName(keychainSource)) {
    throw new KeyroleError('BadSource', `source name ${quote(keychainSource)} in ${where} is not valid`, 'use letters, digits and ._@+=- (up to 64 characters)');
  }
  if (sourceProfile !== undefined && !section(files.config, sourceProfile)) {
    throw new KeyroleError('UnknownProfile', `${where} has keyrole_source_profile = ${sourceProfile}, which is not in ${files.configPath}`, `add [profile ${sourceProfile}] or fix the name`);
  }
  if (loginSession !== undefined && !LOGIN_SESSION_ARN.test(loginSession)) {
    throw new KeyroleError('BadLoginSession', `keyrole_login_session ${quote(loginSession)} in ${where} is not a session ARN`, `write the ARN keyrole login wrote (arn:aws:iam::123456789012:user/name), or run keyrole login ${profileName ?? '<profile>'}`);
  }
  const sourceKind: SourceKind = keychainSource ? 'keychain' : sourceProfile ? 'profile' : loginSession ? 'login' : 'sso';
  const source = keychainSource ?? (sourceProfile ? `profile:${sourceProfile}` : loginSession ? `login:${loginSession}` : `sso:${sso!.startUrl}/${sso!.accountId}/${sso!.roleName}`);

  const roleArn = o.roleArn ?? profile.keyrole_role_arn;
  if (roleArn !== undefined && !ROLE_ARN.test(roleArn)) {
    throw new KeyroleError('BadRoleArn', `role ARN ${quote(roleArn)} in ${where} is not an IAM role ARN`, 'write it as arn:aws:iam::123456789012:role/Name');
  }

  const durationRaw = o.duration ?? profile.keyrole_duration_seconds;
  const durationSeconds = durationRaw === undefined
    ? DEFAULT_DURATION
    : parseDuration(durationRaw, o.duration !== undefined ? '--duration' : `keyrole_duration_seconds in ${where}`, o.duration !== undefined ? 'pass --duration 3600, for example' : `fix it in ${files.configPath}`);

  const { region, from: regionFrom } = resolveRegion(o.region, profile, where);

  const { endpoint, from: endpointFrom } = resolveEndpoint(files, profile, region, o.endpointUrl);
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
    throw new KeyroleError('BadEndpoint', `STS endpoint ${quote(endpoint)} (from ${endpointFrom}) is not an http(s) URL`, 'fix or unset it');
  }

  const sessionName = o.sessionName ?? profile.keyrole_role_session_name ?? defaultSessionName(keychainSource ?? sourceProfile ?? (loginSession ? 'login' : sso!.roleName), localUser);
  if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
    throw new KeyroleError('BadSessionName', `role session name ${quote(sessionName)} is not valid for STS`, 'use 2 to 64 characters from letters, digits and +=,.@_-');
  }

  if (sourceKind === 'profile' && roleArn === undefined) {
    throw new KeyroleError('NoRole', `${where} has keyrole_source_profile but no role to assume with it`, 'add keyrole_role_arn');
  }

  const mfaSerial = o.mfaSerial ?? profile.keyrole_mfa_serial;
  if (mfaSerial !== undefined && !MFA_SERIAL.test(mfaSerial)) throw bad('BadMfaSerial', 'MFA serial', mfaSerial, where, 'write it as arn:aws:iam::123456789012:mfa/name (or a hardware token serial)');
  if (mfaSerial !== undefined && sourceKind !== 'keychain') {
    throw new KeyroleError('MfaNeedsKeys', `${where} sets keyrole_mfa_serial, but MFA applies to a keychain source's long-term keys`, 'put keyrole_mfa_serial on the profile that has keyrole_source');
  }
  const sessionRaw = profile.keyrole_session_duration;
  const sessionDurationSeconds = sessionRaw === undefined ? DEFAULT_SESSION_DURATION
    : parseDuration(sessionRaw, `keyrole_session_duration in ${where}`, `fix it in ${files.configPath}`, SESSION_DURATION_MAX);
  const externalId = profile.keyrole_external_id;
  if (externalId !== undefined && !/^[\w+=,.@:/-]{2,1224}$/.test(externalId)) throw bad('BadExternalId', 'external id', externalId, where, 'use 2 to 1224 characters from letters, digits and +=,.@:/_-');
  const sourceIdentity = profile.keyrole_source_identity;
  if (sourceIdentity !== undefined && !/^[\w+=,.@-]{2,64}$/.test(sourceIdentity)) throw bad('BadSourceIdentity', 'source identity', sourceIdentity, where, 'use 2 to 64 characters from letters, digits and +=,.@_-');
  const policyArns = list(profile.keyrole_policy_arns);
  for (const arn of policyArns) if (!/^arn:aws[a-z-]*:iam::(\d{12}|aws):policy\/[\w+=,.@/-]+$/.test(arn)) throw bad('BadPolicyArn', 'policy ARN', arn, where, 'write keyrole_policy_arns = arn:aws:iam::aws:policy/ReadOnlyAccess, …');

  const login: LoginRef | undefined = loginSession ? { session: loginSession, region, ...fromConfigured(signinEndpoint(files, profile, region)) } : undefined;

  return {
    profile: profileName, sourceKind, source, sourceProfile, sso, login, roleArn, durationSeconds, durationExplicit: durationRaw !== undefined,
    region, regionFrom, endpoint, endpointFrom, caBundle: caBundleSetting(profile, profileName), ntpServers: profile.keyrole_ntp_servers,
    cache: cacheChoice(o.cache, profile, profileName), sessionName, shadowing,
    mfaSerial, mfaOnAssume: flag(profile.keyrole_mfa_on_assume, 'keyrole_mfa_on_assume', where), mfaProcess: profile.keyrole_mfa_process, sessionDurationSeconds,
    externalId, sourceIdentity, tags: parseTags(profile.keyrole_tags, where), transitiveTagKeys: list(profile.keyrole_transitive_tag_keys), policyArns,
  };
}
