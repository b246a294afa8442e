// The credential endpoint of `exec --server` and `serve` as the tests reach it: `keyrole
// serve` started in the background and read once it says it is serving (the lines it prints,
// its URL, its token file), a request made as an SDK makes it, and whether anything still
// listens on the endpoint's port. One copy for every server test
// (test/server*.e2e.test.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createConnection } from 'node:net';
import { baseEnv, KEYROLE } from './run.ts';
import type { World } from './world.ts';

/** GET with the given headers; resolves with the status and body. */
export function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Whether anything still listens on the endpoint's port. */
export function listening(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = createConnection({ host: u.hostname, port: Number(u.port) });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export interface Serving {
  child: ChildProcess;
  /** What serve printed on stdout by the time it said it was serving: the lines a user evaluates. */
  lines: string;
  url: string;
  tokenFile: string;
  token: string;
  stdout(): string;
  stderr(): string;
  /** GET / as an SDK does, with the token and the Host it expects. */
  ask(): Promise<{ status: number; body: string }>;
  /** SIGINT (unless it has ended already), then its exit. */
  stop(): Promise<void>;
}

/**
 * `keyrole serve <args>` in the world's environment (plus `env`), once it says on stderr that
 * it is serving; rejects with its stderr if it exits first.
 */
export async function serve(w: World, args: string[], env: Record<string, string> = {}): Promise<Serving> {
  const child = spawn(KEYROLE, ['serve', ...args], { env: baseEnv({ ...w.env, ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; if (/serving \S+ at/.test(err)) resolve(); });
    child.once('exit', () => reject(new Error(`serve exited: ${err}`)));
  });
  const url = /AWS_CONTAINER_CREDENTIALS_FULL_URI=(\S+)/.exec(out)![1]!;
  const tokenFile = /AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE='?([^'\n]+)'?/.exec(out)![1]!;
  const token = readFileSync(tokenFile, 'utf8');
  return {
    child, lines: out, url, tokenFile, token,
    stdout: () => out,
    stderr: () => err,
    ask: () => get(url, { authorization: token, host: new URL(url).host }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}
