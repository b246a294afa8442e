// doctor's check for long-term keys on disk: `aws_access_key_id` + `aws_secret_access_key`
// (no session token) in the credentials file, static keys written in the config, or either
// in keyrole's own backups of them (src/config/plaintext.ts says which). keyrole
// exists so that no such key sits in plaintext; `keyrole import` moves them into the
// keychain and rewrites the profiles that used them. Temporary keys (with
// aws_session_token) expire by themselves and are not flagged.

import type { AwsFiles } from '../../config/files.ts';
import { backupsWithKeys, longTermKeyProfiles } from '../../config/plaintext.ts';
import { printable } from '../../util/printable.ts';
import { ok, problem, type Check } from './check.ts';

const NAME = 'plaintext keys';

export function plaintextCheck(files: AwsFiles): Check {
  const cred = longTermKeyProfiles(files.credentials, 'credentials');
  const cfg = longTermKeyProfiles(files.config, 'config');
  const backups = backupsWithKeys([files.configPath, files.credentialsPath]);
  if (!cred.length && !cfg.length && !backups.length) return ok(NAME, `no long-term access key in ${files.credentialsPath} or ${files.configPath}, or in keyrole's backups of them`);
  if (!cred.length && !cfg.length) {
    return problem(NAME, `keyrole's backup${backups.length > 1 ? 's' : ''} ${backups.map((b) => printable(b.path)).join(', ')} still hold${backups.length > 1 ? '' : 's'} a long-term secret access key in plaintext ([${backups.flatMap((b) => b.sections).map(printable).join('], [')}])`,
      'keyrole import removes the secrets it has stored in the keychain from these backups; delete a backup you do not need');
  }
  const where = [
    cred.length ? `${files.credentialsPath} ([${cred.map(printable).join('], [')}])` : '',
    cfg.length ? `${files.configPath} (profile${cfg.length > 1 ? 's' : ''} ${cfg.map(printable).join(', ')})` : '',
  ].filter(Boolean).join(' and ');
  const alsoBackups = backups.length ? ` (and ${backups.length} of keyrole's backups of them)` : '';
  const n = cred.length + cfg.length;
  return problem(NAME, `${n} long-term access key${n > 1 ? 's are' : ' is'} stored in plaintext in ${where}${alsoBackups}: any program or backup that reads the file has ${n > 1 ? 'them' : 'it'}`,
    'keyrole import moves them into the keychain and rewrites the profiles that use them (keyrole import --dry-run shows the plan first)');
}
