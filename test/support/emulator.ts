// The AWS emulator as a separate process (as the demo and the benchmarks run it), with
// helpers for its /_emulator/ controls.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './run.ts';
import { endWithRun } from './tmp.ts';
import { firstLine } from './firstline.ts';
import type { AssumeRoleCarried } from '../../emulator/carried.ts';

export { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY, DEMO_ACCOUNT_ID, DEMO_MFA_SERIAL, DEMO_MFA_SECRET } from '../../emulator/seed.ts';

export interface EmulatorStats {
  calls: Record<string, number>;
  requests: { action: string; accessKeyId?: string; ok: boolean; code?: string; roleArn?: string; durationSeconds?: number; carried?: AssumeRoleCarried; time: string }[];
}

export interface EmulatorProcess {
  url: string;
  child: ChildProcess;
  control<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
  stats(): Promise<EmulatorStats>;
  resetStats(): Promise<void>;
  behaviour(b: Record<string, unknown>): Promise<void>;
  addUser(userName: string): Promise<{ accessKeyId: string; secretAccessKey: string; arn: string }>;
  stop(): Promise<void>;
}

export async function startEmulatorProcess(args: string[] = []): Promise<EmulatorProcess> {
  const child = endWithRun(spawn(process.execPath, [join(ROOT, 'emulator', 'main.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const url = (JSON.parse(await firstLine(child, 'the emulator')) as { url: string }).url;
  const control = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${url}/_emulator/${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const text = await res.text();
    if (!res.ok) throw new Error(`emulator control ${path}: HTTP ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  return {
    url,
    child,
    control,
    stats: () => control<EmulatorStats>('GET', 'stats'),
    resetStats: async () => { await control('POST', 'reset-stats'); },
    behaviour: async (b) => { await control('POST', 'behaviour', b); },
    addUser: (userName) => control('POST', 'users', { userName }),
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
