// Reads ~/.aws/config and ~/.aws/credentials the way the JS SDK does (src/config/ini.ts, checked
// against the SDK's own parser) and turns a profile plus command-line flags into the
// settings keyrole acts on.
//
// keyrole's own keys carry a `keyrole_` prefix because the CLI and the SDKs give
// role_arn, source_profile, credential_source, sso_* and static keys precedence over
// credential_process: a profile holding both would silently bypass keyrole.

import { homedir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { KeyroleError, type ErrorCode } from '../util/errors.ts';
import { checkRegion } from './region.ts';
import { caBundleSetting, type CaBundle } from './cabundle.ts';
import { configSections, parseIni, readIniFile, readIniText, scanSection, type Section } from './ini.ts';

export type { Section } from './ini.ts';

export interface AwsFiles {
  configPath: string;
  credentialsPath: string;
  config: Record<string, Section>;
  credentials: Record<string, Section>;
  /** The config file's text (undefined when it does not exist), for line-level checks of the profile in use. */
  configText?: string;
}

export interface Overrides {
  source?: string;
  mfaSerial?: string;
  roleArn?: string;
  duration?: string;
  region?: string;
  endpointUrl?: string;
  sessionName?: string;
}

/** An IAM Identity Center role: the sso-session (or legacy start URL) and the account/role. */
export interface SsoRef {
  /** The [sso-session NAME], or undefined for the legacy form. */
  session: string | undefined;
  startUrl: string;
  ssoRegion: string;
  registrationScopes: string[];
  accountId: string;
  roleName: string;
}

export type SourceKind = 'keychain' | 'profile' | 'sso';

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
  sessionName: string;
  /** Keys in this profile that make the AWS CLI or an SDK skip credential_process. */
  shadowing: string[];
}

export const SESSION_DURATION_MAX = 129600;
export const DEFAULT_SESSION_DURATION = 43200;
export const DURATION_MIN = 900;
export const DURATION_MAX = 43200;
export const DEFAULT_DURATION = 3600;
// STS's own default signing region when nothing says otherwise (the SDKs' STS providers do the same).
export const DEFAULT_REGION = 'us-east-1';

const env = process.env;

function home(): string {
  return env.HOME || env.USERPROFILE || homedir();
}

// The SDKs expand a leading ~/ in these variables; so does keyrole.
function expandHome(p: string): string {
  return p.startsWith('~/') ? join(home(), p.slice(2)) : p;
}

export function configPath(): string {
  return expandHome(env.AWS_CONFIG_FILE || join(home(), '.aws', 'config'));
}

export function credentialsPath(): string {
  return expandHome(env.AWS_SHARED_CREDENTIALS_FILE || join(home(), '.aws', 'credentials'));
}

export async function loadAwsFiles(): Promise<AwsFiles> {
  const cfg = configPath();
  const creds = credentialsPath();
  const text = readIniText(cfg, 'config');
  return {
    configPath: cfg,
    credentialsPath: creds,
    config: configSections(text === undefined ? Object.create(null) as Record<string, Section> : parseIni(text)),
    credentials: readIniFile(creds, 'credentials'),
    configText: text,
  };
}

/**
 * Every keyrole_* key keyrole reads. Any other keyrole_* key in the profile in use is an
 * error (a typo such as keyrole_rol_arn would otherwise be ignored without a word);
 * test/unit/config-keys.test.ts checks the sources read no key missing here.
 */
export const KEYROLE_KEYS: readonly string[] = [
  'keyrole_source', 'keyrole_source_profile', 'keyrole_role_arn', 'keyrole_duration_seconds', 'keyrole_role_session_name',
  'keyrole_mfa_serial', 'keyrole_mfa_on_assume', 'keyrole_mfa_process', 'keyrole_session_duration',
  'keyrole_external_id', 'keyrole_source_identity', 'keyrole_tags', 'keyrole_transitive_tag_keys', 'keyrole_policy_arns',
  'keyrole_cache', 'keyrole_ntp_servers',
  'keyrole_sso_session', 'keyrole_sso_start_url', 'keyrole_sso_region', 'keyrole_sso_account_id', 'keyrole_sso_role_name', 'keyrole_sso_registration_scopes',
];
const KNOWN_KEYS = new Set(KEYROLE_KEYS);

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** The known key closest to `key`, when it is close enough to be a typo of it. */
export function closestKey(key: string): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of KEYROLE_KEYS) {
    const d = distance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(3, Math.floor(key.length / 4)) ? best : undefined;
}

/**
 * keyrole's own checks of the profile in use, on top of the SDK's reading: an unknown
 * keyrole_* key, a keyrole_* key set twice (the SDK keeps the last one without a word), a
 * keyrole_* line without '='. Other keys are the SDK's business.
 */
