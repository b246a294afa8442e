// AssumeRole signed by another profile's (or IAM Identity Center's) temporary credentials:
// role chaining, which AWS allows for at most an hour (the planner, through ../assume.ts,
// has refused a profile that asks for more).

import { fetched, roleInput, type Provider } from './types.ts';

export const resolveChainedRole: Provider = async (layer, deps, notify) => {
  const s = layer.settings;
  const under = await deps.resolveUnder(layer.under!, notify);
  const t = await deps.target(s);
  return fetched(s, await deps.assumeRole(under.credentials, t, roleInput(s, layer.durationSeconds)), t, s.roleArn);
};
