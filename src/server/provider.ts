// What the endpoint of `exec --server` and `serve` answers with, for a process that runs for
// days. Three rules keep it healthy:
//
// - The answer is memoized (aws-vault's server wraps its provider in a credentials cache the
//   same way): while the last answer is still served as it is by the one time rule
//   (src/credentials/windows.ts, servedAsIs), a request is answered from memory with no keychain
//   call at all. An SDK asks on every call once its credentials are inside its own refresh
//   window (botocore: 10-15 minutes), which for short roles is every call.
// - Inside the refresh window, what it holds is answered at once while one renewal runs in
//   the background, as long as those credentials may still be handed out
//   (usableAfterFailedRenewal); a request waits for a renewal only when nothing it holds may
//   be. Why: a renewal in a server reads the keychain through short-lived child processes
//   (below) and may find that a person is needed; each took 0.3 s on an idle machine and
//   2 s on a busy one, longer than botocore's 1-second timeout for the endpoint, so every
//   request of a role whose sign-in had ended failed while its credentials were valid. A
//   renewal that could not replace them (a person is needed, AWS is failing) is tried again
//   after RETRY_MS, not on every request; a refusal (AWS said no) drops what it holds, so the
//   next request waits and reports it.
// - Each renewal is a run of its own (src/clock/run.ts, newRun): state a one-shot process
//   keeps for its life, such as the clock check's verdict, is made afresh, so one failed
//   check or a clock that was wrong for a while does not fail the server for good. The
//   Secret Service connection replaces itself after a failure
//   (src/keychain/secretservice.ts), and the keychain addon is asked so that a hang fails the
//   request rather than the server (src/keychain/addon.ts, longLived).

import { localExpiration, remainingMs, servedAsIs } from '../credentials/cache.ts';
import { planProfile } from '../credentials/plan.ts';
import { resolveCredentials, type Resolved } from '../credentials/resolve.ts';
import { servableAfter } from '../credentials/cached.ts';
import { usableAfterFailedRenewal } from '../credentials/windows.ts';
import { newRun } from '../clock/run.ts';
import { debug } from '../util/debug.ts';
import { KeyroleError } from '../util/errors.ts';
import type { AwsFiles } from '../config/files.ts';
import type { Settings } from '../config/settings.ts';
import type { ServedCredentials } from './endpoint.ts';

/** After a renewal that could not replace what the server holds, the next try waits this long. */
export const RETRY_MS = 30_000;

export function serverProvider(p: { files: AwsFiles; settings: Settings }): () => Promise<ServedCredentials> {
  const durationSeconds = planProfile(p.files, p.settings).durationSeconds;
  let last: Resolved | undefined;
  /** Why `last` is held past its refresh window: the failure that kept a renewal from replacing it. */
  let held: 'transient' | 'needs a person' = 'needs a person';
  let renewal: Promise<Resolved> | undefined;
  let nextTry = 0;

  const renew = (): Promise<Resolved> => renewal ??= (async () => {
    try {
      newRun();
      const r = await resolveCredentials(p.files, p.settings, { noTerminal: true });
      if (!servedAsIs(r.entry, durationSeconds, Date.now())) nextTry = Date.now() + RETRY_MS; // served as held by the cache: renewal failed
      else held = 'needs a person'; // renewed: an old failure's reason no longer applies
      last = r;
      return r;
    } catch (err) {
      const why = servableAfter(err);
      if (why) held = why;
      else last = undefined;
      nextTry = Date.now() + RETRY_MS;
      throw err;
    } finally {
      renewal = undefined;
    }
  })();

  const answer = async (): Promise<Resolved> => {
    const now = Date.now();
    if (last && servedAsIs(last.entry, durationSeconds, now)) {
      debug('endpoint: the last answer is still served as it is (outside its refresh window); answered from memory');
      return last;
    }
    if (last && usableAfterFailedRenewal(remainingMs(last.entry, now), held)) {
      debug(`endpoint: the last answer has ${Math.round(remainingMs(last.entry, now) / 1000)} s left, inside its refresh window; answered from memory${renewal ? ' while a renewal runs' : now < nextTry ? '; the last renewal could not replace it, tried again soon' : ', renewing in the background'}`);
      if (!renewal && now >= nextTry) {
        renew().catch((err: unknown) => debug(`endpoint: the background renewal failed: ${err instanceof KeyroleError ? err.line() : String(err)}`));
      }
      return last;
    }
    return renew();
  };

  return async () => {
    const r = await answer();
    const c = r.entry.credentials;
    return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: localExpiration(r.entry), accountId: c.accountId };
  };
}
