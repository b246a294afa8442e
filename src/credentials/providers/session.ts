// A keychain source's own session: GetSessionToken with the long-term keys, no MFA.

import { debug, redactKeyId } from '../../util/debug.ts';
import { fetched, type Provider } from './types.ts';

export const resolveSession: Provider = async (layer, deps) => {
  const s = layer.settings;
  const keys = await deps.loadSource(s.source);
  debug(`source "${s.source}" read from the keychain (key ${redactKeyId(keys.accessKeyId)})`);
  const t = await deps.target(s);
  return fetched(s, await deps.getSessionToken(keys, t, s.durationSeconds), t, undefined);
};
