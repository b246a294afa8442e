// A keychain source's shared MFA session: GetSessionToken with a code, cached per source and
// device, so the user types one code per working day, not one per role.

import { debug, redactKeyId } from '../../util/debug.ts';
import { fetched, type Provider } from './types.ts';

export const resolveMfaSession: Provider = async (layer, deps, notify) => {
  const s = layer.settings;
  const serial = s.mfaSerial!;
  const keys = await deps.loadSource(s.source);
  debug(`source "${s.source}" read from the keychain (key ${redactKeyId(keys.accessKeyId)}); MFA device ${serial}`);
  const t = await deps.target(s);
  const credentials = await deps.withMfaCode(s, notify, (code) => deps.getSessionToken(keys, t, s.sessionDurationSeconds, { serialNumber: serial, tokenCode: code }));
  return fetched(s, credentials, t, undefined);
};
