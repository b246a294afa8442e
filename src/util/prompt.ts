// Talking to the person, not to the calling program. The AWS CLI captures stderr and
// shows it only after a failure, and the JS SDK gives keyrole no terminal at all, so a
// question is asked on the controlling terminal itself (/dev/tty, or the console on
// Windows), never on stdout (the credential channel) or stderr.

import { closeSync, openSync } from 'node:fs';
import * as tty from 'node:tty';
import { read } from 'read';
import { KeyroleError } from './errors.ts';
import { consoleDevices } from './platform.ts';

export interface Terminal {
  input: tty.ReadStream;
  output: tty.WriteStream;
  close(): void;
}

/** The controlling terminal, or undefined when there is none (CI, the JS SDK, cron). */
export function openTerminal(): Terminal | undefined {
  const dev = consoleDevices(process.platform);
  let inFd: number | undefined;
  let outFd: number | undefined;
  try {
    inFd = openSync(dev.input, dev.inputFlags);
    outFd = openSync(dev.output, dev.outputFlags);
    if (!tty.isatty(inFd)) throw new Error('not a terminal');
  } catch {
    if (inFd !== undefined) closeSync(inFd);
    if (outFd !== undefined) closeSync(outFd);
    return undefined;
  }
  const input = new tty.ReadStream(inFd);
  const output = new tty.WriteStream(outFd);
  return {
    input,
    output,
    close() {
      input.setRawMode?.(false);
      input.destroy();
      output.destroy();
    },
  };
}

export async function ask(term: Terminal, question: string, opts: { secret?: boolean; timeoutMs?: number } = {}): Promise<string> {
  try {
    const answer = await read({ prompt: question, silent: opts.secret ?? false, replace: opts.secret ? '' : undefined, input: term.input, output: term.output, timeout: opts.timeoutMs, terminal: true });
    // Hidden input echoes nothing, the Enter key included: end the line, or the next output continues the prompt's.
    if (opts.secret) term.output.write('\n');
    return String(answer).trim();
  } catch (err) {
    const msg = (err as Error).message;
    if (/canceled|cancelled/i.test(msg)) throw new KeyroleError('Cancelled', 'cancelled at the prompt', 'nothing was changed', 130);
    if (/timed out/i.test(msg)) throw new KeyroleError('PromptTimeout', 'nobody answered the prompt in time', 'run the command again at a terminal');
    throw err;
  }
}

export async function confirm(term: Terminal, question: string): Promise<boolean> {
  return /^y(es)?$/i.test(await ask(term, `${question} [y/N] `));
}

/** Everything on stdin, when stdin is a pipe or a file (for scripts). Bounded in size. */
export async function readStdin(limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new KeyroleError('StdinTooLarge', `standard input is larger than ${limit} bytes`, 'pipe only the access key id and the secret');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
