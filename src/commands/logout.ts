// `keyrole logout <profile>`: ends the AWS Sign-In session a profile uses. The session
// (refresh token and DPoP key) leaves the keychain, and every cached credential resting on
// it (the login credentials and any role on top), found through the planner in both
// stores, as `keyrole sso logout` does for IAM Identity Center. AWS Sign-In has no sign-out
// call for a refresh token; it is forgotten here, and the session ends at AWS by itself
// (12 hours at most).

import { loadAwsFiles } from '../config/files.ts';
import { resolveSettings } from '../config/settings.ts';
import { localUser } from '../credentials/user.ts';
import { deleteEntries, entriesUnder, layersOf } from '../credentials/plan.ts';
import { forgetRecord } from '../login/record.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';
import { parseCommand } from './args.ts';
import { loginTarget } from './login.ts';

export async function main(argv: string[]): Promise<void> {
  const { positionals } = parseCommand('logout', argv, {});
  if (positionals.length !== 1) throw usageError('logout takes one profile name', 'keyrole logout <profile>');
  const files = await loadAwsFiles();
  const target = loginTarget(files, positionals[0]!);
  if (target.kind !== 'signin') {
    throw new KeyroleError('NotSignin', `profile ${positionals[0]} does not use AWS Sign-In (keyrole_login_session)`, target.kind === 'sso' ? `for IAM Identity Center: keyrole sso logout ${target.name}` : 'give a profile with keyrole_login_session');
  }
  const ref = resolveSettings(files, target.profile, {}, localUser()).login!;
  const had = forgetRecord(ref.session);
  const { removed, failed } = await deleteEntries(entriesUnder(files, (l) => layersOf(l).some((x) => x.login?.session === ref.session)));
  for (const [kind, err] of failed) process.stderr.write(`keyrole: warning: could not remove the credentials in the ${kind} cache (${printable(err.message)})\n`);
  const creds = `${removed.length} cached credential${removed.length === 1 ? '' : 's'} resting on it ${removed.length === 1 ? 'is' : 'are'} removed`;
  process.stdout.write(had
    ? `Signed out of ${ref.session} (profile ${target.profile}): the AWS Sign-In session is removed from the keychain and ${creds}.\n`
    : `keyrole holds no AWS Sign-In session for profile ${target.profile}; ${creds}.\n`);
}