export function checkProfileKeys(files: AwsFiles, name: string, profile: Section): void {
  const where = `profile ${name} in ${files.configPath}`;
  for (const key of Object.keys(profile)) {
    if (!key.startsWith('keyrole_')) continue;
    const base = key.split('.')[0];
    if (KNOWN_KEYS.has(base)) continue;
    const near = closestKey(base);
    throw new KeyroleError('UnknownSetting', `${where} sets ${base}, which keyrole does not know (a typo, or a setting of a newer keyrole)`,
      near ? `did you mean ${near}?` : 'remove it; keyrole --help and the README list the keyrole_* settings');
  }
  if (files.configText === undefined) return;
  let scan = scanSection(files.configText, `profile.${name}`);
  if (name === 'default' && !scan.keys.length) scan = scanSection(files.configText, 'default');
  const seen = new Map<string, number>();
  for (const { key, line } of scan.keys) {
    if (!key.startsWith('keyrole_')) continue;
    const first = seen.get(key);
    if (first !== undefined) {
      throw new KeyroleError('DuplicateSetting', `${key} is set twice in ${where} (lines ${first} and ${line})`, 'keep one of them: the AWS tools would use the last without a word');
    }
    seen.set(key, line);
  }
  const broken = scan.noEquals.find((l) => l.key.startsWith('keyrole_'));
  if (broken) {
    throw new KeyroleError('BadConfigLine', `line ${broken.line} of ${files.configPath} (${where.split(' in ')[0]}) has no '=': ${quote(broken.key)}`, 'write it as keyrole_name = value');
  }
}

/** Why a profile may not be found although the user wrote it, and the fix: CR-only line ends, or a header without its closing bracket. */
function missingProfileHint(files: AwsFiles, name: string): [string, string] | undefined {
  const text = files.configText;
  if (text === undefined) return undefined;
  if (text.includes('\r') && !text.includes('\n')) return ['; its lines end in CR alone (classic Mac OS), so the AWS tools read it as one line', 'save it with LF or CRLF line endings'];
  const lines = text.split(/\r?\n/);
  const i = lines.findIndex((l) => {
    const t = l.trim();
    return t.startsWith('[') && !t.endsWith(']') && t.includes(name);
  });
  return i < 0 ? undefined : [`; line ${i + 1} looks like its header but lacks the closing ']': ${quote(lines[i].trim())}`, 'fix that line'];
}

// Keys that win over credential_process in botocore or the JS SDK (FACTS.md, "Config precedence").
const SHADOWING_KEYS = [
  'role_arn',
  'source_profile',
  'credential_source',
  'web_identity_token_file',
  'sso_session',
  'sso_start_url',
  'sso_account_id',
  'sso_role_name',
  'aws_access_key_id',
  'aws_secret_access_key',
  'aws_session_token',
];

/** A section by name; own properties only, so a profile called "constructor" is not found in Object.prototype. */
export function section(sections: Record<string, Section>, name: string): Section | undefined {
  return Object.hasOwn(sections, name) ? sections[name] : undefined;
}

export function shadowingKeys(files: AwsFiles, profile: string): string[] {
  const found: string[] = [];
  const cfg = section(files.config, profile) ?? {};
  const cred = section(files.credentials, profile) ?? {};
  for (const key of SHADOWING_KEYS) {
    if (cfg[key] !== undefined) found.push(key);
    else if (cred[key] !== undefined) found.push(`${key} (credentials file)`);
  }
  return found;
}

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
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

const MFA_SERIAL = /^(arn:aws[a-z-]*:iam::\d{12}:(mfa|u2f)\/[\w+=,.@/-]{1,512}|[\w+=/:,.@-]{9,256})$/;

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
  let startUrl = profile.keyrole_sso_start_url;
  let ssoRegion = profile.keyrole_sso_region;
  let scopes = profile.keyrole_sso_registration_scopes;
  if (session) {
    const sec = section(files.config, `sso-session.${session}`);
    if (!sec) throw new KeyroleError('UnknownSsoSession', `${where} names sso-session "${session}", which is not in ${files.configPath}`, `add an [sso-session ${session}] section with sso_start_url and sso_region`);
    startUrl = sec.sso_start_url;
    ssoRegion = sec.sso_region;
    scopes = sec.sso_registration_scopes;
    if (!startUrl || !ssoRegion) throw new KeyroleError('BadSsoSession', `[sso-session ${session}] lacks ${!startUrl ? 'sso_start_url' : 'sso_region'}`, `add it to ${files.configPath}`);
  }
  if (!startUrl || !ssoRegion) throw new KeyroleError('BadSsoProfile', `${where} uses SSO but names no keyrole_sso_session (or keyrole_sso_start_url and keyrole_sso_region)`, 'add keyrole_sso_session = <name> and an [sso-session <name>] section');
  if (!accountId || !/^\d{12}$/.test(accountId)) throw new KeyroleError('BadSsoProfile', `${where} needs keyrole_sso_account_id as a 12-digit account id`, 'add keyrole_sso_account_id = 123456789012');
  if (!roleName) throw new KeyroleError('BadSsoProfile', `${where} needs keyrole_sso_role_name`, 'add keyrole_sso_role_name = <permission set name>');
  return { session, startUrl, ssoRegion, registrationScopes: list(scopes), accountId, roleName };
}

