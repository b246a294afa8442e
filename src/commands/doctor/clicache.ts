// doctor's check of the AWS CLI's own assume-role cache: ~/.aws/cli/cache/<sha1 of the
// AssumeRole arguments>.json, the whole AssumeRole answer, reused while 15 minutes remain.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { userHome } from '../../util/home.ts';
import { shadowingKeys } from '../../config/checks.ts';
import { ok, skipped, warning, type Check, type DoctorContext } from './check.ts';

/** The AWS CLI's own assume-role cache: entries for the profile's role. */
export function cliCacheCheck(ctx: DoctorContext): Check {
  const name = 'AWS CLI cache';
  // The AWS CLI's own role_arn counts too: a profile keyrole cannot read may still have one.
  const role = ctx.settings?.roleArn ?? ctx.section?.role_arn;
  if (!role) return skipped(name, ctx.profile ? 'the profile assumes no role' : 'no profile');
  const m = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(role);
  if (!m) return skipped(name, 'role ARN not recognised');
  const assumed = `arn:${m[1]}:sts::${m[2]}:assumed-role/${m[3]}/`;
  const dir = join(userHome(), '.aws', 'cli', 'cache');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return ok(name, `no AWS CLI cache (${dir})`);
  }
  const stale: string[] = [];
  const live: string[] = [];
  for (const n of names) {
    try {
      const v = JSON.parse(readFileSync(join(dir, n), 'utf8')) as { Credentials?: { Expiration?: string }; AssumedRoleUser?: { Arn?: string } };
      if (!v.AssumedRoleUser?.Arn?.startsWith(assumed)) continue;
      const exp = Date.parse(v.Credentials?.Expiration ?? '');
      (isNaN(exp) || exp <= ctx.now() ? stale : live).push(join(dir, n));
    } catch { /* not a CLI cache entry */ }
  }
  const shadowed = ctx.profile && ctx.files ? shadowingKeys(ctx.files, ctx.profile).some((k) => k.startsWith('role_arn')) : false;
  if (stale.length) {
    return warning(name, `the AWS CLI's own cache holds expired credentials for role ${m[3]} (${stale.join(', ')})`, `delete ${stale.length === 1 ? 'it' : 'them'}: rm ${stale.join(' ')}`);
  }
  if (live.length && shadowed) {
    return warning(name, `the AWS CLI uses its own cached credentials for role ${m[3]} (${live.join(', ')}), because the profile has role_arn`, `remove role_arn from the profile, then rm ${live.join(' ')}`);
  }
  return ok(name, live.length ? `${live.length} AWS CLI cache entr${live.length === 1 ? 'y' : 'ies'} for role ${m[3]}, unused by this profile` : `no AWS CLI cache entry for role ${m[3]}`);
}
