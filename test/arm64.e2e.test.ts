// The Linux arm64 executable, built here (npm run build -- --target linux-arm64: Node 24
// for arm64 from the registry, the arm64 keychain addon) and run under Debian's
// qemu-user-static: it starts, and it answers a file-store `process` against the emulator
// with the source's keys read from the real gnome-keyring over D-Bus.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';
import { requireTool } from './support/tools.ts';
import { KEYROLE, ROOT } from './support/run.ts';

const EXE = join(ROOT, 'dist', 'keyrole-linux-arm64');
const QEMU = ['-L', '/usr/aarch64-linux-gnu'];

describe('Linux arm64 executable under qemu', () => {
  let w: World;
  let qemu: string;

  before(async () => {
    qemu = requireTool('qemu-aarch64-static');
    // Built when missing or older than this machine's executable (the suite's build).
    const stale = !fs.existsSync(EXE) || fs.statSync(EXE).mtimeMs < fs.statSync(KEYROLE).mtimeMs;
    if (stale) await promisify(execFile)(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--target', 'linux-arm64'], { cwd: ROOT, maxBuffer: 1 << 24 });
    w = await startWorld();
    w.writeConfig(keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`, keyrole_cache: 'file' }));
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  test('it is an arm64 ELF executable and prints its version', async () => {
    const head = Buffer.alloc(20);
    const fd = fs.openSync(EXE, 'r');
    try { fs.readSync(fd, head, 0, 20, 0); } finally { fs.closeSync(fd); }
    assert.equal(head.readUInt16LE(18), 183, 'e_machine is EM_AARCH64');
    const r = await w.run(qemu, [...QEMU, EXE, '--version'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^keyrole \d+\.\d+\.\d+/);
  });

  test('a file-store process against the emulator: fetched once, then served from the cache', async () => {
    await w.emu.resetStats();
    const a = await w.run(qemu, [...QEMU, EXE, 'process', 'prod'], { timeoutMs: 180_000 });
    assert.equal(a.code, 0, a.stderr);
    const b = await w.run(qemu, [...QEMU, EXE, 'process', 'prod'], { timeoutMs: 180_000 });
    assert.equal(b.code, 0, b.stderr);
    const [ba, bb] = [a, b].map((r) => JSON.parse(r.stdout) as { AccessKeyId: string; SessionToken: string });
    assert.equal(bb.AccessKeyId, ba.AccessKeyId);
    assert.ok(ba.SessionToken.length >= 750);
    assert.equal((await w.emu.stats()).calls.AssumeRole ?? 0, 1);
    // The x64 build reads the arm64 build's entry: one format on every architecture.
    const c = await w.keyrole(['process', 'prod']);
    assert.equal((JSON.parse(c.stdout) as { AccessKeyId: string }).AccessKeyId, ba.AccessKeyId);
  });
});
