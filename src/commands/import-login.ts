// `keyrole import` for AWS Sign-In sessions: each profile with `login_session` whose session
// `aws login` left in its plaintext cache (src/login/awscache.ts) moves in. The order is
// what makes a failure or a kill lose nothing:
//   1. the session goes into the keychain and is read back;
//   2. it is refreshed once through keyrole (the refresh token rotates; the new one goes
//      to the keychain first). A session AWS will not refresh (ended, refused) is taken out
//      of the keychain again and left where it was, with a note;
//   3. the profile is rewritten (login_session becomes keyrole_login_session, its line
//      kept; credential_process added), after a backup;
//   4. the plaintext file is removed.
// Roles whose source_profile is such a profile keep working: the AWS CLI then takes the
// source's credentials from its credential_process.

import { unlinkSync } from 'node:fs';
import { configPath, credentialsPath, profileNames, usesKeyrole, type AwsFiles } from '../config/files.ts';
import { configSections, parseIni, readIniText } from '../config/ini.ts';
import { LineEditor, rewriteConfig, setProfileValues } from '../config/configedit.ts';
import { shlexQuote } from '../config/shlex.ts';
import { resolveRegion } from '../config/endpoints.ts';
import { LOGIN_SESSION_ARN, signinEndpoint } from '../login/endpoint.ts';
import { readAwsCache } from '../login/awscache.ts';
import { forgetRecord, readRecord, writeRecord, type LoginRecord } from '../login/record.ts';
import { refreshLogin } from '../login/session.ts';
import { caBundleSetting } from '../config/cabundle.ts';
import { KeyroleError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';
import { selfCommand } from '../util/self.ts';

interface Candidate { profile: string; record: LoginRecord; path: string; endpoint: string }

const configKey = (profile: string) => (profile === 'default' ? 'default' : `profile.${profile}`);

/** What can move in, and notes on what cannot; from the files alone. */
function plan(): { candidates: Candidate[]; notes: string[] } {
  const text = readIniText(configPath(), 'config') ?? '';
  const cfg = configSections(parseIni(text));
  const files: AwsFiles = { configPath: configPath(), credentialsPath: credentialsPath(), config: cfg, credentials: {} };
  const candidates: Candidate[] = [];
  const notes: string[] = [];
  for (const p of profileNames(cfg)) {
    const sec = cfg[p]!;
    const arn = sec.login_session;
    if (arn === undefined || usesKeyrole(sec)) continue;
    if (!LOGIN_SESSION_ARN.test(arn)) { notes.push(`profile ${p} left as it is: its login_session is not a session ARN`); continue; }
    let region: string;
    try {
      region = resolveRegion(undefined, sec, `profile ${p}`).region;
    } catch (err) {
      notes.push(`profile ${p} left as it is: ${(err as Error).message}`);
      continue;
    }
    const found = readAwsCache(arn, region);
    if (!found) { notes.push(`profile ${p} left as it is: aws login left no session for it (sign in with keyrole login ${p} instead)`); continue; }
    if (!found.record) { notes.push(`profile ${p} left as it is: the session in ${found.path} cannot be used (${found.problem})`); continue; }
    candidates.push({ profile: p, record: found.record, path: found.path, endpoint: signinEndpoint(files, sec, region).endpoint });
  }
  return { candidates, notes };
}

/** Prints the plan, and with `write` moves the sessions in. The number of profiles converted (or to be). */
export async function importLoginSessions(o: { dryRun: boolean; yes: boolean }): Promise<number> {
  const { candidates, notes } = plan();
  if (!candidates.length && !notes.length) return 0;
  const out: string[] = [];
  if (candidates.length) {
    out.push('AWS Sign-In sessions (aws login) to move into the keychain:');
    for (const c of candidates) out.push(`  profile ${printable(c.profile)}: ${printable(c.record.session)} from ${c.path}; the profile then runs keyrole`);
  }
  for (const n of notes) out.push(`  ${printable(n)}`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (o.dryRun || !candidates.length) return candidates.length;
  if (!o.yes) {
    const { openTerminal, confirm } = await import('../util/prompt.ts');
    const term = openTerminal();
    if (!term) throw new KeyroleError('NoTerminal', 'there is no terminal to confirm the import', 'check the plan with keyrole import --dry-run, then run keyrole import --yes');
    try {
      if (!(await confirm(term, 'Move these sessions into the keychain and rewrite the profiles?'))) throw new KeyroleError('Cancelled', 'import cancelled', 'nothing was changed', 1);
    } finally {
      term.close();
    }
  }

  const moved: Candidate[] = [];
  for (const c of candidates) {
    // 1. In, and read back.
    writeRecord(c.record);
    const back = readRecord(c.record.session);
    if (!back || back.refreshToken !== c.record.refreshToken || back.dpopKey !== c.record.dpopKey) {
      throw new KeyroleError('KeychainReadBack', `the AWS Sign-In session of profile ${c.profile} read back from the keychain differs from what was stored`, 'no file was changed; check the keychain and run keyrole import again');
    }
    // 2. One refresh: only a session AWS still refreshes is worth moving.
    try {
      await refreshLogin({ session: c.record.session, region: c.record.region, endpoint: c.endpoint, endpointFrom: '' }, c.profile, caBundleSetting(undefined));
    } catch (err) {
      forgetRecord(c.record.session);
      const why = err instanceof KeyroleError ? err.message : (err as Error).message;
      process.stdout.write(`  profile ${printable(c.profile)} left as it is: the session could not be refreshed (${printable(why)}); ${c.path} is kept\n`);
      continue;
    }
    moved.push(c);
  }
  if (!moved.length) return 0;
  // 3. The config: login_session renamed on its line, credential_process added.
  const path = configPath();
  const text = readIniText(path, 'config') ?? '';
  const edit = new LineEditor(text);
  for (const c of moved) edit.rename(configKey(c.profile), 'login_session', 'keyrole_login_session');
  let next = edit.text();
  for (const c of moved) next = setProfileValues(next, c.profile, [['credential_process', `${selfCommand()} process ${shlexQuote(c.profile)}`]]).text;
  const cfg = configSections(parseIni(next));
  for (const c of moved) {
    if (cfg[c.profile]?.keyrole_login_session !== c.record.session) throw new KeyroleError('BadConfigValue', `profile ${c.profile} would not read back with keyrole_login_session`, 'nothing in the config was changed; the sessions are in the keychain');
  }
  const backup = rewriteConfig(path, next);
  // 4. The plaintext sessions go.
  for (const c of moved) {
    try {
      unlinkSync(c.path);
    } catch (err) {
      process.stderr.write(`keyrole: warning: could not remove ${c.path} (${(err as NodeJS.ErrnoException).code}); it holds the session in plaintext: delete it\n`);
    }
  }
  process.stdout.write(`Moved ${moved.length} AWS Sign-In session${moved.length === 1 ? '' : 's'} (${moved.map((c) => printable(c.profile)).join(', ')}) into the keychain, removed the plaintext file${moved.length === 1 ? '' : 's'}, and rewrote ${path}${backup ? ` (backup: ${backup})` : ''}.\n`);
  return moved.length;
}
