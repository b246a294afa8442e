// The GUI MFA prompt (no terminal, a display): a stand-in `zenity` on PATH that tells the
// test it is showing, then waits for the test (the person) to answer. While it waits, the
// holder of the lock must keep telling waiters it is at a prompt: the dialog used to run
// with spawnSync, which froze the holder, so waiters never heard it and failed with
// LockTimeout after 45 s however soon the person answered afterwards.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { baseEnv, KEYROLE } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { tempDir } from './support/tmp.ts';
import { DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL } from './support/emulator.ts';

interface Proc { child: ChildProcess; stderr: string; stdout: string; closed: Promise<number | null> }

function start(args: string[], env: NodeJS.ProcessEnv): Proc {
  // detached: a new session with no controlling terminal, so the GUI path is taken.
  const child = spawn(KEYROLE, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const p: Proc = { child, stderr: '', stdout: '', closed: new Promise((r) => child.once('close', (code) => r(code))) };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { p.stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { p.stderr += d; });
  return p;
}

/** Resolves when `p` has printed `pattern` on stderr, or rejects when it exits first. */
function printed(p: Proc, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pattern.test(p.stderr)) return;
      p.child.stderr!.off('data', check);
      resolve();
    };
    p.child.stderr!.on('data', check);
    check();
    void p.closed.then((code) => reject(new Error(`exited ${code} before printing ${pattern}:\n${p.stderr}`)));
  });
}

describe('MFA through a GUI dialog', () => {
  let w: World;
  let fake: string;
  before(async () => {
    w = await startWorld();
    w.writeConfig(keyroleProfile('gui', { region: 'us-east-1', keyrole_source: 'alice', keyrole_mfa_serial: DEMO_MFA_SERIAL, keyrole_role_arn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/MfaAdmin` }));
    assert.equal((await w.setup('alice')).code, 0);
    fake = tempDir('gui-');
    execFileSync('mkfifo', [join(fake, 'shown'), join(fake, 'answer')]);
    // The dialog: says it is showing, waits for the answer, prints it as zenity does.
    writeFileSync(join(fake, 'zenity'), `#!/bin/sh\nprintf '%s\\n' "$@" > "${fake}/args"\necho shown > "${fake}/shown"\nread code < "${fake}/answer"\nprintf '%s\\n' "$code"\n`);
    chmodSync(join(fake, 'zenity'), 0o755);
  });
  after(() => w?.stop());

  test('regression: waiters hear that the holder is at a GUI prompt and all succeed when the person answers late', async () => {
    requireTool('oathtool');
    const env = baseEnv({ ...w.env, KEYROLE_NTP: 'off', DISPLAY: ':99', WAYLAND_DISPLAY: undefined, KEYROLE_NO_GUI: undefined, PATH: `${fake}:${process.env.PATH ?? ''}` });
    const holder = start(['process', 'gui', '--debug'], env);
    // The dialog is up: from here on the holder waits for the person.
    assert.equal((await readFile(join(fake, 'shown'), 'utf8')).trim(), 'shown');
    const waiters = Array.from({ length: 4 }, () => start(['process', 'gui', '--debug'], env));
    // Each waiter learns the holder is at a prompt (a frozen holder never says so, and its
    // waiters fall to the 45 s working bound instead).
    await Promise.all(waiters.map((p) => printed(p, /the lock holder is now waiting for input/)));
    // The person answers, later than any of them started waiting.
    const code = execFileSync('oathtool', ['--totp', '-b', DEMO_MFA_SECRET], { encoding: 'utf8' }).trim();
    writeFileSync(join(fake, 'answer'), `${code}\n`);
    const codes = await Promise.all([holder, ...waiters].map((p) => p.closed));
    for (const [i, p] of [holder, ...waiters].entries()) assert.equal(codes[i], 0, p.stderr);
    const keys = new Set([holder, ...waiters].map((p) => (JSON.parse(p.stdout) as { AccessKeyId: string }).AccessKeyId));
    assert.equal(keys.size, 1, 'everyone got the holder\'s credentials');
    const stats = await w.emu.stats();
    assert.equal(stats.calls.GetSessionToken, 1, 'one code asked, one session');
    assert.match(readFileSync(join(fake, 'args'), 'utf8'), new RegExp(`MFA code for ${DEMO_MFA_SERIAL.replace(/[/.]/g, '\\$&')} \\(profile gui\\)`));
  });
});
