// SIGKILL during the part of a refresh that matters: after STS answered, while the new
// credentials are written. Where the kill lands is read from the run's own --debug trace
// (stderr is a pipe, which Node writes synchronously on Linux, so every line before the
// kill arrives), not guessed from a wall-clock delay: a kill that came too early or too
// late is counted as such, and a test can assert that some landed in the window.

import { spawn } from 'node:child_process';
import { KEYROLE } from './run.ts';

const ANSWERED = /STS (AssumeRole|GetSessionToken) .* answered in /;
const STORED = /stored .* in the \w+ store/;

export interface KillOutcome {
  /** The process was still running when the SIGKILL came (it did not finish first). */
  killed: boolean;
  /** STS had answered when the kill landed. */
  afterAnswer: boolean;
  /** The new entry was stored when the kill landed. */
  afterStore: boolean;
}

/**
 * Runs `keyrole <args> --debug` and, `delayMs` after its trace shows the STS answer, sends
 * SIGKILL. A run that never shows the answer (a cache hit, an error) finishes on its own.
 * `msToExit` is how long the run went on after the answer (the whole rest when not killed).
 */
export function killAfterAnswer(args: string[], env: NodeJS.ProcessEnv, delayMs: number): Promise<KillOutcome & { msToExit: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(KEYROLE, [...args, '--debug'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let trace = '';
    let answeredAt: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      trace += d;
      if (answeredAt === undefined && ANSWERED.test(trace)) {
        answeredAt = performance.now();
        // Infinity: never (setTimeout would take it as 1 ms).
        if (Number.isFinite(delayMs)) timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.once('error', reject);
    child.once('close', (_code, signal) => {
      clearTimeout(timer);
      const killed = signal === 'SIGKILL';
      resolve({ killed, afterAnswer: ANSWERED.test(trace), afterStore: STORED.test(trace), msToExit: answeredAt === undefined ? 0 : performance.now() - answeredAt });
    });
  });
}

/** How long a whole refresh goes on after the STS answer here and now: the longest of three unkilled runs, in ms. */
export async function writeWindowMs(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let longest = 0;
  for (let i = 0; i < 3; i++) {
    const r = await killAfterAnswer(args, env, Infinity);
    if (!r.afterAnswer || r.killed) throw new Error(`keyrole ${args.join(' ')} did not refresh (no STS answer in its trace)`);
    longest = Math.max(longest, r.msToExit);
  }
  return longest;
}

/** Tallies outcomes for the assertion and the test's diagnostic line. */
export function tally(outcomes: KillOutcome[]): { landed: number; beforeStore: number; late: number; text: string } {
  const landed = outcomes.filter((o) => o.killed && o.afterAnswer).length;
  const beforeStore = outcomes.filter((o) => o.killed && o.afterAnswer && !o.afterStore).length;
  const late = outcomes.filter((o) => !o.killed).length;
  return { landed, beforeStore, late, text: `${outcomes.length} kills: ${landed} after the STS answer (${beforeStore} of them before the entry was stored), ${late} after the run had finished` };
}
