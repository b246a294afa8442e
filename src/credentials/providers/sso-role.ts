// IAM Identity Center: GetRoleCredentials with the sso-session's token (signing in or
// refreshing it when needed: src/sso).

import { fetched, type Provider } from './types.ts';

export const resolveSsoRole: Provider = async (layer, deps, notify) => {
  const s = layer.settings;
  return fetched(s, await deps.ssoRoleCredentials(layer.sso!, notify, s.profile), undefined, undefined);
};
