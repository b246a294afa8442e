// doctor's AWS Sign-In check: the session behind a keyrole_login_session profile (or a role
// on one) in the keychain, when it ends, and where its refreshes go, in the words status and
// cache list use (describeLogin). Whether AWS still refreshes it (the clock, the
// SignInLocalDevelopmentAccess policy) the process-line check finds out with a real call.

import { layersOf, planProfile } from '../../credentials/plan.ts';
import { describeLogin, loginStatus } from '../../credentials/status.ts';
import { fromError, ok, warning, type Check, type DoctorContext } from './check.ts';

export async function loginCheck(ctx: DoctorContext): Promise<Check | undefined> {
  const s = ctx.settings;
  if (!s || !ctx.files) return undefined;
  try {
    const layer = layersOf(planProfile(ctx.files, s)).find((l) => l.login);
    if (!layer) return undefined;
    const ref = layer.login!;
    const now = ctx.now();
    const t = await loginStatus(ref, layer.settings.profile ?? s.profile ?? '(command line)');
    const line = `${describeLogin(t, now)}; refreshed at ${ref.endpoint} (${ref.endpointFrom}), which needs the identity's SignInLocalDevelopmentAccess policy`;
    if (t.held && (!t.endsAt || t.endsAt.getTime() > now)) return ok('login', line);
    return warning('login', line, `keyrole login ${t.profile}`);
  } catch (err) {
    return fromError('login', err, 'warning');
  }
}
