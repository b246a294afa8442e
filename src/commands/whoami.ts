// `keyrole whoami [profile]`: who the profile's credentials are, by asking STS
// (GetCallerIdentity needs no permission), and how long they last.

import { getCallerIdentity } from '../aws/sts.ts';
import { isoSeconds } from '../credentials/blob.ts';
import { usageError } from '../util/errors.ts';
import { parseCommand } from './args.ts';
import { profileArg, profileSession } from './session.ts';
import { target } from '../credentials/target.ts';
import { formatLeft } from '../util/duration.ts';

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('whoami', argv, { json: { type: 'boolean' }, cache: { type: 'string' } });
  if (positionals.length > 1) throw usageError(`whoami takes one profile, got ${positionals.length}`, 'keyrole whoami [profile]');
  const profile = profileArg('whoami', positionals[0]);
  const p = await profileSession(profile, { cache: v.cache });
  const c = p.credentials;
  // The clock is checked here even on a cache hit: whoami answers "does this work?", and
  // with a clock AWS rejects the AWS CLI fails however long the cached credentials have left.
  const t = { ...await target(p.settings), clockOffsetMs: p.entry.clockOffsetMs };
  const id = await getCallerIdentity({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken }, t);
  const left = p.expiration.getTime() - Date.now();
  if (v.json) {
    process.stdout.write(`${JSON.stringify({
      Profile: profile,
      Account: id.account,
      Arn: id.arn,
      UserId: id.userId,
      Expiration: isoSeconds(p.expiration),
      ExpiresInSeconds: Math.max(0, Math.floor(left / 1000)),
      Source: p.settings.source,
      RoleArn: p.settings.roleArn ?? null,
      FromCache: p.fromCache,
    }, null, 2)}\n`);
    return;
  }
  const rows: [string, string][] = [
    ['Profile', profile],
    ['Account', id.account],
    ['ARN', id.arn],
    ['UserId', id.userId],
    ['Expires', `in ${formatLeft(left)} (${isoSeconds(p.expiration)})`],
    ['Source', `${p.settings.source}${p.settings.roleArn ? ` → ${p.settings.roleArn}` : ''} (${p.fromCache ? 'cached' : 'fresh from STS'})`],
  ];
  for (const [k, val] of rows) process.stdout.write(`${k.padEnd(8)} ${val}\n`);
}
