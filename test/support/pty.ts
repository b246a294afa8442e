// A real pseudo-terminal for a test, through util-linux `script`: the program under test
// sees a controlling terminal (/dev/tty opens), and the test types answers when it sees
// each prompt on the screen.

import { spawn } from 'node:child_process';
import { requireTool } from './tools.ts';
import { baseEnv } from './run.ts';

export interface PtyResult { code: number | null; screen: string }

export interface PtyOptions {
  /** Told when the i-th prompt of the script is on the screen (after its answer is typed). */
  onPrompt?: (i: number) => void;
  /** Aborting kills the program (SIGKILL): for a test that is done with it. */
  signal?: AbortSignal;
}

/** Runs `command` (a shell line) on a pty; for each [prompt, answer], waits for the prompt then types the answer. */
export function onPty(command: string, script: [RegExp, string][], env: Record<string, string>, timeoutMs = 30_000, o: PtyOptions = {}): Promise<PtyResult> {
  requireTool('script');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: baseEnv(env), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let screen = '';
    let next = 0;
    let scanned = 0;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`pty timed out; screen so far:\n${screen}`)); }, timeoutMs);
    o.signal?.addEventListener('abort', () => child.kill('SIGKILL'), { once: true });
    const onData = (d: Buffer) => {
      screen += d.toString('utf8');
      while (next < script.length) {
        const [prompt, answer] = script[next];
        const rest = screen.slice(scanned);
        const m = prompt.exec(rest);
        if (!m) break;
        scanned += m.index + m[0].length;
        next++;
        child.stdin.write(answer);
        o.onPrompt?.(next - 1);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    });
  });
}
