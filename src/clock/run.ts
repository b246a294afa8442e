// The clock check of one run (src/clock/clock.ts): made when the run's first STS call is
// about to go out, never on a cache hit, and shared by every call of the run, so a chain
// of layers measures once. A run is one command, or one request the endpoint of `serve`
// resolves (newRun), so a server does not keep its first verdict, a failure included, for
// days.

import type { ClockHook } from './clock.ts';
import type { Settings } from '../config/settings.ts';

let runClock: ClockHook | undefined;
// The settings of the profile the run was asked for: its keyrole_ntp_servers name the
// servers, not those of a base profile whose layer happens to call STS first.
let runSettings: Settings | undefined;

/** Starts a new run in a process that serves many: the next STS call checks the clock afresh. */
export function newRun(): void {
  runClock = undefined;
  runSettings = undefined;
}

/** The profile this run was asked for (the first one wins: the layers under it are resolved with their own settings). */
export function runFor(s: Settings): void {
  runSettings ??= s;
}

/** This run's clock check; clock.ts is loaded here, on the way to the first STS call. */
export async function clockFor(s: Settings): Promise<ClockHook> {
  const { clockSession } = await import('./clock.ts');
  runClock ??= clockSession({ profileServers: () => (runSettings ?? s).ntpServers });
  return runClock;
}
