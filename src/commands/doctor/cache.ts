// doctor's cache check: what keyrole has cached for the profile (its own layer, as
// `keyrole status` reads it).

import { remainingMs } from '../../credentials/cache.ts';
import { storeKind } from '../../config/cachestore.ts';
import { profileStatus } from '../../credentials/status.ts';
import { isoSeconds } from '../../credentials/blob.ts';
import { formatLeft } from '../../util/duration.ts';
import { fromError, ok, skipped, type Check, type DoctorContext } from './check.ts';

export async function cacheCheck(ctx: DoctorContext): Promise<Check> {
  const s = ctx.settings;
  if (!s || !ctx.files) return skipped('cache', 'no usable profile');
  try {
    if (storeKind(s.cache) === 'none') return ok('cache', 'caching is off for this profile (every call goes to STS)');
    const now = ctx.now();
    const st = await profileStatus(ctx.files, s, now);
    const { entry: e, expiration, servedAsIs } = st.layers[0];
    if (!e || !expiration) return ok('cache', `nothing cached in the ${st.store} store; the next call goes to STS`);
    const left = remainingMs(e, now);
    if (left <= 0) return ok('cache', `the cached credentials expired ${isoSeconds(expiration)}; the next call replaces them`);
    if (!servedAsIs) return ok('cache', `cached in the ${st.store} store with ${formatLeft(left)} left, under the refresh window; the next call refreshes them`);
    return ok('cache', `cached in the ${st.store} store, ${formatLeft(left)} left (until ${isoSeconds(expiration)})`);
  } catch (err) {
    return fromError('cache', err);
  }
}
