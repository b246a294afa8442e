// How a profile's role is assumed, and for how long: AWS's 1-hour rule and the choice it
// forces, in one place. The planner (plan.ts) asks it while it lays out the layers; --debug,
// `doctor`, `status` and the console (aws/federation.ts) show or follow what it said.
//
// The rule (the IAM User Guide, "Role chaining"): AssumeRole called with temporary credentials of
// any kind (another role's, a GetSessionToken session's even with MFA, IAM Identity Center's
// role credentials, an AWS Sign-In session's) may ask for at most 3600 s; STS answers more
// with "ValidationError: The requested DurationSeconds exceeds the 1 hour session limit for
// roles assumed by role chaining."
//
// The choice, per profile: what gives the duration asked for with the fewest codes a day.
//   keys         a keychain source without MFA: AssumeRole with its long-term key, any duration
//   mfa-session  a keychain source with MFA, role ≤ 3600 s: AssumeRole with the source's shared
//                GetSessionToken MFA session (one code a day for every role of that source)
//   keys-mfa     a keychain source with MFA, role > 3600 s (or keyrole_mfa_on_assume): AssumeRole
//                with the long-term key, the code sent with AssumeRole itself (as aws-vault,
//                awsume and botocore do), so the role lasts as asked; one code per refresh
//   temporary    a role whose source is another profile or IAM Identity Center: whatever that
//                gives is temporary credentials, so over 3600 s the profile is refused here, in
//                one line, before anything is asked of AWS

import { KeyroleError } from '../util/errors.ts';
import type { Settings } from '../config/settings.ts';

/** The longest role AssumeRole gives when it is called with temporary credentials. */
export const ONE_HOUR_RULE_SECONDS = 3600;

export type RoleWay = 'keys' | 'mfa-session' | 'keys-mfa' | 'temporary';

/** How a profile with a role (keyrole_role_arn) has it assumed. */
export function roleWay(s: Settings): RoleWay {
  if (s.sourceKind !== 'keychain') return 'temporary';
  if (!s.mfaSerial) return 'keys';
  return s.mfaOnAssume || s.durationSeconds > ONE_HOUR_RULE_SECONDS ? 'keys-mfa' : 'mfa-session';
}

/** Whether the role's AssumeRole is signed with temporary credentials (then the 1-hour rule holds, and the console's federation endpoint treats it as chained). */
export function signedWithTemporary(way: RoleWay): boolean {
  return way === 'mfa-session' || way === 'temporary';
}

/**
 * The way, checked: a role signed with temporary credentials that asks for more than an
 * hour is refused (`signer` names what signs a chained role: `profile base's credentials`).
 * A keychain source's role never is: over an hour its MFA code goes with AssumeRole.
 */
export function checkedRoleWay(s: Settings, signer = 'temporary credentials'): RoleWay {
  const way = roleWay(s);
  if (signedWithTemporary(way) && s.durationSeconds > ONE_HOUR_RULE_SECONDS) {
    const where = s.profile ? `profile ${s.profile}` : 'the command line';
    throw new KeyroleError('ChainedDurationTooLong',
      `${where} asks for a ${s.durationSeconds} s role, but the role is assumed with ${signer}, which are temporary, and AWS allows a role assumed with temporary credentials at most ${ONE_HOUR_RULE_SECONDS} s (role chaining)`,
      `lower keyrole_duration_seconds (or --duration) to ${ONE_HOUR_RULE_SECONDS} or below`);
  }
  return way;
}

/** One line for --debug, `doctor` and `status`: how the role is assumed, for how long, and why that way. */
export function describeWay(s: Settings, way: RoleWay, signer = 'temporary credentials'): string {
  const d = `AssumeRole for ${s.durationSeconds} s`;
  switch (way) {
    case 'keys':
      return `${d} with source "${s.source}"'s long-term key`;
    case 'mfa-session':
      return `${d} with the MFA session of source "${s.source}" (one code a day for every role of the source; a role assumed that way lasts at most ${ONE_HOUR_RULE_SECONDS} s)`;
    case 'keys-mfa':
      return `${d} with source "${s.source}"'s long-term key and an MFA code sent with it (one code each time the role is renewed; ${s.mfaOnAssume
        ? 'keyrole_mfa_on_assume asks for it'
        : `over ${ONE_HOUR_RULE_SECONDS} s, because a role assumed with the shared MFA session lasts at most ${ONE_HOUR_RULE_SECONDS} s`})`;
    case 'temporary':
      return `${d} with ${signer} (role chaining: at most ${ONE_HOUR_RULE_SECONDS} s)`;
  }
}
