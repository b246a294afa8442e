// Each platform's answers to the questions keyrole's code asks of it, as pure functions of
// a `platform` parameter, so that a Linux run of the suite checks the macOS and Windows
// semantics too (test/unit/platforms.test.ts). Nothing here touches the system.

import { join, posix, win32 } from 'node:path';
import { shlexQuote, shlexSplit } from '../config/shlex.ts';

// ---- permissions ----

/**
 * Whether stat's permission bits mean anything. Node on Windows reports 0666 (0444 with the
 * read-only attribute) for every file and directory whatever its ACL, so a `mode & 0o022`
 * check refuses everything there. On Windows keyrole checks what the platform answers
 * (symbolic links and junctions, which lstat reports as links) and keeps its files under
 * %LOCALAPPDATA%, whose ACL gives the user (with SYSTEM and Administrators) alone access.
 */
export function hasPosixModes(platform: NodeJS.Platform = process.platform): boolean {
  return platform !== 'win32';
}

/** A mode writable by group or others, where modes mean something. */
export function writableByOthers(mode: number, platform: NodeJS.Platform = process.platform): boolean {
  return hasPosixModes(platform) && (mode & 0o022) !== 0;
}

/** A mode readable or writable by group or others, where modes mean something. */
export function openToOthers(mode: number, platform: NodeJS.Platform = process.platform): boolean {
  return hasPosixModes(platform) && (mode & 0o077) !== 0;
}

// ---- home ----

/**
 * The home directory as the AWS CLI finds it. On Windows Python's expanduser (3.8 and
 * later) reads USERPROFILE, else HOMEDRIVE + HOMEPATH, and ignores HOME (which Git Bash and
 * MSYS set); elsewhere HOME, else the OS's answer.
 */
export function awsHome(env: NodeJS.ProcessEnv, platform: NodeJS.Platform, osHome: () => string): string {
  if (platform === 'win32') return env.USERPROFILE || (env.HOMEDRIVE && env.HOMEPATH ? env.HOMEDRIVE + env.HOMEPATH : osHome());
  return env.HOME || osHome();
}

/** keyrole's own directory when KEYROLE_HOME is unset: ~/.aws/keyrole, on Windows %LOCALAPPDATA%\keyrole. */
export function defaultKeyroleHome(env: NodeJS.ProcessEnv, platform: NodeJS.Platform, home: string): string {
  if (platform === 'win32') return win32.join(env.LOCALAPPDATA || win32.join(home, 'AppData', 'Local'), 'keyrole');
  return join(home, '.aws', 'keyrole');
}

