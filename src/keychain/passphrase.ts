// Where the file store's passphrase comes from (src/keychain/unlocked.ts asks only when no
// unlocked key is kept for the session): KEYROLE_PASSPHRASE_FILE (Docker and Kubernetes
// secrets: its first line), KEYROLE_PASSPHRASE_COMMAND (the first line of its stdout;
// run by /bin/sh -c like keyrole_mfa_process and credential_process, so `pass show keyrole`
// or a pipe work as written), else the controlling terminal (/dev/tty, never stderr, which
// the AWS CLI hides), twice when the store is created. Never an argument: argv is visible
// to every user in ps.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { KeyroleError, oneLine } from '../util/errors.ts';
import { ask, openTerminal } from '../util/prompt.ts';
import { printable } from '../util/printable.ts';
import { debug } from '../util/debug.ts';

const NO_SOURCE_FIX = 'set KEYROLE_PASSPHRASE_FILE (a file whose first line is the passphrase) or KEYROLE_PASSPHRASE_COMMAND (a command that prints it), or run keyrole once at a terminal to unlock the store for this session';

/** The first line, without its line end; an empty one is refused by the caller. */
export function firstLine(text: string): string {
  const nl = text.search(/\r?\n/);
  return nl < 0 ? text : text.slice(0, nl);
}

export function passphraseFromFile(path: string, variable = 'KEYROLE_PASSPHRASE_FILE'): string {
  let p: string;
  try {
    p = firstLine(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new KeyroleError('PassphraseSourceFailed', `cannot read ${variable} ${printable(path)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'point it at a readable file whose first line is the passphrase');
  }
  if (!p) throw new KeyroleError('FileStoreNoPassphrase', `the passphrase in ${variable} is empty`, 'its first line must be the passphrase');
  return p;
}

function fromCommand(command: string): Promise<string> {
  debug('running KEYROLE_PASSPHRASE_COMMAND for the file store\'s passphrase');
  return new Promise((resolve, reject) => {
    // stdin and stderr stay the person's: systemd-ask-password and pinentry talk to them.
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['inherit', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (out.length < 65536) out += d; });
    child.on('error', (err) => reject(new KeyroleError('PassphraseSourceFailed', `KEYROLE_PASSPHRASE_COMMAND could not start (${oneLine(err.message)})`, 'fix the command')));
    child.on('close', (code, signal) => {
      if (code !== 0) reject(new KeyroleError('PassphraseSourceFailed', `KEYROLE_PASSPHRASE_COMMAND exited with ${signal ?? code}`, 'run the command by hand to see why, or fix it'));
      else resolve(firstLine(out));
    });
  });
}

async function fromTerminal(purpose: string, twice: boolean): Promise<string> {
  const term = openTerminal();
  if (!term) throw new KeyroleError('FileStoreNoPassphrase', `the file store is locked and there is no terminal to ask for its passphrase (to ${purpose})`, NO_SOURCE_FIX);
  try {
    const first = await ask(term, twice ? 'New passphrase for keyrole\'s file store: ' : 'Passphrase for keyrole\'s file store: ', { secret: true });
    if (!first) throw new KeyroleError('FileStoreNoPassphrase', 'the passphrase is empty', 'type a passphrase (nothing was changed)');
    if (twice) {
      const again = await ask(term, 'The same passphrase again: ', { secret: true });
      if (again !== first) throw new KeyroleError('PassphraseMismatch', 'the two passphrases differ', 'run the command again and type the same passphrase twice (nothing was changed)');
    }
    return first;
  } finally {
    term.close();
  }
}

/**
 * The passphrase: from KEYROLE_PASSPHRASE_FILE, KEYROLE_PASSPHRASE_COMMAND or the terminal.
 * `twice`: a new passphrase (asked twice at a terminal). `terminalOnly`: a change of
 * passphrase, whose new one is never taken from the variables that gave the old one.
 */
export async function passphrase(purpose: string, o: { twice?: boolean; terminalOnly?: boolean } = {}): Promise<string> {
  let p: string;
  const file = process.env.KEYROLE_PASSPHRASE_FILE;
  const command = process.env.KEYROLE_PASSPHRASE_COMMAND;
  if (!o.terminalOnly && file) p = passphraseFromFile(file);
  else if (!o.terminalOnly && command) p = await fromCommand(command);
  else return fromTerminal(purpose, o.twice ?? false);
  if (!p) throw new KeyroleError('FileStoreNoPassphrase', `the passphrase from ${file ? 'KEYROLE_PASSPHRASE_FILE' : 'KEYROLE_PASSPHRASE_COMMAND'} is empty`, 'its first line must be the passphrase');
  return p;
}
