// doctor's cache check: what keyrole has cached for the profile.

import { lookup, openStore, remainingMs, fresh as isFresh } from '../../credentials/cache.ts';
import { storeKindFor, localExpiration } from '../../credentials/resolve.ts';
import { planProfile } from '../../credentials/plan.ts';
import { isoSeconds } from '../../credentials/blob.ts';
import { formatLeft } from '../../util/duration.ts';
import { fromError, ok, skipped, type Check, type DoctorContext } from './check.ts';

export async function cacheCheck(ctx: DoctorContext): Promise<Check> {
  const s = ctx.settings;
  if (!s || !ctx.files) return skipped('cache', 'no usable profile');
  try {
    const store = openStore(storeKindFor(ctx.files, s));
    if (store.kind === 'none') return ok('cache', 'caching is off for this profile (every call goes to STS)');
    const plan = planProfile(ctx.files, s);
    const e = await lookup(store, plan.key, plan.canonical);
    if (!e) return ok('cache', `nothing cached in the ${store.kind} store; the next call goes to STS`);
    const left = remainingMs(e, ctx.now());
    if (left <= 0) return ok('cache', `the cached credentials expired ${isoSeconds(localExpiration(e))}; the next call replaces them`);
    if (!isFresh(e, plan.durationSeconds, ctx.now())) return ok('cache', `cached in the ${store.kind} store with ${formatLeft(left)} left, under the refresh window; the next call refreshes them`);
    return ok('cache', `cached in the ${store.kind} store, ${formatLeft(left)} left (until ${isoSeconds(localExpiration(e))})`);
  } catch (err) {
    return fromError('cache', err);
  }
}
