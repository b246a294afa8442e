// The MFA retry policy: gets a code (src/credentials/mfa.ts: the terminal, a dialog,
// mfa_process, or one given up front) and runs the MFA call with it. A code STS rejects is
// asked for once more at a terminal (typos happen); a code this machine already used in its
// window is named as such, and asked for once more at a terminal. Loaded on a miss that
// needs a code only (mfa.ts needs node:child_process, which a cache hit must not pay for).

import { KeyroleError } from '../util/errors.ts';
import type { TempCredentials } from '../aws/sts.ts';
import type { Settings } from '../config/settings.ts';
import type { Notify } from './providers/types.ts';
import { mfaCode, recentlyUsed, rememberUsed } from './mfa.ts';

export interface MfaAsk {
  /** A code given up front (--mfa-token; else KEYROLE_MFA_TOKEN is read here). */
  mfaToken?: string;
  /** No person at the terminal (the endpoint): mfa_process or a dialog only. */
  noTerminal?: boolean;
}

export async function withMfaCode(s: Settings, o: MfaAsk, notify: Notify, call: (code: string) => Promise<TempCredentials>): Promise<TempCredentials> {
  const serial = s.mfaSerial!;
  const request = { serial, profile: s.profile, mfaProcess: s.mfaProcess, token: o.mfaToken ?? process.env.KEYROLE_MFA_TOKEN, onPrompt: notify, noTerminal: o.noTerminal };
  let { code, from } = await mfaCode(request);
  for (let attempt = 1; ; attempt++) {
    if (recentlyUsed(serial, code)) {
      const err = new KeyroleError('MfaCodeReused', 'that MFA code was already used in the last 90 seconds, and STS accepts each code only once', 'wait for the next code and try again');
      if (from !== 'terminal' || attempt > 1) throw err;
      ({ code, from } = await mfaCode({ ...request, retryReason: 'that code was already used; wait for the next one' }));
      continue;
    }
    try {
      const out = await call(code);
      rememberUsed(serial, code);
      return out;
    } catch (err) {
      if (err instanceof KeyroleError && err.code === 'MfaCodeRejected' && from === 'terminal' && attempt === 1) {
        ({ code, from } = await mfaCode({ ...request, retryReason: 'STS rejected that code (wrong or already used); try the next one' }));
        continue;
      }
      throw err;
    }
  }
}
