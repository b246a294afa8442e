// doctor's check for long-term keys on disk: `aws_access_key_id` + `aws_secret_access_key`
// (no session token) in the credentials file, or static keys written in the config. keyrole
// exists so that no such key sits in plaintext; `keyrole import` moves them into the
// keychain and rewrites the profiles that used them. Temporary keys (with
// aws_session_token) expire by themselves and are not flagged.

import { profileNames, type AwsFiles, type Section } from '../../config/files.ts';
import { printable } from '../../util/printable.ts';
import { ok, problem, type Check } from './check.ts';

const NAME = 'plaintext keys';

function longTerm(sections: Record<string, Section>, file: 'config' | 'credentials'): string[] {
  return profileNames(sections, file).filter((name) => sections[name].aws_secret_access_key !== undefined && sections[name].aws_session_token === undefined);
}

export function plaintextCheck(files: AwsFiles): Check {
  const cred = longTerm(files.credentials, 'credentials');
  const cfg = longTerm(files.config, 'config');
  if (!cred.length && !cfg.length) return ok(NAME, `no long-term access key in ${files.credentialsPath} or ${files.configPath}`);
  const where = [
    cred.length ? `${files.credentialsPath} ([${cred.map(printable).join('], [')}])` : '',
    cfg.length ? `${files.configPath} (profile${cfg.length > 1 ? 's' : ''} ${cfg.map(printable).join(', ')})` : '',
  ].filter(Boolean).join(' and ');
  const n = cred.length + cfg.length;
  return problem(NAME, `${n} long-term access key${n > 1 ? 's are' : ' is'} stored in plaintext in ${where}: any program or backup that reads the file has ${n > 1 ? 'them' : 'it'}`,
    'keyrole import moves them into the keychain and rewrites the profiles that use them (keyrole import --dry-run shows the plan first)');
}