/** A role session name valid for STS ([\w+=,.@-], 2 to 64 characters). */
export function defaultSessionName(source: string, user: string): string {
  const clean = (s: string) => s.replace(/[^\w+=,.@-]/g, '_');
  return `keyrole-${clean(source)}-${clean(user)}`.slice(0, 64);
}

/** A value as it appears in an error: quoted, and cut short so a hostile value cannot flood the one line. */
export function quote(v: string): string {
  return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
}

/** keyrole's own yes/no settings: a value that is neither is an error, not a silent "no". */
function flag(v: string | undefined, key: string, where: string): boolean {
  if (v === undefined) return false;
  if (/^(1|true|yes|on)$/i.test(v.trim())) return true;
  if (/^(0|false|no|off)$/i.test(v.trim())) return false;
  throw bad('BadFlag', key, v, where, 'write true or false');
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

/**
 * STS endpoint, in the SDKs' order: service-specific env var, global env var, the profile's
 * `services` section, the profile's endpoint_url; then the regional endpoint, unless
 * sts_regional_endpoints = legacy asks for the global one.
 */
export function resolveEndpoint(files: AwsFiles, profile: Section, region: string, flag?: string): { endpoint: string | undefined; from: string } {
  if (flag) return { endpoint: flag, from: '--endpoint-url' };
  const ignore = truthy(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) || truthy(profile.ignore_configured_endpoint_urls);
  if (!ignore) {
    if (env.AWS_ENDPOINT_URL_STS) return { endpoint: env.AWS_ENDPOINT_URL_STS, from: 'AWS_ENDPOINT_URL_STS' };
    if (env.AWS_ENDPOINT_URL) return { endpoint: env.AWS_ENDPOINT_URL, from: 'AWS_ENDPOINT_URL' };
    const services = profile.services ? section(files.config, `services.${profile.services}`) : undefined;
    const svc = services?.['sts.endpoint_url'];
    if (svc) return { endpoint: svc, from: `[services ${profile.services}] sts.endpoint_url` };
    if (profile.endpoint_url) return { endpoint: profile.endpoint_url, from: 'endpoint_url' };
  }
  // FIPS and dual-stack, as the SDKs read them: the variable first, then the profile.
  const fipsKey = env.AWS_USE_FIPS_ENDPOINT !== undefined ? 'AWS_USE_FIPS_ENDPOINT' : profile.use_fips_endpoint !== undefined ? 'use_fips_endpoint' : undefined;
  const dualKey = env.AWS_USE_DUALSTACK_ENDPOINT !== undefined ? 'AWS_USE_DUALSTACK_ENDPOINT' : profile.use_dualstack_endpoint !== undefined ? 'use_dualstack_endpoint' : undefined;
  const fips = truthy(env.AWS_USE_FIPS_ENDPOINT ?? profile.use_fips_endpoint);
  const dual = truthy(env.AWS_USE_DUALSTACK_ENDPOINT ?? profile.use_dualstack_endpoint);
  if (fips || dual) {
    return { endpoint: regionalStsEndpoint(region, { fips, dual }), from: [fips && `${fipsKey} = true`, dual && `${dualKey} = true`].filter(Boolean).join(', ') };
  }
  const mode = (env.AWS_STS_REGIONAL_ENDPOINTS || profile.sts_regional_endpoints || 'regional').trim();
  if (mode === 'legacy' && LEGACY_GLOBAL_REGIONS.has(region)) {
    return { endpoint: 'https://sts.amazonaws.com', from: 'sts_regional_endpoints = legacy' };
  }
  return { endpoint: undefined, from: `regional (${regionalStsEndpoint(region).slice('https://'.length)})` };
}

/**
 * STS's regional endpoint, as the SDKs' endpoint rules give it: the partition's DNS suffix
 * (its dual-stack one when asked), sts-fips for FIPS (the GovCloud regions' plain endpoint
 * is already FIPS), and the global endpoint for the aws-global pseudo-region.
 */
export function regionalStsEndpoint(region: string, o: { fips?: boolean; dual?: boolean } = {}): string {
  if (region === 'aws-global' && !o.fips && !o.dual) return 'https://sts.amazonaws.com';
  const [suffix, dualSuffix] = /^cn-/.test(region) ? ['amazonaws.com.cn', 'api.amazonwebservices.com.cn']
    : /^us-isob-/.test(region) ? ['sc2s.sgov.gov', 'sc2s.sgov.gov']
    : /^us-isof-/.test(region) ? ['csp.hci.ic.gov', 'csp.hci.ic.gov']
    : /^us-iso-/.test(region) ? ['c2s.ic.gov', 'c2s.ic.gov']
    : /^eu-isoe-/.test(region) ? ['cloud.adc-e.uk', 'cloud.adc-e.uk']
    : /^eusc-/.test(region) ? ['amazonaws.eu', 'amazonaws.eu']
    : ['amazonaws.com', 'api.aws'];
  const name = o.fips && !(/^us-gov-/.test(region) && !o.dual) ? 'sts-fips' : 'sts';
  return `https://${name}.${region}.${o.dual ? dualSuffix : suffix}`;
}

// Regions that botocore's legacy mode sends to the global endpoint.
const LEGACY_GLOBAL_REGIONS = new Set([
  'ap-northeast-1', 'ap-south-1', 'ap-southeast-1', 'ap-southeast-2', 'aws-global', 'ca-central-1',
  'eu-central-1', 'eu-north-1', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'sa-east-1',
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
]);

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
  const given = [keychainSource && 'keyrole_source', sourceProfile && 'keyrole_source_profile', sso && 'keyrole_sso_*'].filter(Boolean);
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
  const sourceKind: SourceKind = keychainSource ? 'keychain' : sourceProfile ? 'profile' : 'sso';
  const source = keychainSource ?? (sourceProfile ? `profile:${sourceProfile}` : `sso:${sso!.startUrl}/${sso!.accountId}/${sso!.roleName}`);

  const roleArn = o.roleArn ?? profile.keyrole_role_arn;
  if (roleArn !== undefined && !ROLE_ARN.test(roleArn)) {
    throw new KeyroleError('BadRoleArn', `role ARN ${quote(roleArn)} in ${where} is not an IAM role ARN`, 'write it as arn:aws:iam::123456789012:role/Name');
  }

  const durationRaw = o.duration ?? profile.keyrole_duration_seconds;
  const durationSeconds = durationRaw === undefined
    ? DEFAULT_DURATION
    : parseDuration(durationRaw, o.duration !== undefined ? '--duration' : `keyrole_duration_seconds in ${where}`, o.duration !== undefined ? 'pass --duration 3600, for example' : `fix it in ${files.configPath}`);

  let region: string;
  let regionFrom: string;
  if (o.region) [region, regionFrom] = [o.region, '--region'];
  else if (env.AWS_REGION) [region, regionFrom] = [env.AWS_REGION, 'AWS_REGION'];
  else if (env.AWS_DEFAULT_REGION) [region, regionFrom] = [env.AWS_DEFAULT_REGION, 'AWS_DEFAULT_REGION'];
  else if (profile.region) [region, regionFrom] = [profile.region, `region in ${where}`];
  else [region, regionFrom] = [DEFAULT_REGION, 'default'];
  checkRegion(region, regionFrom);

  const { endpoint, from: endpointFrom } = resolveEndpoint(files, profile, region, o.endpointUrl);
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
    throw new KeyroleError('BadEndpoint', `STS endpoint ${quote(endpoint)} (from ${endpointFrom}) is not an http(s) URL`, 'fix or unset it');
  }

  const sessionName = o.sessionName ?? profile.keyrole_role_session_name ?? defaultSessionName(keychainSource ?? sourceProfile ?? sso!.roleName, localUser);
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

  return {
    profile: profileName, sourceKind, source, sourceProfile, sso, roleArn, durationSeconds, durationExplicit: durationRaw !== undefined,
    region, regionFrom, endpoint, endpointFrom, caBundle: caBundleSetting(profile, profileName), sessionName, shadowing,
    mfaSerial, mfaOnAssume: flag(profile.keyrole_mfa_on_assume, 'keyrole_mfa_on_assume', where), mfaProcess: profile.keyrole_mfa_process, sessionDurationSeconds,
    externalId, sourceIdentity, tags: parseTags(profile.keyrole_tags, where), transitiveTagKeys: list(profile.keyrole_transitive_tag_keys), policyArns,
  };
}
