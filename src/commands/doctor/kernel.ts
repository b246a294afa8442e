// doctor's kernel keyring check: where keyrole uses it (the cache's fast tier, or the whole
// keychain with KEYROLE_KEYCHAIN=keyutils), whether this home's key file is sound and
// whether the kernel's per-user quota leaves room for another key. A full quota is silent
// on the hot path (every hit then reads the Secret Service, ~1.6× instead of ~1.2× of a
// bare Node start; `--debug` says so on the write), so doctor is where it is said.

import { kernelTier } from '../../keychain/tier.ts';
import { storeName } from '../../keychain/selection.ts';
import { QUOTA_FIX, describeQuota, keyQuota, type KeyQuota } from '../../keychain/kernel.ts';
import { readSealKey } from '../../keychain/seal.ts';
import { fromError, ok, skipped, warning, type Check } from './check.ts';

/** Room one more sealed cache entry needs: its bytes and its description, with margin. */
export const ENTRY_ROOM_BYTES = 2500;

/** Why the quota refuses another key, or undefined when it has room. */
export function quotaProblem(q: KeyQuota): string | undefined {
  if (q.keys >= q.maxKeys) return `the kernel keyring's quota is full: ${describeQuota(q)}`;
  if (q.maxBytes - q.bytes < ENTRY_ROOM_BYTES) return `the kernel keyring's quota is nearly full: ${describeQuota(q)}`;
  return undefined;
}

export function kernelCheck(): Check {
  try {
    const keyutils = storeName() === 'keyutils';
    if (!keyutils && !kernelTier()) return skipped('kernel', process.platform === 'linux' ? 'cache copies are off (KEYROLE_KERNEL_CACHE)' : 'Linux only');
    readSealKey(); // a key file that is not sound is refused with its fix
    const q = keyQuota();
    const problem = q && quotaProblem(q);
    if (problem) {
      return warning('kernel', `${problem}, so ${keyutils ? 'new sources and cache entries may not fit' : 'new cache entries may not be copied there, and hits then read the Secret Service (slower)'}`,
        QUOTA_FIX);
    }
    return ok('kernel', `${keyutils ? 'holds the keychain' : 'holds the cache\'s fast copies'}, sealed under this home's key${q ? `; ${describeQuota(q)}` : ''}`);
  } catch (err) {
    return fromError('kernel', err);
  }
}
