// keyrole's own checks of a profile, on top of the SDK's reading: the keyrole_* keys it
// knows (a typo is an error with a "did you mean"), keys set twice or written without '=',
// the keys that make the AWS tools skip credential_process, and why a profile the user
// wrote may not be found.
//
// keyrole's own keys carry a `keyrole_` prefix because the CLI and the SDKs give
// role_arn, source_profile, credential_source, sso_* and static keys precedence over
// credential_process: a profile holding both would silently bypass keyrole.

import { KeyroleError } from '../util/errors.ts';
import { scanSection, type Section } from './ini.ts';
import { section, type AwsFiles } from './files.ts';

/**
 * Every keyrole_* key keyrole reads. Any other keyrole_* key in the profile in use is an
 * error (a typo such as keyrole_rol_arn would otherwise be ignored without a word);
 * test/robustness.config.test.ts checks the sources read no key missing here.
 */
export const KEYROLE_KEYS: readonly string[] = [
  'keyrole_source', 'keyrole_source_profile', 'keyrole_role_arn', 'keyrole_duration_seconds', 'keyrole_role_session_name',
  'keyrole_mfa_serial', 'keyrole_mfa_on_assume', 'keyrole_mfa_process', 'keyrole_session_duration',
  'keyrole_external_id', 'keyrole_source_identity', 'keyrole_tags', 'keyrole_transitive_tag_keys', 'keyrole_policy_arns',
  'keyrole_cache', 'keyrole_ntp_servers', 'keyrole_login_session',
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
      near ? `did you mean ${near}?` : 'remove it; docs/configuration.md lists every keyrole_* setting');
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
export function missingProfileHint(files: AwsFiles, name: string): [string, string] | undefined {
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

// Keys that win over credential_process: botocore's chain is env, role_arn, web identity,
// SSO, static keys, credential_process; the JS SDK's is role_arn, static, web identity,
// process, SSO (botocore credentials.py, @aws-sdk/credential-provider-ini).
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

/** A value as it appears in an error: quoted, and cut short so a hostile value cannot flood the one line. */
export function quote(v: string): string {
  return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
}
