// AssumeRole signed by a keychain source: with its MFA session's credentials when the
// planner put that session under the role, else with the long-term keys, sending the MFA
// code with AssumeRole itself when the source has a device (the way is chosen in
// ../assume.ts: over an hour, or keyrole_mfa_on_assume).

import { debug, redactKeyId } from '../../util/debug.ts';
import { fetched, roleInput, type Provider } from './types.ts';

export const resolveRole: Provider = async (layer, deps, notify) => {
  const s = layer.settings;
  const input = roleInput(s, layer.durationSeconds);
  if (layer.under) {
    const session = await deps.resolveUnder(layer.under, notify);
    const t = await deps.target(s);
    return fetched(s, await deps.assumeRole(session.credentials, t, input), t, s.roleArn);
  }
  const keys = await deps.loadSource(s.source);
  debug(`source "${s.source}" read from the keychain (key ${redactKeyId(keys.accessKeyId)})`);
  const t = await deps.target(s);
  const credentials = s.mfaSerial
    ? await deps.withMfaCode(s, notify, (code) => deps.assumeRole(keys, t, { ...input, serialNumber: s.mfaSerial, tokenCode: code }))
    : await deps.assumeRole(keys, t, input);
  return fetched(s, credentials, t, s.roleArn);
};
