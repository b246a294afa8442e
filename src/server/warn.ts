// "Alert before tokens expire": while `exec --server` or `serve` runs, a person is told once,
// about 15 minutes ahead, that an MFA session or an SSO sign-in behind the endpoint will
// need them, on keyrole's stderr (the terminal, without touching the program's own output
// on stdout) and as a desktop notification where one can be shown. The endpoint never
// prompts on the terminal it shares with the program (src/credentials/resolve.ts,
// noTerminal); the warning leaves time for `keyrole login <profile>` in another terminal.

import { spawn } from 'node:child_process';
import type { AwsFiles } from '../config/files.ts';
import type { Settings } from '../config/settings.ts';
import { personNeeded, profileStatus } from '../credentials/status.ts';
import { debug } from '../util/debug.ts';
import { formatLeft } from '../util/duration.ts';
import { printable } from '../util/printable.ts';

export const WARN_AHEAD_MS = 15 * 60_000;
const CHECK_EVERY_MS = 60_000;

export interface Watch { stop(): void }

export function watchForPerson(o: { files: AwsFiles; settings: Settings; cacheFlag?: string; profile: string; what: string }): Watch {
  const warned = new Set<number>();
  const check = async () => {
    try {
      const need = personNeeded(await profileStatus(o.files, o.settings, o.cacheFlag));
      if (!need) return;
      const left = need.at.getTime() - Date.now();
      if (left > WARN_AHEAD_MS || warned.has(need.at.getTime())) return;
      warned.add(need.at.getTime());
      const when = left > 0 ? `ends in ${formatLeft(left)} (${need.at.toTimeString().slice(0, 5)})` : 'has ended';
      const text = `${need.what} behind profile ${o.profile} ${when}; run keyrole login ${o.profile} in another terminal to keep ${o.what} supplied`;
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
