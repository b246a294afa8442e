// Runs the built executable (the end-to-end tests exercise dist/keyrole, not the sources)
// and other real programs, capturing everything.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const KEYROLE = join(ROOT, 'dist', process.platform === 'win32' ? 'keyrole.exe' : 'keyrole');

export function requireBuild(): string {
  if (!existsSync(KEYROLE)) throw new Error(`${KEYROLE} is missing: run npm run build first`);
  return KEYROLE;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
  cwd?: string;
}

// Variables from the developer's own shell that would change what keyrole or the AWS CLI do.
const SCRUB = ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_STS', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'KEYROLE_CACHE', 'KEYROLE_HOME', 'KEYROLE_DEBUG', 'KEYROLE_KEYCHAIN', 'KEYROLE_KERNEL_CACHE', 'NODE_OPTIONS', 'DBUS_SESSION_BUS_ADDRESS'];

export function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of SCRUB) delete env[k];
  // The kernel keyring's copies of cache entries (src/keychain/tier.ts kernelTier) are
  // on, as users run keyrole: they live in this user's persistent keyring, which every test
  // world of every run shares, sealed and named under each keyrole home's own key, so a
  // world reads and lists only its own (test/support/kernelkeys.ts; a world's stop() drops them).
  // KEYROLE_KERNEL_CACHE is scrubbed with the rest.
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function run(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    // detached: a new session without a controlling terminal, as under CI or the JS SDK.
    const child = spawn(cmd, args, { env: baseEnv(o.env), cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
    child.stdin.on('error', () => { /* the child may exit before reading its input */ });
    child.stdin.end(o.input ?? '');
  });
}

export function keyrole(args: string[], o: RunOptions = {}): Promise<RunResult> {
  return run(requireBuild(), args, o);
}