/** On Windows, HOME naming another directory than the one the AWS CLI reads: what doctor says about it. */
export function homeMismatch(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string | undefined {
  if (platform !== 'win32' || !env.HOME || !env.USERPROFILE) return undefined;
  const norm = (p: string) => win32.resolve(p.replace(/^\/([a-z])\//i, '$1:\\')).toLowerCase();
  if (norm(env.HOME) === norm(env.USERPROFILE)) return undefined;
  return `HOME is ${env.HOME} but the AWS CLI and keyrole read ${win32.join(env.USERPROFILE, '.aws')} (USERPROFILE); tools that use HOME (the JS SDK, Git Bash) read another config`;
}

// ---- the console ----

/**
 * The devices a prompt talks to, and how to open them. On Windows both console devices are
 * opened read-write: Node's TTY set-up asks the console for its mode, which a write-only
 * CONOUT$ handle cannot answer (ERR_TTY_INIT_FAILED). And by their device paths: Node
 * (20.18 to 22.23 at least) turns a bare `CONIN$` into `\\?\<cwd>\CONIN$`, a file that
 * does not exist, so every prompt said there was no terminal (nodejs/node #54161; found by
 * the Windows lane, test/windows.e2e.test.ts).
 */
export function consoleDevices(platform: NodeJS.Platform): { input: string; output: string; inputFlags: string; outputFlags: string } {
  if (platform === 'win32') return { input: '\\\\.\\CONIN$', output: '\\\\.\\CONOUT$', inputFlags: 'r+', outputFlags: 'r+' };
  return { input: '/dev/tty', output: '/dev/tty', inputFlags: 'r', outputFlags: 'w' };
}

// ---- credential_process lines ----

/**
 * A word quoted for the platform's credential_process splitter: POSIX shlex on macOS and
 * Linux (botocore's shlex.split, the JS SDK's shell), and on Windows the C runtime's rules
 * botocore's `_windows_shell_split` follows (double quotes; backslashes doubled only before
 * a quote), which single quotes do not survive (WinError 2).
 */
export function quoteWord(word: string, platform: NodeJS.Platform): string {
  if (platform !== 'win32') return shlexQuote(word);
  if (word !== '' && /^[\w@%+=:,./\\-]+$/.test(word)) return word;
  return crtQuote(word);
}

/** A word in double quotes as the C runtime (and botocore's Windows splitter) reads it back: backslashes doubled only before a quote. */
function crtQuote(word: string): string {
  return `"${word.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, '$1$1')}"`;
}

export function commandLine(words: string[], platform: NodeJS.Platform): string {
  return words.map((w) => quoteWord(w, platform)).join(' ');
}

/**
 * The words that start this keyrole: the executable itself, or for the npm channel the Node
 * that runs it and the bundle's script. Not the script alone: its `#!/usr/bin/env node`
 * needs `node` on PATH, which an IDE, cron or a systemd unit may not have (exit 127), and on
 * Windows only Node can start a .cjs at all (no shebangs): `"node.exe" "keyrole.cjs"`.
 */
export function selfWords(o: { platform: NodeJS.Platform; execPath: string; script: string | undefined; isExecutable: boolean }): string[] {
  if (o.isExecutable || !o.script) return [o.execPath];
  return [o.execPath, o.script];
}

/** The program's file name as PATH lookup finds it: keyrole.exe on Windows. */
export function exeName(name: string, platform: NodeJS.Platform): string {
  return platform === 'win32' && !/\.exe$/i.test(name) ? `${name}.exe` : name;
}

/**
 * botocore's `_windows_shell_split` (botocore/compat.py), the splitter the AWS CLI applies
 * to a credential_process line on Windows: backslashes are literal except before a double
 * quote, where 2n backslashes make n and an odd one escapes the quote; double quotes group;
 * spaces and tabs separate. Ported line by line; test/unit/platforms.test.ts compares it
 * with the installed botocore's.
 */
export function windowsSplit(s: string): string[] {
  const components: string[] = [];
  let buff: string[] = [];
  let quoted = false;
  let backslashes = 0;
  for (const c of s) {
    if (c === '\\') {
      backslashes++;
    } else if (c === '"') {
      if (backslashes > 0) {
        buff.push('\\'.repeat(Math.floor(backslashes / 2)));
        const odd = backslashes % 2 === 1;
        backslashes = 0;
        if (odd) {
          buff.push('"');
          continue;
        }
      }
      quoted = !quoted;
      buff.push('');
    } else if ((c === ' ' || c === '\t') && !quoted) {
      if (backslashes > 0) {
        buff.push('\\'.repeat(backslashes));
        backslashes = 0;
      }
      if (buff.length) {
        components.push(buff.join(''));
        buff = [];
      }
    } else {
      if (backslashes > 0) {
        buff.push('\\'.repeat(backslashes));
        backslashes = 0;
      }
      buff.push(c);
    }
  }
  if (quoted) throw new Error('No closing quotation');
  if (backslashes > 0) buff.push('\\'.repeat(backslashes));
  if (buff.length) components.push(buff.join(''));
  return components;
}

/** A credential_process line split as botocore splits it on `platform` (botocore's compat_shell_split). */
export function splitCommandLine(line: string, platform: NodeJS.Platform): string[] {
  return platform === 'win32' ? windowsSplit(line) : shlexSplit(line);
}

/** The names PATH lookup tries for `cmd` on the platform: PATHEXT's extensions on Windows. */
export function pathCandidates(cmd: string, platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  if (platform !== 'win32') return [cmd];
  // CreateProcess (what botocore's Popen uses) appends only .exe; the JS SDK's shell uses PATHEXT.
  const exts = (env.PATHEXT || '.COM;.EXE;.BAT;.CMD').split(';').filter(Boolean);
  return /\.[^.\\/]+$/.test(cmd) ? [cmd] : [cmd, ...exts.map((e) => cmd + e.toLowerCase())];
}

/** The first file PATH lookup finds for `cmd` on the platform, or undefined. */
export function resolveOnPath(cmd: string, platform: NodeJS.Platform, env: NodeJS.ProcessEnv, isFile: (path: string) => boolean): string | undefined {
  const path = platform === 'win32' ? win32 : posix;
  for (const dir of (env.PATH ?? env.Path ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const name of pathCandidates(cmd, platform, env)) {
      const p = path.join(dir, name);
      if (isFile(p)) return p;
    }
  }
  return undefined;
}

// ---- starting other programs ----

// cmd.exe's metacharacters, escaped with ^ outside and inside quotes alike (cross-spawn's
// lib/util/escape.js, after https://qntm.org/cmd; ported rather than depended on because
// cross-spawn's entry point resolves the command on the running system, and this is a
// decision for a platform other than the test machine's).
const CMD_META = /([()\][%!^"`<>&|;, *?])/g;

/** One argument for a batch file run through cmd.exe: C runtime quoting, then cmd's escapes, twice (the batch's %* is parsed again). */
function cmdArgument(word: string): string {
  return crtQuote(word).replace(CMD_META, '^$1').replace(CMD_META, '^$1');
}

/**
 * How `exec` starts a command. On Windows a .cmd or .bat (npx, cdk, sam) starts only
 * through cmd.exe since Node's fix for CVE-2024-27980; each word is escaped so that cmd.exe
 * reads none of it as syntax (`/d /s /c "…"`: no AutoRun, the outer quotes stripped), and
 * Node passes the line verbatim.
 */
export function spawnWords(cmd: string[], platform: NodeJS.Platform, comspec = 'cmd.exe'): { file: string; args: string[]; verbatim: boolean } {
  if (platform !== 'win32' || !/\.(cmd|bat)$/i.test(cmd[0] ?? '')) return { file: cmd[0]!, args: cmd.slice(1), verbatim: false };
  const line = [cmd[0]!.replace(CMD_META, '^$1'), ...cmd.slice(1).map(cmdArgument)].join(' ');
  return { file: comspec, args: ['/d', '/s', '/c', `"${line}"`], verbatim: true };
}

/**
 * Whether exec passes a SIGINT it receives on to the child. On POSIX the terminal already
 * sends Ctrl-C's SIGINT to its whole foreground process group, the child included, so a
 * child in keyrole's group would get it twice (Terraform takes a second SIGINT as "stop
 * now"); a SIGINT sent to keyrole alone (kill -INT) is passed on when the child is not in
 * the terminal's group. On Windows Ctrl-C reaches every process on the console, and
 * child.kill() is TerminateProcess, a hard kill: never forwarded there.
 */
export function forwardsSigint(platform: NodeJS.Platform, sharesTerminalGroup: boolean): boolean {
  if (platform === 'win32') return false;
  return !sharesTerminalGroup;
}

/** The launcher that opens a URL on Windows with the URL as one argument (no cmd.exe parsing of & or ^). */
export function windowsOpener(target: string): [string, string[]] {
  return ['rundll32.exe', ['url.dll,FileProtocolHandler', target]];
}

/** Whether a macOS session can show a GUI: not over SSH without a forwarded display. */
export function macGuiAvailable(env: NodeJS.ProcessEnv): boolean {
  return !((env.SSH_CONNECTION || env.SSH_TTY) && !env.DISPLAY);
}

/**
 * Whether a GUI dialog's result is a cancel. A non-zero exit is one everywhere (osascript's
 * "User canceled", zenity's and kdialog's Cancel); PowerShell's InputBox answers Cancel with
 * an empty string and exit status 0, which would otherwise read as "not 6 digits".
 */
export function dialogCancelled(platform: NodeJS.Platform, code: number | null, out: string): boolean {
  if (code !== 0) return true;
  return platform === 'win32' && out.trim() === '';
}

// ---- what to do about the keychain, in the platform's own terms ----

/** The fix for a locked keychain. */
// On Linux, `gnome-keyring-daemon --unlock` on its own waits, without a prompt, for the
// password on stdin and starts a second daemon beside the running one; with --replace it
// takes the running daemon's place on the same session bus, and `read -rs` asks for the
// password without echo (test/doctor.e2e.test.ts runs the command as given).
export function unlockKeychainFix(platform: NodeJS.Platform): string {
  if (platform === 'darwin') return 'unlock the login keychain (log in to the Mac, or run security unlock-keychain) and retry';
  if (platform === 'win32') return 'Credential Manager opens with your Windows session: log in as this user (not over a network logon without a profile) and retry';
  return 'unlock it: log in to the desktop session, or from this shell run '
    + 'read -rsp "Keyring password: " P && printf %s "$P" | gnome-keyring-daemon --replace --unlock --components=secrets --daemonize >/dev/null; unset P'
    + ' (KeePassXC: unlock the database), then retry';
}

/** The fix for two keychain items where keyrole expects one. */
export function duplicateItemsFix(platform: NodeJS.Platform): string {
  if (platform === 'darwin') return 'delete the extra entries (Keychain Access, or security delete-generic-password -s <service>), then run keyrole setup again';
  if (platform === 'win32') return 'delete the extra entries (Credential Manager, or cmdkey /list and cmdkey /delete:<name>), then run keyrole setup again';
  return 'delete the extra entries (seahorse, or secret-tool clear service <service>), then run keyrole setup again';
}
