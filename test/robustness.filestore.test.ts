// The file store under faults (issue 26): SIGKILL at spread points of every kind of write
// (a cache refresh, the store's creation, a move to another store, a passphrase change),
// unsafe directories and damaged files, through the built executable with no D-Bus session.
// Where a kill lands is read from the run's --debug trace for refreshes (test/support/kill.ts);
// for the other writes the kills are spread over the measured length of a whole run.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';
import { baseEnv, KEYROLE } from './support/run.ts';
import { killAfterAnswer, tally, writeWindowMs, type KillOutcome } from './support/kill.ts';
import { dropHomeKeys } from './support/kernelkeys.ts';
import { Recorder, assertOneLine } from '../scripts/robustness-doc.ts';

const rec = new Recorder('filestore', 'test/robustness.filestore.test.ts');
const PASSPHRASE = 'robust passphrase';
const KEYS = `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n`;

/** Runs keyrole and kills it `ms` after it started (or lets it finish); how long it ran. */
function killAt(args: string[], env: NodeJS.ProcessEnv, ms: number, input = ''): Promise<{ killed: boolean; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(KEYROLE, args, { env, stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin.on('error', () => { /* it may be gone */ });
    child.stdin.end(input);
    const timer = Number.isFinite(ms) ? setTimeout(() => child.kill('SIGKILL'), ms) : undefined;
    child.once('error', reject);
    child.once('close', (_c, signal) => { clearTimeout(timer); resolve({ killed: signal === 'SIGKILL', ms: performance.now() - started }); });
  });
}

