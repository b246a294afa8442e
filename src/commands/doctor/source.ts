// doctor's source check: the profile's keychain source is there, and not too old.

import { readSource } from '../../keychain/sources.ts';
import { redactKeyId } from '../../util/debug.ts';
import { fromError, ok, skipped, warning, type Check, type DoctorContext } from './check.ts';

export function sourceCheck(ctx: DoctorContext): Check {
  const s = ctx.settings;
  if (!s) return skipped('source', 'no usable profile');
  const kind = (s as { sourceKind?: string }).sourceKind ?? 'keychain';
  if (kind !== 'keychain') return ok('source', `${s.source} (${kind === 'sso' ? 'IAM Identity Center' : 'another profile'}; checked by the identity check)`);
  try {
    const keys = readSource(s.source);
    const age = keys.storedAt ? ctx.now() - Date.parse(keys.storedAt) : NaN;
    const days = Math.floor(age / 86_400_000);
    if (days >= 90) return warning('source', `source "${s.source}" (${redactKeyId(keys.accessKeyId)}) was stored ${days} days ago; keys older than 90 days should be rotated`, `keyrole rotate ${s.source}`);
    return ok('source', `source "${s.source}" is in the keychain (${redactKeyId(keys.accessKeyId)}${isNaN(days) ? '' : `, stored ${days} day${days === 1 ? '' : 's'} ago`})`);
  } catch (err) {
    return fromError('source', err);
  }
}
