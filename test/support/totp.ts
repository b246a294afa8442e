// MFA codes for the tests, from oathtool (the real TOTP tool a user's scripts call).
// STS (and the emulator, emulator/sts.ts) takes a code of the current 30-second window or of
// either neighbour, and each window's code once per device. A test that needs a second code
// for the same device therefore takes the next window's code at once instead of waiting up to
// 30 s for the clock to reach it (`codes`).

import { execFileSync } from 'node:child_process';
import { requireTool } from './tools.ts';

const STEP_MS = 30_000;

/** The code of TOTP window `counter` (seconds since the epoch / 30) for a base32 secret. */
export function totpAt(secret: string, counter: number): string {
  requireTool('oathtool');
  return execFileSync('oathtool', ['--totp', '-b', secret, '-N', `@${counter * 30}`], { encoding: 'utf8' }).trim();
}

/** The current code, or the one `step` windows away. */
export function totp(secret: string, step = 0): string {
  return totpAt(secret, Math.floor(Date.now() / STEP_MS) + step);
}

/**
 * Codes for one device that STS has not seen: each call gives a window no earlier call of this
 * source used (the current one, else the next), and waits only when both are used already.
 */
export function codes(secret: string): () => Promise<string> {
  let last = -Infinity;
  return async () => {
    for (;;) {
      const now = Math.floor(Date.now() / STEP_MS);
      const counter = Math.max(now, last + 1);
      if (counter <= now + 1) {
        last = counter;
        return totpAt(secret, counter);
      }
      await new Promise((r) => setTimeout(r, STEP_MS - (Date.now() % STEP_MS) + 100));
    }
  };
}
