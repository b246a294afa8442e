// keyrole on Windows for the Windows lane (test/windows.e2e.test.ts): the npm channel
// (dist/keyrole.cjs) on a Windows Node. On a real Windows host that is the Node running the
// tests, started natively (and on macOS the same tests run natively with the macOS
// Keychain: .github/workflows/cross-platform.yml runs them on both). On Linux it is Windows Node under Wine, with the real Credential
// Manager addon, as scripts/prepare.sh installs it (docs/platforms.md and
// CONTRIBUTING.md "Setting up" have the recipe), talking to the emulator on this machine:
// - one Wine prefix (node_modules/.cache/keyrole-windows/prefix, made once by prepare.sh)
//   and one wineserver, started persistent for the lane and stopped after it, so each
//   command does not pay for a server start;
// - Windows Node cannot take a Unix pipe or FIFO as stdin/stdout/stderr (EBADF), so each
//   command reads its input from a regular file and writes to regular files, read back
//   after it exits; a console (prompts, raw mode) comes from `script`, as on Linux;
// - Wine drops HOME and sets USERPROFILE to C:\users\<you> whatever the environment says:
//   test/support/wine-profile.cjs, preloaded, sets USERPROFILE, LOCALAPPDATA and APPDATA to
//   the test's own profile directory, as Windows does at logon;
// - paths cross as Z:\… (Wine maps Z: to /).

import { spawn, execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, win32 } from 'node:path';
import { baseEnv, ROOT, type RunOptions, type RunResult } from './run.ts';
import { onPty, type PtyOptions, type PtyResult } from './pty.ts';
import { tempDir } from './tmp.ts';
import { shlexQuote } from '../../src/config/shlex.ts';

/** Whether keyrole runs natively (Windows, macOS) rather than under Wine (Linux). */
export const NATIVE = process.platform === 'win32' || process.platform === 'darwin';
/** Where keyrole keeps its files in the user's profile: %LOCALAPPDATA%\keyrole on Windows. */
export const KEYROLE_DIR = process.platform === 'darwin' ? ['.aws', 'keyrole'] : ['AppData', 'Local', 'keyrole'];
export const CJS = join(ROOT, 'dist', 'keyrole.cjs');
const CACHE = join(ROOT, 'node_modules', '.cache', 'keyrole-windows');
export const PREFIX = join(CACHE, 'prefix');
const PROFILE_PRELOAD = join(ROOT, 'test', 'support', 'wine-profile.cjs');

/**
 * The Windows Nodes the lane runs keyrole on: Node 22 (what a new user installs) and the
 * oldest the npm channel claims that Wine starts (20.16 and 20.17 do not); on Windows, the
 * Node running the tests. scripts/prepare.sh fetches the Wine ones (WIN_NODES there).
 */
export const WINDOWS_NODES = NATIVE ? [process.version.slice(1)] : ['22.23.3', '20.18.0'];

/** A Unix path as Windows programs under Wine see it (Z: is /); unchanged on Windows. */
export function winPath(p: string): string {
  return NATIVE ? p : `Z:${p.replaceAll('/', '\\')}`;
}

// Where prepare.sh puts the win32 keychain addon (@napi-rs/keyring-win32-x64-msvc), which
// @napi-rs/keyring's loader then finds through NODE_PATH.
const ADDON_PATH = join(CACHE, 'node_path');

