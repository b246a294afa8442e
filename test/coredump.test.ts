// Regression (a SIGABRT'd keyrole left a 594 MB core holding the long-term secret seven
// times): keyrole sets /proc/self/coredump_filter to 0 before it reads any secret, so a core
// holds no memory. Checked twice on the built executable: the filter of a running keyrole,
// and a real core of a keyrole killed with SIGABRT while it holds the secret (waiting on
// STS), next to a control process whose core does hold a secret, so the scan is shown to work.
// Where core_pattern pipes cores to a handler (systemd-coredump, apport, most container
// hosts) the kernel writes no file here: gdb's gcore then dumps the live process the way the
// kernel would (gdb honours coredump_filter, `set use-coredump-filter on` is its default).
// gcore's dump is also taken everywhere, so that path is exercised on machines where the
// kernel's is too. Never a skip: a machine that can do neither fails with why.

import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';
import { baseEnv, requireBuild, run } from './support/run.ts';
import { requireTool } from './support/tools.ts';

const linux = process.platform === 'linux';

/** The child's stderr as it grows, and its end. */
function watch(child: ChildProcess) {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
  return { stderr: () => stderr, ended };
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A core file written by a process whose working directory was `dir` (core_pattern "core" or "core.<pid>"). */
function coreIn(dir: string): string | undefined {
  const f = readdirSync(dir).find((n) => /^core(\.\d+)?$/.test(n));
  return f && join(dir, f);
}

/** Whether the kernel writes cores as files in the dumping process's directory (not to a pipe or elsewhere). */
function kernelWritesCoreFiles(): boolean {
  return !/^[|/]/.test(readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim());
}

/** Runs `argv` in `dir` with core dumps allowed and waits for `ready`; the running child. */
async function startReady(dir: string, argv: string[], env: NodeJS.ProcessEnv, ready: (stderr: string) => boolean) {
  const child = spawn('sh', ['-c', 'ulimit -c unlimited && exec "$@"', 'sh', ...argv], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const w = watch(child);
  await until(() => ready(w.stderr()), `${argv[0]} getting ready`);
  return { child, ...w };
}

/** Runs `argv` in `dir`, waits for `ready`, SIGABRTs it; the kernel's core file. */
async function abortWithCore(dir: string, argv: string[], env: NodeJS.ProcessEnv, ready: (stderr: string) => boolean): Promise<string> {
  const { child, ended } = await startReady(dir, argv, env, ready);
  child.kill('SIGABRT');
  const end = await ended;
  assert.equal(end.signal, 'SIGABRT', `${argv[0]} ended by SIGABRT (${JSON.stringify(end)})`);
  const core = coreIn(dir);
  assert.ok(core, `${argv[0]} was SIGABRT'd with core dumps allowed, yet no core file is in ${dir} (core_pattern ${readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim()})`);
  return core;
}

/** Runs `argv` in `dir`, waits for `ready`, dumps it alive with gdb's gcore, then kills it; the core file. */
async function gcoreOf(dir: string, argv: string[], env: NodeJS.ProcessEnv, ready: (stderr: string) => boolean): Promise<string> {
  const gcore = requireTool('gcore');
  const { child, ended } = await startReady(dir, argv, env, ready);
  try {
    const r = await run(gcore, ['-o', join(dir, 'core'), String(child.pid)]);
    assert.equal(r.code, 0, `gcore could not dump ${argv[0]} (it needs ptrace: a container may need --cap-add SYS_PTRACE): ${r.stderr}`);
  } finally {
    child.kill('SIGKILL');
    await ended;
  }
  const core = coreIn(dir);
  assert.ok(core, `gcore wrote no core in ${dir}`);
  return core;
}

describe('no secret in a core dump', { skip: !linux && 'Linux only: coredump_filter' }, () => {
  let w: World;
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'keyrole-core-'));
    dirs.push(d);
    return d;
  };
  before(async () => {
    requireBuild();
    w = await startWorld();
    w.writeConfig(keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin` }));
    assert.equal((await w.setup('alice')).code, 0);
    // STS answers after a minute: keyrole then holds the source's secret while it waits.
    await w.emu.behaviour({ latencyMs: 60_000 });
  });
  after(async () => {
    await w?.emu.behaviour({ latencyMs: 0 });
    await w?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const waitingOnSts = (stderr: string) => /STS AssumeRole .* with key AKIA/.test(stderr);
  const keyroleArgv = () => [requireBuild(), 'process', 'prod', '--cache', 'none', '--debug'];
  const env = () => baseEnv({ ...w.env, KEYROLE_NTP: 'off' });

  test('a running keyrole\'s coredump_filter is 0 (the kernel\'s default, 33, dumps the heap)', async () => {
    const child = spawn(keyroleArgv()[0], keyroleArgv().slice(1), { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    const wk = watch(child);
    try {
      await until(() => waitingOnSts(wk.stderr()), 'keyrole reaching STS');
      assert.equal(readFileSync(`/proc/${child.pid}/coredump_filter`, 'utf8').trim(), '00000000');
      assert.notEqual(readFileSync('/proc/self/coredump_filter', 'utf8').trim(), '00000000', 'this test runner keeps the default, so the check above can fail');
    } finally {
      child.kill('SIGKILL');
      await wk.ended;
    }
  });

  /** A core of keyrole holding the secret, checked against a control's core taken the same way. */
  async function assertNoSecretInCore(t: TestContext, dump: typeof gcoreOf) {
    // The control: a process holding the same secret in its memory (its environment), dumped the same way.
    const controlCore = await dump(tempDir(), ['sh', '-c', 'echo ready >&2; exec sleep 600'], { PATH: process.env.PATH, HELD: DEMO_SECRET_ACCESS_KEY }, (s) => s.includes('ready'));
    assert.ok(readFileSync(controlCore).includes(DEMO_SECRET_ACCESS_KEY), 'the control\'s core holds the secret, so the scan below can find one');
    const core = await dump(tempDir(), keyroleArgv(), env(), waitingOnSts);
    assert.ok(existsSync(core), 'keyrole dumped a core (with no memory in it)');
    const bytes = readFileSync(core);
    t.diagnostic(`keyrole's core: ${bytes.length} bytes; the control's: ${readFileSync(controlCore).length} bytes`);
    assert.ok(!bytes.includes(DEMO_SECRET_ACCESS_KEY), 'the long-term secret is not in keyrole\'s core');
    assert.ok(!bytes.includes(Buffer.from(DEMO_SECRET_ACCESS_KEY, 'utf16le')), 'not even as UTF-16');
  }

  test('regression: a keyrole SIGABRT\'d while it holds the long-term secret leaves a core without it', async (t) => {
    // Where the kernel hands cores to a pipe, gcore takes the dump it would have written.
    if (!kernelWritesCoreFiles()) t.diagnostic(`core_pattern pipes cores away (${readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim()}): the dumps are gcore's`);
    await assertNoSecretInCore(t, kernelWritesCoreFiles() ? abortWithCore : gcoreOf);
  });

  test('a live keyrole dumped by gcore while it holds the long-term secret leaves a core without it', async (t) => {
    await assertNoSecretInCore(t, gcoreOf);
  });
});
