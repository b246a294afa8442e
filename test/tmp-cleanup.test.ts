// Tests remove every temporary directory they create, killed or not (test/support/tmp.ts):
// real test files run under `node --test` with TMPDIR pointing at a private directory, so
// what they leave behind is counted there and nowhere else (other runs share /tmp).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, watch } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './support/run.ts';
import { RUN_PREFIX, alive, tempDir } from './support/tmp.ts';

const FILES = ['test/unit/lock.test.ts', 'test/unit/ini-conformance.test.ts'];

/** The environment of a separate `node --test` run (not a child of this one) with its own TMPDIR. */
function runEnv(tmp: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

function nodeTest(tmp: string, files: string[]) {
  return spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { cwd: ROOT, env: runEnv(tmp), encoding: 'utf8' });
}

test('a test run leaves nothing in the temp directory', () => {
  const tmp = tempDir('tmpdir-');
  const r = nodeTest(tmp, FILES);
  assert.equal(r.status, 0, r.stdout.slice(-3000));
  assert.match(r.stdout, /ℹ pass [1-9]\d*\nℹ fail 0/, 'the files ran');
  assert.deepEqual(readdirSync(tmp), []);
});

test('a run killed with SIGKILL leaves its directories; the next run removes them', async () => {
  const tmp = tempDir('tmpdir-');
  // The run is killed (its whole process group) as soon as it has made its first directory.
  const appeared = new Promise<void>((resolve) => {
    const w = watch(tmp, () => {
      if (readdirSync(tmp).some((n) => n.startsWith(RUN_PREFIX))) { w.close(); resolve(); }
    });
  });
  const run = spawn(process.execPath, ['--test', '--test-concurrency=1', 'test/unit/lock.test.ts'], { cwd: ROOT, env: runEnv(tmp), stdio: 'ignore', detached: true });
  const closed = new Promise((r) => run.once('close', r));
  await appeared;
  process.kill(-run.pid!, 'SIGKILL');
  await closed;
  const left = readdirSync(tmp);
  assert.ok(left.length >= 1 && left.every((n) => n.startsWith(RUN_PREFIX)), `left: ${left.join(', ')}`);
  const next = nodeTest(tmp, ['test/unit/ini-conformance.test.ts']);
  assert.equal(next.status, 0, next.stdout.slice(-3000));
  assert.deepEqual(readdirSync(tmp), [], 'the next run swept the dead run\'s directories and removed its own');
});

test('SIGTERM and SIGINT remove the run directory and end the servers the run started', async () => {
  const tmp = tempDir('tmpdir-');
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', [
      `import { endWithRun, tempDir } from ${JSON.stringify(join(ROOT, 'test', 'support', 'tmp.ts'))};`,
      `import { spawn } from 'node:child_process';`,
      `tempDir('x');`,
      `const server = endWithRun(spawn('sleep', ['1000'], { stdio: 'ignore' }));`,
      `console.log(server.pid);`,
    ].join('\n')], { env: runEnv(tmp), stdio: ['ignore', 'pipe', 'inherit'] });
    const server = await new Promise<number>((resolve) => child.stdout!.on('data', (d) => resolve(Number(String(d).trim()))));
    assert.ok(alive(server));
    assert.equal(readdirSync(tmp).length, 1);
    const closed = new Promise<NodeJS.Signals | null>((r) => child.once('close', (_code, sig) => r(sig)));
    child.kill(signal);
    assert.equal(await closed, signal, 'it still ends by the signal');
    assert.deepEqual(readdirSync(tmp), [], `removed on ${signal}`);
    assert.equal(alive(server), false, `its server ended on ${signal}`);
  }
});
