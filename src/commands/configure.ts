// `keyrole configure <profile>`: writes a keyrole profile into ~/.aws/config, from flags
// or by asking at the terminal. The rest of the file is kept byte for byte
// (src/config/configedit.ts), a backup is made first, and a profile whose other keys would make
// the AWS CLI skip credential_process is refused rather than written.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { selfCommand } from '../util/self.ts';
import { splitCommandLine } from '../util/platform.ts';
import { configPath, credentialsPath, section, type AwsFiles } from '../config/files.ts';
import { DURATION_MAX, DURATION_MIN, MFA_SERIAL, parseDuration, resolveSettings, ROLE_ARN, validSourceName } from '../config/settings.ts';
import { printable } from '../util/printable.ts';
import { shadowingKeys } from '../config/checks.ts';
import { configSections, parseIni, readIniFile } from '../config/ini.ts';
import { localUser } from '../credentials/user.ts';
import { listSources, sourceExists } from '../keychain/sources.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { ask, openTerminal, type Terminal } from '../util/prompt.ts';
import { shlexQuote } from '../config/shlex.ts';
import { removeProfileKeys, rewriteConfig, setProfileValues } from '../config/configedit.ts';
import { parseCommand } from './args.ts';

const PROFILE_NAME = /^[\w\-@+.%:/]{1,128}$/;

export interface ConfigureOptions {
  profile: string;
  source?: string;
  roleArn?: string;
  duration?: string;
  region?: string;
  mfaSerial?: string;
  sessionName?: string;
}

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('configure', argv, {
    source: { type: 'string' },
    'role-arn': { type: 'string' },
    duration: { type: 'string' },
    region: { type: 'string' },
    'mfa-serial': { type: 'string' },
    'session-name': { type: 'string' },
  });
  if (positionals.length !== 1) throw usageError('configure takes one profile name', 'keyrole configure <profile> [--source <name>] [--role-arn <arn>] …');
  const o: ConfigureOptions = { profile: positionals[0], source: v.source, roleArn: v['role-arn'], duration: v.duration, region: v.region, mfaSerial: v['mfa-serial'], sessionName: v['session-name'] };
  if (!PROFILE_NAME.test(o.profile)) throw usageError(`profile name ${JSON.stringify(o.profile)} is not valid in the AWS config`, 'use letters, digits and -_@+.%:/');
  return configureCommand(o);
}

/** Whether an existing credential_process line already runs keyrole process for this profile. */
function runsKeyroleFor(line: string | undefined, profile: string): boolean {
  if (!line) return false;
  try {
    const argv = splitCommandLine(line, process.platform);
    const i = argv.findIndex((a) => /^keyrole(\.cjs|\.exe)?$/i.test(basename(a)));
    return i >= 0 && argv[i + 1] === 'process' && argv[i + 2] === profile;
  } catch {
    return false;
  }
}

/** The answer (or flag value) that removes a setting from the profile. */
export const CLEAR = '-';

type Problem = (v: string) => string | undefined;

/** What is wrong with each answer, checked as it is typed (and for flags, before anything is written). */
export const CHECKS: Record<'source' | 'roleArn' | 'duration' | 'region' | 'mfaSerial' | 'sessionName', Problem> = {
  source: (v) => (validSourceName(v) ? undefined : 'a source name is letters, digits and ._@+=- (up to 64 characters)'),
  roleArn: (v) => (ROLE_ARN.test(v) ? undefined : 'not an IAM role ARN: write it as arn:aws:iam::123456789012:role/Name'),
  duration: (v) => { try { parseDuration(v, 'the duration', ''); return undefined; } catch { return `not a whole number of seconds from ${DURATION_MIN} to ${DURATION_MAX}`; } },
  region: (v) => (/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(v) ? undefined : 'not a region name (such as eu-west-1)'),
  mfaSerial: (v) => (MFA_SERIAL.test(v) ? undefined : 'not an MFA device: write it as arn:aws:iam::123456789012:mfa/name'),
  sessionName: (v) => (/^[\w+=,.@-]{2,64}$/.test(v) ? undefined : 'a role session name is 2 to 64 characters from letters, digits and +=,.@_-'),
};

/** Asks until the answer passes its check: empty keeps the current value, "-" clears it (where it may be cleared). */
async function askValid(term: Terminal, text: string, current: string | undefined, check: Problem, clearable: boolean): Promise<string | undefined> {
  const hint = [current ? `${current}` : '', clearable && current ? `${CLEAR} clears` : ''].filter(Boolean).join('; ');
  for (let tries = 0; ; tries++) {
    const answer = await ask(term, `${text}${hint ? ` [${hint}]` : ''}: `);
    if (!answer) return current;
    if (answer === CLEAR && clearable) return CLEAR;
    const problem = check(answer);
    if (!problem) return answer;
    if (tries >= 4) throw new KeyroleError('BadAnswer', `${JSON.stringify(printable(answer).slice(0, 80))}: ${problem}`, 'nothing was written; run keyrole configure again');
    term.output.write(`  ${problem}${clearable ? ` (${CLEAR} clears it, Enter keeps ${current ? 'the current value' : 'it empty'})` : ''}\n`);
  }
}

