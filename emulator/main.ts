// CLI: node emulator/main.ts [--port N] [--latency-ms N] [--clock-offset-ms N] [--seed FILE] [--log]
// Prints one JSON line {"url","port","pid"} once listening; scripts read it to find the port.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Seed } from './seed.ts';
import { startEmulator } from './server.ts';

function intOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) {
    process.stderr.write(`emulator: --${name} expects an integer, got '${value}'\n`);
    process.exit(2);
  }
  return Number(value);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string' },
        'latency-ms': { type: 'string' },
        'clock-offset-ms': { type: 'string' },
        seed: { type: 'string' },
        log: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`emulator: ${(err as Error).message}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(
      'usage: node emulator/main.ts [--port N] [--latency-ms N] [--clock-offset-ms N] [--seed seed.json] [--log]\n',
    );
    return;
  }
  const port = intOption('port', values.port);
  const latencyMs = intOption('latency-ms', values['latency-ms']);
  const clockOffsetMs = intOption('clock-offset-ms', values['clock-offset-ms']);
  const seed = values.seed !== undefined ? (JSON.parse(readFileSync(values.seed, 'utf8')) as Seed) : undefined;

  const emulator = await startEmulator({
    quiet: !values.log,
    ...(port !== undefined ? { port } : {}),
    ...(latencyMs !== undefined ? { latencyMs } : {}),
    ...(clockOffsetMs !== undefined ? { clockOffsetMs } : {}),
    ...(seed !== undefined ? { seed } : {}),
  });
  process.stdout.write(`${JSON.stringify({ url: emulator.url, port: emulator.port, pid: process.pid })}\n`);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`emulator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
