// STS GetFederationToken, for `keyrole console` on a profile without a role: the console
// refuses GetSessionToken credentials, so a plain IAM-user source signs in as a federated
// user made from its long-term key. Kept apart from sts.ts and small, on sts.ts's own call
// (the SDK's GetFederationTokenCommand) and credential check.

import { KeyroleError } from '../util/errors.ts';
import { call, temp, type AwsKeys, type StsTarget, type TempCredentials } from './sts.ts';

export interface FederationTokenInput {
  /** The federated user's name: 2–32 characters of [\w+=,.@-]. */
  name: string;
  /** 900–129600 seconds. */
  durationSeconds: number;
  /** The inline session policy (JSON). */
  policy: string;
}

export async function getFederationToken(keys: AwsKeys, t: StsTarget, input: FederationTokenInput): Promise<TempCredentials> {
  let out;
  try {
    out = await call(`GetFederationToken ${input.name} for ${input.durationSeconds} s`, keys, t, (sts, c, abortSignal) =>
      c.send(new sts.GetFederationTokenCommand({ Name: input.name, DurationSeconds: input.durationSeconds, Policy: input.policy }), { abortSignal }));
  } catch (err) {
    // sts.ts's AccessDenied fix speaks of roles; here it is the source user's own policy.
    if (err instanceof KeyroleError && err.code === 'AccessDenied') {
      throw new KeyroleError('FederationDenied', err.message, "the source user's policy must allow sts:GetFederationToken (a policy that requires MFA denies it): allow it, or give the profile a role (keyrole_role_arn) and sign in as that");
    }
    throw err;
  }
  return temp(out.Credentials, t, out.FederatedUser?.Arn);
}