describe('the file store under faults', () => {
  let w: World;
  let ppFile: string;
  let env: Record<string, string | undefined>;
  const krHome = () => join(w.home, '.aws', 'keyrole');
  const store = () => join(krHome(), 'store');
  const kr = (args: string[], extra: Record<string, string | undefined> = {}, input?: string) => w.keyrole(args, { env: { ...env, ...extra }, input, timeoutMs: 120_000 });
  const full = (extra: Record<string, string | undefined> = {}) => baseEnv({ ...w.env, ...env, ...extra });
  const sources = async () => {
    const r = await kr(['list']);
    assert.equal(r.code, 0, r.stderr);
    return [...r.stdout.matchAll(/^(\S+) +AKIA/gm)].map((m) => m[1]).sort();
  };

  before(async () => {
    w = await startWorld();
    ppFile = join(w.home, 'passphrase');
    writeFileSync(ppFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    env = { DBUS_SESSION_BUS_ADDRESS: undefined, KEYROLE_PASSPHRASE_FILE: ppFile, KEYROLE_NTP: 'off' };
    w.writeConfig(keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin` }));
  });
  after(async () => {
    await w?.stop();
  });

  test('SIGKILL while the store is created', async (t) => {
    const whole = await killAt(['setup', 'alice', '--no-verify'], full(), Infinity, KEYS);
    assert.ok(!whole.killed);
    const outcomes: boolean[] = [];
    for (let i = 1; i <= 6; i++) {
      await dropHomeKeys(krHome());
      rmSync(krHome(), { recursive: true, force: true });
      const k = await killAt(['setup', 'alice', '--no-verify'], full(), (whole.ms * i) / 7, KEYS);
      outcomes.push(k.killed);
      // Whatever the kill left: no store, or a whole one; setup (again) gives a usable store.
      const again = await kr(['setup', 'alice', '--no-verify', '--force'], {}, KEYS);
      assert.equal(again.code, 0, `after a kill at ${i}/7: ${again.stderr}`);
      assert.deepEqual(await sources(), ['alice']);
    }
    t.diagnostic(`${outcomes.filter(Boolean).length} of 6 runs killed before they finished`);
    assert.ok(outcomes.some(Boolean), 'some kill landed');
    rec.add('SIGKILL while the store is created', '6 kills spread over `keyrole setup` creating the store (scrypt, the key file, the first entry)', 'no store or a whole one; setup again works', 'setup again exit 0 and the source listed after each kill');
  });

  test('SIGKILL during file-store writes of a refresh', async (t) => {
    await w.emu.behaviour({ credentialLifetimeSeconds: 14 * 60 });
    try {
      assert.equal((await kr(['process', 'prod'])).code, 0);
      const e = full({ KEYROLE_PASSPHRASE_FILE: ppFile });
      const window = await writeWindowMs(['process', 'prod'], e);
      const outcomes: KillOutcome[] = [];
      for (let i = 0; i < 10; i++) {
        outcomes.push(await killAfterAnswer(['process', 'prod'], e, (window * i) / 10));
        const c = await kr(['cache', 'list']);
        assert.equal(c.code, 0, `every entry opens after a kill: ${c.stderr}`);
      }
      const n = tally(outcomes);
      t.diagnostic(n.text);
      assert.ok(n.landed > 0, `no kill landed after the STS answer: ${n.text}`);
    } finally {
      await w.emu.behaviour({ credentialLifetimeSeconds: null });
    }
    assert.equal((await kr(['process', 'prod'])).code, 0);
    assert.deepEqual(await sources(), ['alice']);
    rec.add('SIGKILL during file-store writes', '10 kills spread from the STS answer (seen in the --debug trace) to the end of a refresh, cache in the file store', 'every entry opens; the source intact', 'cache list exit 0 after each kill, some kills after the STS answer; source intact; next run exit 0');
  });

  test('SIGKILL during a move to another store, then the move again', async (t) => {
    for (const n of ['bob', 'carol', 'dave']) assert.equal((await kr(['setup', n, '--no-verify'], {}, KEYS)).code, 0);
    const want = await sources();
    const bus = { DBUS_SESSION_BUS_ADDRESS: w.env.DBUS_SESSION_BUS_ADDRESS };
    const whole = await killAt(['store', 'move', '--from', 'file', '--to', 'secret-service'], full(bus), Infinity);
    assert.ok(!whole.killed);
    const back = await kr(['store', 'move', '--to', 'file'], bus);
    assert.equal(back.code, 0, back.stderr);
    let killed = 0;
    for (let i = 1; i <= 5; i++) {
      const k = await killAt(['store', 'move', '--from', 'file', '--to', 'secret-service'], full(bus), (whole.ms * i) / 6);
      if (k.killed) killed++;
      const again = await kr(['store', 'move', '--from', 'file', '--to', 'secret-service'], bus);
      assert.equal(again.code, 0, again.stderr);
      const ss = await kr(['list'], bus);
      assert.deepEqual([...ss.stdout.matchAll(/^(\S+) +AKIA/gm)].map((m) => m[1]).sort(), want, 'every source in the Secret Service after the move is run again');
      assert.equal((await kr(['store', 'move', '--to', 'file'], bus)).code, 0);
      assert.deepEqual(await sources(), want);
    }
    t.diagnostic(`${killed} of 5 moves killed before they finished`);
    assert.ok(killed > 0);
    rec.add('SIGKILL during a move between stores', '5 kills spread over `keyrole store move --to secret-service`, then the move run again', 'no entry lost; the second run finishes the move', 'every source in the Secret Service after each second run, and back in the file store');
  });

  test('SIGKILL during a passphrase change', async (t) => {
    const next = join(w.home, 'next');
    writeFileSync(next, 'the next one\n', { mode: 0o600 });
    const whole = await killAt(['store', 'passphrase'], full({ KEYROLE_NEW_PASSPHRASE_FILE: next }), Infinity);
    assert.ok(!whole.killed);
    // Back to the first passphrase for the loop.
    assert.equal((await kr(['store', 'passphrase'], { KEYROLE_PASSPHRASE_FILE: next, KEYROLE_NEW_PASSPHRASE_FILE: ppFile })).code, 0);
    let killed = 0;
    for (let i = 1; i <= 5; i++) {
      const k = await killAt(['store', 'passphrase'], full({ KEYROLE_NEW_PASSPHRASE_FILE: next }), (whole.ms * i) / 6);
      if (k.killed) killed++;
      // Each read unlocks from its own passphrase, none from a key kept for the session.
      const noSession = { KEYROLE_UNLOCK_TIMEOUT: '0' };
      await dropHomeKeys(krHome());
      // Two readers that change nothing, so at once: each pays for its own scrypt.
      const [old, neu] = await Promise.all([kr(['list'], noSession), kr(['list'], { ...noSession, KEYROLE_PASSPHRASE_FILE: next })]);
      assert.ok((old.code === 0) !== (neu.code === 0), `exactly one passphrase opens the store: old ${old.stderr} new ${neu.stderr}`);
      if (neu.code === 0) assert.equal((await kr(['store', 'passphrase'], { KEYROLE_PASSPHRASE_FILE: next, KEYROLE_NEW_PASSPHRASE_FILE: ppFile })).code, 0);
    }
    t.diagnostic(`${killed} of 5 changes killed before they finished`);
    assert.ok(killed > 0);
    rec.add('SIGKILL during a passphrase change', '5 kills spread over `keyrole store passphrase`', 'the old passphrase or the new one opens the store, never neither', 'exactly one of the two opens it after each kill');
  });

  test('a symbolic link or a group-writable directory is refused', async () => {
    await dropHomeKeys(krHome());
    const real = join(w.home, 'elsewhere');
    renameSync(store(), real);
    symlinkSync(real, store());
    try {
      assertOneLine(await kr(['list']), /store is a symbolic link, and keyrole keeps secrets only in a real directory/);
    } finally {
      rmSync(store());
      renameSync(real, store());
    }
    chmodSync(store(), 0o770);
    try {
      assertOneLine(await kr(['list']), /store is writable by group or others \(mode 770\)/);
    } finally {
      chmodSync(store(), 0o700);
    }
    assert.equal((await kr(['list'])).code, 0);
    rec.add('unsafe store directory', 'the store directory a symbolic link, then mode 770', 'refused in one line', 'exit 1, one line naming the directory and the fix');
  });

  test('a damaged entry is reported in one line with the file to delete', async () => {
    const entries = join(store(), 'entries');
    const before = new Set(readdirSync(entries));
    assert.equal((await kr(['setup', 'erin', '--no-verify'], {}, KEYS)).code, 0);
    const [f] = readdirSync(entries).filter((n) => !before.has(n));
    truncateSync(join(entries, f), 100);
    assertOneLine(await kr(['process', 'prod', '--source', 'erin']), /an entry of the file store does not open under its key .*: truncated, edited or another store's\); delete that file/);
    rmSync(join(entries, f));
    assert.equal((await kr(['list'])).code, 0);
    rec.add('a truncated entry', 'an entry file cut to 100 bytes', 'reported in one line, never used', 'exit 1, one line naming the file and the fix');
  });

  test('a lost passphrase is explained', async () => {
    await dropHomeKeys(krHome());
    const wrong = join(w.home, 'wrong');
    writeFileSync(wrong, 'forgotten\n', { mode: 0o600 });
    assertOneLine(await kr(['list'], { KEYROLE_PASSPHRASE_FILE: wrong }), /wrong passphrase\); try again; nothing was changed; if the passphrase is lost, so is the store: nobody can open it; delete the store directory and keyrole setup your sources again/);
    assert.ok(existsSync(join(store(), 'store.key.age')));
    rec.add('wrong or lost passphrase', 'KEYROLE_PASSPHRASE_FILE with another passphrase', 'one line, no file changed, what a lost passphrase means', 'exit 1, one line: wrong passphrase, nothing changed, the store is gone without it');
  });

  rec.docTest(7);
});
