// `keyrole configure <profile>`: writes a keyrole profile into ~/.aws/config, from flags
// or by asking at the terminal. The rest of the file is kept byte for byte
// (src/config/configedit.ts), a backup is made first, and a profile whose other keys would make
// the AWS CLI skip credential_process is refused rather than written.

import { commandLine, exeName, selfWords, splitCommandLine } from '../util/platform.ts';
import { readFileSync, realpathSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { configPath, credentialsPath, section, type AwsFiles } from '../config/files.ts';
import { resolveSettings } from '../config/settings.ts';
import { shadowingKeys } from '../config/checks.ts';
import { configSections, parseIni, readIniFile } from '../config/ini.ts';
import { localUser } from '../credentials/resolve.ts';
import { listSources, sourceExists } from '../keychain/keychain.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { ask, openTerminal, type Terminal } from '../util/prompt.ts';
import { shlexQuote } from '../config/shlex.ts';
import { backupFile, setProfileValues, writeFileAtomic } from '../config/configedit.ts';
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

/** The command the config should run: `keyrole` when PATH finds this executable, else its full path. */
export function selfCommand(): string {
  const self = /^keyrole/i.test(basename(process.execPath)) ? process.execPath : process.argv[1] ?? process.execPath;
  let real = self;
  try { real = realpathSync(self); } catch { /* keep */ }
  for (const dir of (process.env.PATH || '').split(delimiter)) {
    if (!dir) continue;
    try {
      if (realpathSync(join(dir, exeName('keyrole', process.platform))) === real) return 'keyrole';
    } catch { /* not here */ }
  }
  return commandLine(selfWords({ platform: process.platform, execPath: process.execPath, script: real, isExecutable: self === process.execPath }), process.platform);
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

async function askMissing(term: Terminal, o: ConfigureOptions, current: Record<string, string | undefined>): Promise<void> {
  let sources: string[] = [];
  try { sources = listSources(); } catch { /* the keychain is checked when the profile is used */ }
  const dflt = (v: string | undefined) => (v ? ` [${v}]` : '');
  const q = async (text: string, fallback: string | undefined) => (await ask(term, `${text}${dflt(fallback)}: `)) || fallback;
  const sourceDefault = current.keyrole_source ?? (sources.length === 1 ? sources[0] : undefined);
  o.source ??= await q(`Keychain source${sources.length ? ` (${sources.join(', ')})` : ''}`, sourceDefault);
  o.roleArn ??= await q('Role ARN to assume (empty: none)', current.keyrole_role_arn);
  o.duration ??= await q('Session duration in seconds', current.keyrole_duration_seconds ?? '3600');
  o.region ??= await q('Region (empty: none)', current.region);
  o.mfaSerial ??= await q('MFA device ARN (empty: none)', current.keyrole_mfa_serial);
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

  const values: [string, string][] = [];
  if (!runsKeyroleFor(current.credential_process, o.profile)) values.push(['credential_process', `${selfCommand()} process ${shlexQuote(o.profile)}`]);
  const put = (k: string, v: string | undefined) => { if (v) values.push([k, v.trim()]); };
  put('keyrole_source', o.source);
  put('keyrole_role_arn', o.roleArn);
  put('keyrole_duration_seconds', o.duration);
  put('keyrole_mfa_serial', o.mfaSerial);
  put('keyrole_role_session_name', o.sessionName);
  put('region', o.region);

  const edit = setProfileValues(text, o.profile, values);
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
  const backup = backupFile(path);
  writeFileAtomic(path, edit.text);
  const what = [...edit.added.map((k) => `+${k}`), ...edit.changed.map((k) => `~${k}`)].join(' ');
  process.stdout.write(`Wrote profile ${o.profile} to ${path} (${edit.created ? 'new profile' : what})${backup ? `; backup: ${backup}` : ''}.\n`);
  const source = o.source ?? current.keyrole_source;
  if (source) {
    let stored = true;
    try { stored = sourceExists(source); } catch { /* no keychain here: said when the profile is used */ }
    if (!stored) process.stdout.write(`Source "${source}" is not in the keychain yet: store its keys with keyrole setup ${source}\n`);
  }
  process.stdout.write(`Check it with: keyrole doctor ${o.profile}\n`);
}
