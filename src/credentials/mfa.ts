// Getting an MFA code to the person and back. The AWS CLI captures keyrole's stderr and
// the JS SDK gives it no terminal, so a code is asked for, in this order: a code given
// up front (--mfa-token / KEYROLE_MFA_TOKEN, for scripts), the profile's
// keyrole_mfa_process (a YubiKey, a password manager), the controlling terminal, a GUI
// dialog where there is a display, and otherwise a clear failure that names
// `keyrole login`, which primes the session from a terminal.

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { writeAtomic } from '../util/atomic.ts';
import { join } from 'node:path';
import { KeyroleError, oneLine } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { consoleDevices, dialogCancelled, macGuiAvailable } from '../util/platform.ts';
import { ask, openTerminal, type Terminal } from '../util/prompt.ts';
import { keyroleHome, privateDir } from '../util/home.ts';
import { switchOn } from '../util/switch.ts';

export type CodeSource = 'given' | 'process' | 'terminal' | 'gui';

export interface MfaRequest {
  serial: string;
  profile: string | undefined;
  mfaProcess: string | undefined;
  /** A code given up front (--mfa-token or KEYROLE_MFA_TOKEN). */
  token: string | undefined;
  /** Told before and after waiting for the person, so parallel callers on the lock know. */
  onPrompt?: (state: 'prompt' | 'working') => void;
  /** Set on the second try after STS rejected the first code. */
  retryReason?: string;
  /**
   * The terminal belongs to another program (`exec --server`, `serve`): never prompt on it;
   * a dialog, mfa_process or a given code still serve.
   */
  noTerminal?: boolean;
}

export interface MfaCode {
  code: string;
  from: CodeSource;
}

const CODE = /^\d{6}$/;
const PROMPT_TIMEOUT_MS = 120_000;

function checkCode(raw: string, from: string): string {
  const code = raw.trim();
  if (!CODE.test(code)) throw new KeyroleError('BadMfaCode', `the MFA code from ${from} is not 6 digits`, 'give the 6-digit code your authenticator shows');
  return code;
}

export async function mfaCode(r: MfaRequest): Promise<MfaCode> {
  if (r.token !== undefined && !r.retryReason) return { code: checkCode(r.token, '--mfa-token / KEYROLE_MFA_TOKEN'), from: 'given' };
  if (r.mfaProcess && !r.retryReason) return { code: await fromProcess(r.mfaProcess), from: 'process' };

  const term = r.noTerminal ? undefined : openTerminal();
  if (term) {
    try {
      return { code: await fromTerminal(term, r), from: 'terminal' };
    } finally {
      term.close();
    }
  }
  const gui = await fromGui(r);
  if (gui !== undefined) return { code: checkCode(gui, 'the dialog'), from: 'gui' };
  const name = r.profile ?? '<profile>';
  if (r.noTerminal) {
    throw new KeyroleError('MfaNoPrompt', `an MFA code for ${r.serial} is needed and keyrole does not prompt on the terminal of the program it serves`,
      `run keyrole login ${name} in another terminal (the session it opens serves the next request), or set keyrole_mfa_process`);
  }
  throw new KeyroleError('MfaNoPrompt', `an MFA code for ${r.serial} is needed and keyrole has no terminal or display to ask on`,
    `run keyrole login ${name} in a terminal first (the session it opens serves later calls), or set keyrole_mfa_process`);
}

async function fromTerminal(term: Terminal, r: MfaRequest): Promise<string> {
  r.onPrompt?.('prompt');
  try {
    if (r.retryReason) term.output.write(`keyrole: ${r.retryReason}\n`);
    for (let tries = 0; ; tries++) {
      const answer = await ask(term, `MFA code for ${r.serial}${r.profile ? ` (profile ${r.profile})` : ''}: `, { timeoutMs: PROMPT_TIMEOUT_MS });
      if (CODE.test(answer)) return answer;
      if (tries >= 1) throw new KeyroleError('BadMfaCode', 'the MFA code must be 6 digits', 'run the command again and type the code your authenticator shows');
      term.output.write('keyrole: an MFA code is 6 digits; try again\n');
    }
  } finally {
    r.onPrompt?.('working');
  }
}

/**
 * Runs a program that asks the person (keyrole_mfa_process, a GUI dialog) without
 * blocking the event loop: while it waits, the lock holder must go on telling waiters that
 * it is at a prompt (src/credentials/lock.ts). Its stdout is the answer (bounded in size);
 * killed after PROMPT_TIMEOUT_MS.
 */
function runAsker(cmd: string, args: readonly string[], stderr: number | 'ignore', windowsHide: boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', stderr], windowsHide });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (out.length < 4096) out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), PROMPT_TIMEOUT_MS);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out }); });
  });
}