function wineEnv(): Record<string, string> {
  return { WINEPREFIX: PREFIX, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
}

/** The Windows Node binary for `version` (under Wine: its node.exe, a Unix path). */
export function windowsNode(version: string): string {
  if (NATIVE) return process.execPath;
  return join(CACHE, `node-v${version}`, 'bin', 'node.exe');
}

/** Why the lane cannot run here, or undefined when it can. */
export function laneProblem(): string | undefined {
  if (NATIVE) return undefined;
  if (process.platform !== 'linux' || process.arch !== 'x64') return `the Windows lane runs on Windows, or under Wine on Linux x64 (this is ${process.platform}-${process.arch})`;
  for (const v of WINDOWS_NODES) if (!existsSync(windowsNode(v))) return `${windowsNode(v)} is missing: scripts/prepare.sh fetches it (npm test runs it first)`;
  if (!existsSync(join(PREFIX, '.keyrole-ready'))) return `the Wine prefix ${PREFIX} is missing: scripts/prepare.sh makes it`;
  if (!existsSync(join(ADDON_PATH, '@napi-rs', 'keyring-win32-x64-msvc', 'package.json'))) return 'the win32 keychain addon is missing: scripts/prepare.sh fetches it';
  if (!existsSync(CJS)) return `${CJS} is missing: run npm run build first`;
  return undefined;
}

/** Starts the lane's wineserver (persistent until stopWine), and clears Credential Manager of what an earlier run left. */
export function startWine(): void {
  if (NATIVE) return;
  const env = baseEnv(wineEnv());
  execFileSync('wineserver', ['-p'], { env, stdio: 'ignore' });
  // Credential Manager lives in the prefix's registry; each run starts with it empty.
  try {
    execFileSync('wine', ['reg', 'delete', 'HKCU\\Software\\Wine\\Credential Manager', '/f'], { env, stdio: 'ignore', timeout: 120_000 });
  } catch { /* nothing stored yet */ }
}

/** Stops the lane's wineserver and every Windows process still running in the prefix. */
export function stopWine(): void {
  if (NATIVE) return;
  try { execFileSync('wineserver', ['-k'], { env: baseEnv(wineEnv()), stdio: 'ignore' }); } catch { /* not running */ }
}

/** A Windows user's session for one test world: its profile directory (USERPROFILE) and a Node. */
export interface WindowsUser {
  node: string;
  /** The profile directory, a Unix path (its Windows form is winPath(profile)). */
  profile: string;
  /** The words that start keyrole (Node and the bundle), as Unix paths to spawn. */
  command(args: string[]): { file: string; args: string[] };
  /** keyrole with its stdio on regular files; env adds to the world's. */
  keyrole(args: string[], o?: RunOptions): Promise<RunResult>;
  /** keyrole at a console (a pty through `script`): for each [prompt, answer], waits for the prompt and types the answer. */
  atConsole(args: string[], script: [RegExp, string][], env?: Record<string, string>, timeoutMs?: number, o?: PtyOptions): Promise<PtyResult>;
  /** The environment keyrole gets, with the profile's variables. */
  env(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv;
}

export function windowsUser(version: string, profile: string, worldEnv: Record<string, string>): WindowsUser {
  const node = windowsNode(version);
  const profileVars = process.platform === 'darwin' ? { HOME: profile }
    : NATIVE ? { USERPROFILE: profile, LOCALAPPDATA: win32.join(profile, 'AppData', 'Local'), APPDATA: win32.join(profile, 'AppData', 'Roaming') }
      : { ...wineEnv(), KEYROLE_WINE_PROFILE: winPath(profile), NODE_PATH: winPath(ADDON_PATH) };
  const env = (extra: Record<string, string | undefined> = {}) => baseEnv({ ...worldEnv, ...profileVars, ...extra });
  const command = (args: string[]) => NATIVE
    ? { file: node, args: [CJS, ...args] }
    : { file: 'wine', args: [node, '--require', winPath(PROFILE_PRELOAD), winPath(CJS), ...args] };
  return {
    node,
    profile,
    command,
    env,
    keyrole(args, o = {}) {
      const io = tempDir('wine-io-');
      const paths = { in: join(io, 'in'), out: join(io, 'out'), err: join(io, 'err') };
      writeFileSync(paths.in, o.input ?? '');
      const fds = [openSync(paths.in, 'r'), openSync(paths.out, 'w'), openSync(paths.err, 'w')];
      const { file, args: argv } = command(args);
      const started = performance.now();
      return new Promise((resolve, reject) => {
        const child = spawn(file, argv, { env: env(o.env), cwd: o.cwd ?? profile, stdio: fds, detached: true });
        for (const fd of fds) closeSync(fd);
        const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, o.timeoutMs ?? 120_000);
        child.on('error', (err) => { clearTimeout(timer); reject(err); });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal, stdout: readFileSync(paths.out, 'utf8'), stderr: readFileSync(paths.err, 'utf8'), ms: performance.now() - started });
        });
      });
    },
    atConsole(args, script, extra = {}, timeoutMs = 60_000, o = {}) {
      if (NATIVE) throw new Error('no console harness on this host (test/support/pty.ts needs util-linux script): run this test under Wine');
      const { file, args: argv } = command(args);
      const vars = env(extra);
      const line = `cd ${shlexQuote(profile)} && exec ${[file, ...argv].map(shlexQuote).join(' ')}`;
      return onPty(line, script, vars as Record<string, string>, timeoutMs, o);
    },
  };
}
