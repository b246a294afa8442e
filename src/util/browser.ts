// Opening a page in the user's browser, for the SSO sign-in and `keyrole console`.
// `BROWSER` first, read as Python's webbrowser (the AWS CLI's opener) and xdg-open read it:
// a list of commands separated by the path separator, each run with the page as its last
// argument, or with `%s` replaced by it. Else the platform's opener: xdg-open where there is
// a display, open on macOS (not over SSH without one), on Windows url.dll's
// FileProtocolHandler, which takes the URL as one argument (cmd's start mangles & and ^).

import { pathToFileURL } from 'node:url';
import { posix, win32 } from 'node:path';
import { debug } from './debug.ts';
import { shlexSplit } from '../config/shlex.ts';
import { macGuiAvailable, windowsOpener } from './platform.ts';
import { switchOn } from './switch.ts';

/** A web page by URL, or a local file keyrole wrote (opened by path, so its content stays off argv). */
export type Page = { url: string } | { file: string };
export type Launch = [cmd: string, args: string[]];

// Only plain http(s) URLs and keyrole's own files are handed to another program: nothing a
// shell or cmd.exe would read as syntax.
const SAFE_URL = /^https?:\/\/[\w.:~%/?=&#+@-]+$/;
const SAFE_FILE = /^[\w.:/\\~+@ -]+$/;

/** The commands to try, in order, to show `page`; empty where none can be opened. */
export function browserCommands(page: Page, platform: NodeJS.Platform = process.platform, e: NodeJS.ProcessEnv = process.env): Launch[] {
  if (switchOn(e.KEYROLE_NO_BROWSER)) return [];
  let target: string;
  if ('url' in page) {
    if (!SAFE_URL.test(page.url)) return [];
    target = page.url;
  } else {
    if (!SAFE_FILE.test(page.file) || !(platform === 'win32' ? win32 : posix).isAbsolute(page.file)) return [];
    // Browsers (and BROWSER scripts) take URLs; Windows' start takes the path itself.
    target = platform === 'win32' ? page.file : pathToFileURL(page.file).href;
  }
  const out: Launch[] = [];
  for (const entry of (e.BROWSER ?? '').split(platform === 'win32' ? ';' : ':')) {
    let words: string[];
    try {
      // Windows paths are full of backslashes and spaces: there an entry is one program.
      words = platform === 'win32' ? [entry.trim()].filter(Boolean) : shlexSplit(entry.trim());
    } catch {
      debug(`BROWSER entry ${JSON.stringify(entry)} is not a command; skipped`);
      continue;
    }
    if (!words.length) continue;
    const substituted = words.some((w) => w.includes('%s'));
    const args = words.slice(1).map((w) => w.replaceAll('%s', target));
    out.push([words[0]!, substituted ? args : [...args, target]]);
  }
  if (platform === 'darwin') {
    if (macGuiAvailable(e)) out.push(['open', [target]]);
  } else if (platform === 'win32') {
    out.push(windowsOpener(target));
  } else if (e.DISPLAY || e.WAYLAND_DISPLAY) {
    out.push(['xdg-open', [target]]);
  }
  return out;
}

/**
 * Starts the first command that can be started (detached, no output); true when one was.
 * It does not wait for the browser: a started opener is taken as an opened page.
 */
export async function openBrowser(page: Page): Promise<boolean> {
  const { spawn } = await import('node:child_process');
  for (const [cmd, args] of browserCommands(page)) {
    const started = await new Promise<boolean>((resolve) => {
      try {
        const child = spawn(cmd, args, { detached: true, stdio: 'ignore', windowsVerbatimArguments: process.platform === 'win32' && cmd === 'cmd' });
        child.once('error', (err) => {
          debug(`could not open a browser with ${cmd} (${(err as NodeJS.ErrnoException).code ?? err.message})`);
          resolve(false);
        });
        child.once('spawn', () => {
          child.unref();
          resolve(true);
        });
      } catch (err) {
        debug(`could not open a browser with ${cmd} (${(err as Error).message})`);
        resolve(false);
      }
    });
    if (started) {
      debug(`opened the page with ${cmd}`);
      return true;
    }
  }
  return false;
}