/** Runs keyrole_mfa_process; its own prompts (touch your key…) go to the terminal, its stdout is the code. */
async function fromProcess(command: string): Promise<string> {
  debug(`running keyrole_mfa_process for the MFA code`);
  let ttyFd: number | undefined;
  const dev = consoleDevices(process.platform);
  try { ttyFd = openSync(dev.output, dev.outputFlags); } catch { /* no terminal: its stderr is dropped */ }
  const shell = process.platform === 'win32' ? ['cmd.exe', ['/d', '/s', '/c', command]] as const : ['/bin/sh', ['-c', command]] as const;
  let r;
  try {
    r = await runAsker(shell[0], shell[1], ttyFd ?? 'ignore', true);
  } catch (err) {
    throw new KeyroleError('MfaProcessFailed', `keyrole_mfa_process could not start (${(err as Error).message})`, 'fix the command in the profile');
  } finally {
    if (ttyFd !== undefined) closeSync(ttyFd);
  }
  if (r.code !== 0) throw new KeyroleError('MfaProcessFailed', `keyrole_mfa_process exited with ${r.signal ?? r.code}`, 'run the command by hand to see why, or fix it in the profile');
  return checkCode(oneLine(r.out), 'keyrole_mfa_process');
}

function hasDisplay(): boolean {
  if (process.platform === 'darwin') return macGuiAvailable(process.env);
  if (process.platform === 'win32') return true;
  return !!(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}

function onPath(cmd: string): boolean {
  return spawnSync('/bin/sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' }).status === 0;
}

/** A dialog where a display exists and no terminal does (an IDE, a GUI tool calling the SDK). */
async function fromGui(r: MfaRequest): Promise<string | undefined> {
  if (switchOn(process.env.KEYROLE_NO_GUI) || !hasDisplay()) return undefined;
  const text = `${r.retryReason ? `${r.retryReason}\n` : ''}MFA code for ${r.serial}${r.profile ? ` (profile ${r.profile})` : ''}`;
  let cmd: [string, string[]] | undefined;
  if (process.platform === 'darwin') {
    // The text goes through AppleScript's own string quoting, never through a shell.
    const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    cmd = ['osascript', ['-e', `text returned of (display dialog ${q(text)} default answer "" with title "keyrole" with hidden answer)`]];
  } else if (process.platform === 'win32') {
    const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
    cmd = ['powershell.exe', ['-NoProfile', '-Command', `Add-Type -AssemblyName Microsoft.VisualBasic; [Microsoft.VisualBasic.Interaction]::InputBox(${q(text)}, 'keyrole')`]];
  } else if (onPath('zenity')) {
    cmd = ['zenity', ['--entry', '--hide-text', '--title=keyrole', `--text=${text}`]];
  } else if (onPath('kdialog')) {
    cmd = ['kdialog', ['--title', 'keyrole', '--password', text]];
  }
  if (!cmd) return undefined;
  r.onPrompt?.('prompt');
  try {
    // Asynchronous, so the waiters on the lock hear 'prompt' and wait for the person.
    let res;
    try {
      res = await runAsker(cmd[0], cmd[1], 'ignore', false);
    } catch (err) {
      debug(`the MFA dialog ${cmd[0]} could not start (${(err as Error).message})`);
      return undefined;
    }
    if (dialogCancelled(process.platform, res.code, res.out)) throw new KeyroleError('Cancelled', 'the MFA dialog was cancelled', 'run the command again, or keyrole login <profile> in a terminal');
    return res.out;
  } finally {
    r.onPrompt?.('working');
  }
}

// ---- a code STS has seen: STS accepts each code once, so a reused one is named as such ----

function usedFile(): string {
  return join(privateDir(keyroleHome()), 'mfa-used.json');
}

/** Whether this code was already accepted for this device less than 90 s ago (its TOTP window). */
export function recentlyUsed(serial: string, code: string, now = Date.now()): boolean {
  try {
    const used = JSON.parse(readFileSync(usedFile(), 'utf8')) as Record<string, { code: string; at: number }>;
    const u = used[serial];
    return !!u && u.code === code && now - u.at < 90_000;
  } catch {
    return false;
  }
}

export function rememberUsed(serial: string, code: string, now = Date.now()): void {
  try {
    const path = usedFile();
    let used: Record<string, { code: string; at: number }> = {};
    try { used = JSON.parse(readFileSync(path, 'utf8')); } catch { /* first use */ }
    used[serial] = { code, at: now };
    writeAtomic(path, JSON.stringify(used));
  } catch (err) {
    debug(`could not record the used MFA code (${(err as Error).message})`);
  }
}