async function askMissing(term: Terminal, o: ConfigureOptions, current: Record<string, string | undefined>): Promise<void> {
  let sources: string[] = [];
  try { sources = listSources(); } catch { /* the keychain is checked when the profile is used */ }
  const sourceDefault = current.keyrole_source ?? (sources.length === 1 ? sources[0] : undefined);
  o.source ??= await askValid(term, `Keychain source${sources.length ? ` (${sources.join(', ')})` : ''}`, sourceDefault, CHECKS.source, false);
  o.roleArn ??= await askValid(term, 'Role ARN to assume (empty: none)', current.keyrole_role_arn, CHECKS.roleArn, true);
  o.duration ??= await askValid(term, 'Session duration in seconds', current.keyrole_duration_seconds ?? '3600', CHECKS.duration, true);
  o.region ??= await askValid(term, 'Region (empty: none)', current.region, CHECKS.region, true);
  o.mfaSerial ??= await askValid(term, 'MFA device ARN (empty: none)', current.keyrole_mfa_serial, CHECKS.mfaSerial, true);
}

export async function configureCommand(o: ConfigureOptions): Promise<void> {
  const path = configPath();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyroleError('ConfigUnreadable', `cannot read ${path} (${(err as NodeJS.ErrnoException).code})`, 'fix its permissions, or point AWS_CONFIG_FILE elsewhere');
  }
  const current = section(configSections(parseIni(text)), o.profile) ?? {};
  const flagsGiven = [o.source, o.roleArn, o.duration, o.region, o.mfaSerial, o.sessionName].some((x) => x !== undefined);

  if (!flagsGiven || (o.source === undefined && !current.keyrole_source)) {
    const term = openTerminal();
    if (!term) {
      if (o.source === undefined && !current.keyrole_source) {
        throw new KeyroleError('NoTerminal', `there is no terminal to ask for the settings of profile ${o.profile}`, `pass them as flags: keyrole configure ${o.profile} --source <name> [--role-arn <arn>] [--duration <s>] [--region <r>]`);
      }
    } else {
      try { await askMissing(term, o, current); } finally { term.close(); }
    }
  }
  if (!o.source && !current.keyrole_source) throw new KeyroleError('NoSource', `profile ${o.profile} needs a keychain source`, `pass --source <name> (the name given to keyrole setup)`);

  // Flags are checked like answers; "-" clears a setting.
  const given: [keyof typeof CHECKS, string | undefined][] = [['source', o.source], ['roleArn', o.roleArn], ['duration', o.duration], ['region', o.region], ['mfaSerial', o.mfaSerial], ['sessionName', o.sessionName]];
  for (const [name, v] of given) {
    if (v === undefined || (v === CLEAR && name !== 'source')) continue;
    const problem = CHECKS[name](v.trim());
    if (problem) throw new KeyroleError('BadConfigValue', `${JSON.stringify(printable(v).slice(0, 80))} for ${name}: ${problem}`, 'nothing was written');
  }
  const values: [string, string][] = [];
  const clear: string[] = [];
  if (!runsKeyroleFor(current.credential_process, o.profile)) values.push(['credential_process', `${selfCommand()} process ${shlexQuote(o.profile)}`]);
  const put = (k: string, v: string | undefined) => { if (v === CLEAR) clear.push(k); else if (v) values.push([k, v.trim()]); };
  put('keyrole_source', o.source);
  put('keyrole_role_arn', o.roleArn);
  put('keyrole_duration_seconds', o.duration);
  put('keyrole_mfa_serial', o.mfaSerial);
  put('keyrole_role_session_name', o.sessionName);
  put('region', o.region);

  const cleared = removeProfileKeys(text, o.profile, clear);
  const edit = setProfileValues(cleared.text, o.profile, values);
  edit.changed.push(...cleared.removed.map((k) => `-${k}`));
  const files: AwsFiles = { configPath: path, credentialsPath: credentialsPath(), config: configSections(parseIni(edit.text)), credentials: readIniFile(credentialsPath(), 'credentials') };

  // What was written must read back as written (no value cut short by a comment character).
  const after = section(files.config, o.profile) ?? {};
  for (const [k, v] of values) {
    if (after[k] !== v) throw new KeyroleError('BadConfigValue', `${k} = ${v} would not read back unchanged from the config file`, 'avoid " #" and " ;" in values');
  }
  const shadow = shadowingKeys(files, o.profile);
  if (shadow.length) {
    throw new KeyroleError('ProfileShadowed',
      `profile ${o.profile} has ${shadow.join(', ')}, which the AWS CLI and SDKs use before credential_process: with ${shadow.length === 1 ? 'it' : 'them'}, credential_process would never run, so nothing was written`,
      `remove ${shadow.length === 1 ? 'that line' : 'those lines'} from [${o.profile === 'default' ? 'default' : `profile ${o.profile}`}] first (keyrole_role_arn and keyrole_source_profile replace role_arn and source_profile), or configure a new profile name`);
  }
  // The same validation `keyrole process` applies: a bad ARN or duration is refused now, not at first use.
  resolveSettings(files, o.profile, {}, localUser());

  if (!edit.changed.length && !edit.added.length) {
    process.stdout.write(`Profile ${o.profile} in ${path} already has these settings; nothing changed.\n`);
    return;
  }
  const backup = rewriteConfig(path, edit.text);
  const what = [...edit.added.map((k) => `+${k}`), ...edit.changed.map((k) => (k.startsWith('-') ? k : `~${k}`))].join(' ');
  process.stdout.write(`Wrote profile ${o.profile} to ${path} (${edit.created ? 'new profile' : what})${backup ? `; backup: ${backup}` : ''}.\n`);
  const source = o.source ?? current.keyrole_source;
  if (source) {
    let stored = true;
    try { stored = sourceExists(source); } catch { /* no keychain here: said when the profile is used */ }
    if (!stored) process.stdout.write(`Source "${source}" is not in the keychain yet: store its keys with keyrole setup ${source}\n`);
  }
  process.stdout.write(`Check it with: keyrole doctor ${o.profile}\n`);
}
