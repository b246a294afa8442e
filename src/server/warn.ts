// "Alert before tokens expire": while `exec --server` or `serve` runs, a person is told once,
// ahead of time, that an MFA session or an SSO sign-in behind the endpoint will need them,
// on keyrole's stderr (the terminal, without touching the program's own output on stdout)
// and as a desktop notification where one can be shown. The endpoint never prompts on the
// terminal it shares with the program (src/credentials/resolve.ts, noTerminal); the warning
// leaves time for `keyrole login <profile>` in another terminal. When it comes and what it
// promises are src/credentials/windows.ts's: WARN_AHEAD_MS before keyrole would start
// asking, and the credentials keep being served to their end after that.

import { spawn } from 'node:child_process';
import type { AwsFiles } from '../config/files.ts';
import type { Settings } from '../config/settings.ts';
import { personNeeded, profileStatus, type PersonNeeded, type ProfileStatus } from '../credentials/status.ts';
import { warnAt } from '../credentials/windows.ts';
import { debug } from '../util/debug.ts';
import { formatLeft } from '../util/duration.ts';
import { printable } from '../util/printable.ts';

const CHECK_EVERY_MS = 60_000;

export interface Watch { stop(): void }

export function watchForPerson(o: { files: AwsFiles; settings: Settings; profile: string; what: string }): Watch {
  const warned = new Set<number>();
  const check = async () => {
    try {
      const st = await profileStatus(o.files, o.settings);
      const need = personNeeded(st);
      if (!need) return;
      if (Date.now() < warnAt(need.askFrom).getTime() || warned.has(need.by.getTime())) return;
      warned.add(need.by.getTime());
      const text = warning(need, st, o.profile, o.what, Date.now());
      process.stderr.write(`keyrole: ${printable(text)}\n`);
      notify(printable(text));
    } catch (err) {
      debug(`could not check what the profile has left (${(err as Error).message})`);
    }
  };
  void check();
  const timer = setInterval(() => void check(), CHECK_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/**
 * `the MFA session of source "alice" (…) behind profile prod ends in 29 min (14:05); keyrole
 * uses it until 14:04 and serves the credentials made with it to their end (14:58); run
 * keyrole login prod in another terminal to keep python3 supplied`.
 */
export function warning(need: PersonNeeded, st: ProfileStatus, profile: string, what: string, now: number): string {
  const hm = (d: Date) => d.toTimeString().slice(0, 5);
  const left = need.by.getTime() - now;
  const when = left > 0 ? `ends in ${formatLeft(left)} (${hm(need.by)})` : 'has ended';
  // The top layer's credentials are served to their end even when the layer below can no longer renew them.
  const top = st.layers[0]?.expiration;
  const served = top && top.getTime() > now ? `; keyrole serves the credentials it holds until ${hm(top)} and renews them while it can` : '';
  return `${need.what} behind profile ${profile} ${when}${served}; run keyrole login ${need.login} in another terminal to keep ${what} supplied`;
}

/** A desktop notification, best effort: notify-send on Linux with a display, osascript on macOS. Windows has no notifier without a helper app; the stderr line stands alone there. */
function notify(text: string): void {
  let cmd: [string, string[]] | undefined;
  if (process.platform === 'darwin') cmd = ['osascript', ['-e', 'on run argv', '-e', 'display notification (item 1 of argv) with title "keyrole"', '-e', 'end run', text]];
  else if (process.platform === 'linux' && (process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) cmd = ['notify-send', ['--app-name=keyrole', 'keyrole', text]];
  if (!cmd) return;
  try {
    const child = spawn(cmd[0], cmd[1], { stdio: 'ignore', detached: true });
    child.on('error', () => { /* no notifier installed: the stderr line said it */ });
    child.unref();
  } catch { /* as above */ }
}
