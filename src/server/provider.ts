// What the endpoint of `exec --server` and `serve` answers with, for a process that runs for
// days. Two rules keep it healthy:
//
// - The answer is memoized (aws-vault's server wraps its provider in a credentials cache the
//   same way): while the last answer is still served as it is by the one time rule
//   (src/credentials/windows.ts, servedAsIs), a request is answered from memory with no keychain
//   call at all. An SDK asks on every call once its credentials are inside its own refresh
//   window (botocore: 10-15 minutes), which for short roles is every call.
// - Each request that does resolve is a run of its own (src/clock/run.ts,
//   newRun): state a one-shot process keeps for its life, such as the clock check's verdict,
//   is made afresh, so one failed check or a clock that was wrong for a while does not fail
//   the server for good. The Secret Service connection replaces itself after a failure
//   (src/keychain/secretservice.ts), and the keychain addon is asked so that a hang fails the
//   request rather than the server (src/keychain/addon.ts, longLived).

import { localExpiration, servedAsIs } from '../credentials/cache.ts';
import { planProfile } from '../credentials/plan.ts';
import { resolveCredentials, type Resolved } from '../credentials/resolve.ts';
import { newRun } from '../clock/run.ts';
import { debug } from '../util/debug.ts';
import type { AwsFiles } from '../config/files.ts';
import type { Settings } from '../config/settings.ts';
import type { ServedCredentials } from './endpoint.ts';

export function serverProvider(p: { files: AwsFiles; settings: Settings }): () => Promise<ServedCredentials> {
  const durationSeconds = planProfile(p.files, p.settings).durationSeconds;
  let last: Resolved | undefined;
  return async () => {
    if (last && servedAsIs(last.entry, durationSeconds, Date.now())) {
      debug('endpoint: the last answer is still served as it is (outside its refresh window); answered from memory');
    } else {
      newRun();
      last = await resolveCredentials(p.files, p.settings, { noTerminal: true });
    }
    const c = last.entry.credentials;
    return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: localExpiration(last.entry), accountId: c.accountId };
  };
}
