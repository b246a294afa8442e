// An AWS Sign-In session (`keyrole login`): its 15-minute credentials, from a refresh with
// the session's refresh token and DPoP key in the keychain (src/login/session.ts).

import { fetched, type Provider } from './types.ts';

export const resolveLogin: Provider = async (layer, deps, notify) => {
  const s = layer.settings;
  return fetched(s, await deps.loginCredentials(layer.login!, s, notify), undefined, undefined);
};
