// Where a sign-in talks to the person: the terminal (a live progress line) or stderr.
// (The browser is src/util/browser.ts.)

import { formatDuration } from '../util/duration.ts';
import type { Terminal } from '../util/prompt.ts';

/** Where a login talks to the person: the terminal, or stderr for `keyrole login` without one. */
export interface Screen {
  write(text: string): void;
  /** A terminal can show a live progress line. */
  live: boolean;
}


/** The waiting line: a spinner and how long the code stays valid, redrawn in place. */
export function progress(screen: Screen, deadline: number, now: () => number = Date.now, label = 'Waiting for approval in the browser; the code is valid for'): { stop(final?: string): void } {
  const frames = ['|', '/', '-', '\\'];
  let i = 0;
  const draw = () => screen.write(`\r\x1b[2K${frames[i++ % frames.length]} ${label} ${formatDuration(deadline - now(), 's')} (Ctrl-C cancels)`);
  if (!screen.live) {
    screen.write(`${label.replace(' in the browser', '')} ${formatDuration(deadline - now(), 's')}.\n`);
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


export function terminalScreen(term: Terminal): Screen {
  return { write: (t) => term.output.write(t), live: true };
}

export function stderrScreen(): Screen {
  const clearLine = '\r\x1b[2K';
  return { write: (t) => process.stderr.write(t.startsWith(clearLine) ? t.slice(clearLine.length) : t), live: false };
}
