// doctor's IAM Identity Center check: the sign-in behind an SSO profile (or a role chained
// on one), from the keychain and the AWS CLI's token file, in the words status and cache
// list use (describeToken).

import { planProfile, ssoOf } from '../../credentials/plan.ts';
import { describeToken, tokenStatus } from '../../credentials/status.ts';
import { fromError, ok, warning, type Check, type DoctorContext } from './check.ts';

export async function ssoCheck(ctx: DoctorContext): Promise<Check | undefined> {
  const s = ctx.settings;
  if (!s || !ctx.files) return undefined;
  try {
    const ref = ssoOf(planProfile(ctx.files, s));
    if (!ref) return undefined;
    const now = ctx.now();
    const t = await tokenStatus(ref, now, s.profile);
    const line = describeToken(t, now);
    const usable = !!t.expiresAt && t.expiresAt.getTime() > now;
    if (usable || t.refreshable) return ok('sso', line);
    // Without a terminal (an IDE, the JS SDK) the call fails until someone signs in.
    return warning('sso', line, `keyrole login ${t.loginName}`);
  } catch (err) {
    return fromError('sso', err, 'warning');
  }
}


