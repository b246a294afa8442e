// Where a sign-in talks to the person: the terminal (a live progress line) or stderr, and
// the browser the verification page is opened in.

import { debug } from '../util/debug.ts';
import { formatDuration } from '../util/duration.ts';
import type { Terminal } from '../util/prompt.ts';

const env = process.env;

/** Where a login talks to the person: the terminal, or stderr for `keyrole login` without one. */
export interface Screen {
  write(text: string): void;
  /** A terminal can show a live progress line. */
  live: boolean;
}


/** The waiting line: a spinner and how long the code stays valid, redrawn in place. */
export function progress(screen: Screen, deadline: number, now: () => number = Date.now): { stop(final?: string): void } {
  const frames = ['|', '/', '-', '\\'];
  let i = 0;
  const draw = () => screen.write(`\r\x1b[2K${frames[i++ % frames.length]} Waiting for approval in the browser; the code is valid for ${formatDuration(deadline - now(), 's')} (Ctrl-C cancels)`);
  if (!screen.live) {
    screen.write(`Waiting for approval; the code is valid for ${formatDuration(deadline - now(), 's')}.\n`);
    return { stop: (final) => { if (final) screen.write(`${final}\n`); } };
  }
  draw();
  const timer = setInterval(draw, 250);
  return {
    stop(final) {
      clearInterval(timer);
      screen.write(`\r\x1b[2K${final ? `${final}\n` : ''}`);
    },
  };
}


/** The command that opens a URL in the user's browser, or undefined where none can be opened. */
export function browserCommand(url: string, platform: NodeJS.Platform = process.platform, e: NodeJS.ProcessEnv = env): [string, string[]] | undefined {
  if (e.KEYROLE_NO_BROWSER) return undefined;
  // Only a plain http(s) URL is handed to another program.
  if (!/^https?:\/\/[\w.:~%/?=&#+@-]+$/.test(url)) return undefined;
  if (platform === 'darwin') return e.SSH_CONNECTION && !e.DISPLAY ? undefined : ['open', [url]];
  if (platform === 'win32') return ['cmd', ['/d', '/s', '/c', `start "" "${url.replace(/[&^]/g, '^$&')}"`]];
  return e.DISPLAY || e.WAYLAND_DISPLAY ? ['xdg-open', [url]] : undefined;
}

export async function openBrowser(url: string): Promise<boolean> {
  const cmd = browserCommand(url);
  if (!cmd) return false;
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    try {
      const child = spawn(cmd[0], cmd[1], { detached: true, stdio: 'ignore', windowsVerbatimArguments: process.platform === 'win32' });
      child.once('error', (err) => {
        debug(`could not open a browser with ${cmd[0]} (${(err as NodeJS.ErrnoException).code ?? err.message})`);
        resolve(false);
      });
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}


export function terminalScreen(term: Terminal): Screen {
  return { write: (t) => term.output.write(t), live: true };
}

export function stderrScreen(): Screen {
  const clearLine = '\r\x1b[2K';
  return { write: (t) => process.stderr.write(t.startsWith(clearLine) ? t.slice(clearLine.length) : t), live: false };
}
