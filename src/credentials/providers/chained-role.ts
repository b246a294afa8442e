// AssumeRole signed by another profile's (or IAM Identity Center's) role credentials: role
// chaining, which STS caps at one hour (the planner has already applied the cap).

import { debug } from '../../util/debug.ts';
import { CHAINED_MAX_SECONDS } from '../plan.ts';
import { fetched, roleInput, type Provider } from './types.ts';

export const resolveChainedRole: Provider = async (layer, deps, notify) => {
  const s = layer.settings;
  if (layer.durationSeconds < s.durationSeconds) {
    const via = s.sourceKind === 'profile' ? `profile ${layer.under!.settings.profile}'s` : 'IAM Identity Center';
    debug(`profile ${s.profile} assumes its role with ${via} role credentials (role chaining): STS caps that at ${CHAINED_MAX_SECONDS} s, so keyrole asks for ${CHAINED_MAX_SECONDS} s instead of ${s.durationSeconds} s`);
  }
  const under = await deps.resolveUnder(layer.under!, notify);
  const t = await deps.target(s);
  return fetched(s, await deps.assumeRole(under.credentials, t, roleInput(s, layer.durationSeconds)), t, s.roleArn);
};
