// A real NTP server for a test: chrony on a free loopback port, serving the machine's own
// clock and never touching it (chronyd -x on an unprivileged loopback port).

import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { requireTool } from './tools.ts';
import { endWithRun, tempDir } from './tmp.ts';
import { parseNtpServers } from '../../src/clock/servers.ts';
import { queryNtp } from '../../src/clock/measure.ts';

export interface Chrony {
  /** host:port, as keyrole_ntp_servers takes it. */
  server: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** A loopback UDP port nobody listens on (free a moment ago). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startChrony(): Promise<Chrony> {
  const chronyd = requireTool('chronyd');
  const dir = tempDir('chrony-');
  chmodSync(dir, 0o755); // chronyd drops privileges after start
  const port = await freeUdpPort();
  const conf = join(dir, 'chrony.conf');
  writeFileSync(conf, [
    `port ${port}`,
    'bindaddress 127.0.0.1',
    'allow 127.0.0.1',
    'local stratum 10',
    'cmdport 0',
    `pidfile ${join(dir, 'chronyd.pid')}`,
    '',
  ].join('\n'));
  const root = process.getuid?.() === 0;
  const args = ['-d', '-x', '-f', conf, ...(root ? [] : ['-U', '-u', userInfo().username])];
  const child = endWithRun(spawn(chronyd, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { log += d; });
  const server = `127.0.0.1:${port}`;
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`chronyd exited with ${child.exitCode}: ${log}`);
    const r = await queryNtp(parseNtpServers(server, 'test'), 400);
    if (r.ok) break;
    if (Date.now() > until) {
      child.kill('SIGTERM');
      throw new Error(`chronyd did not answer on ${server} within 30 s: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    server,
    port,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
