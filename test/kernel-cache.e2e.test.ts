// The default keychain store on Linux copies cache entries keyrole can renew by itself to
// the kernel keyring where this session may write to it, and reads there first; the Secret
// Service holds every entry (src/keychain/tier.ts kernelTier). A hit then costs no
// D-Bus connection. The copies are sealed and named under the keyrole home's own key
// (src/keychain/seal.ts): a copy that does not open is a miss, another home reads none.
//
// keyrole runs here as the test runner's processes do: with no session keyring of its own
// (this project's container, like a container, a service or a cron job: the kernel gives
// such a process the user-session keyring), unless a test starts it in a new anonymous
// session keyring (keyctl session -), as a new login would. The addon links the keys into
// this user's persistent keyring, which every session and every world shares; each world
// has its own home and so its own key, and its stop() drops its copies.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { KEYROLE, run } from './support/run.ts';
import { otherUser } from './support/users.ts';
import { tempDir } from './support/tmp.ts';
import { requireTool } from './support/tools.ts';
import { homeKeys, kernelNameOf, keyBytes, keyctlWithPersistent, listedKeys } from './support/kernelkeys.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const CACHE = 'keyrole:cache';

describe('cache entries copied to the kernel keyring, sealed, and read there first; MFA sessions only in the Secret Service', () => {
  let w: World;
  const tag = randomBytes(4).toString('hex');
  const khome = () => join(w.home, '.aws', 'keyrole');
  const calls = async (action: string) => (await w.emu.stats()).calls[action] ?? 0;
  /** keyrole in a new anonymous session keyring, as a new login; `pre` runs first in the same session (keyctl setperm). */
  const kr = (args: string[], env: Record<string, string> = {}, pre = '') => w.run('keyctl', ['session', '-', 'sh', '-c', `${pre}exec "$0" "$@"`, KEYROLE, ...args], { env });
  const secretServiceKeys = async () => {
    const r = await w.run(requireTool('secret-tool'), ['search', '--all', 'service', CACHE]);
    return [...`${r.stdout}\n${r.stderr}`.matchAll(/^attribute\.username = ([0-9a-f]{16})$/gm)].map((m) => m[1]).sort();
  };
  /** The entries (by their Secret Service names) whose copy is in the kernel keyring, under the name this home derives for each. */
  const copies = async () => {
    const names = new Set(homeKeys(khome()).map((k) => k.name));
    return (await secretServiceKeys()).filter((account) => names.has(kernelNameOf(khome(), CACHE, account)));
  };
  const blob = (stdout: string) => JSON.parse(stdout) as { AccessKeyId: string; SecretAccessKey: string; SessionToken: string; Expiration: string };

  before(async () => {
    requireTool('keyctl');
    w = await startWorld();
    w.writeConfig([
      keyroleProfile(`plain-${tag}`, { keyrole_source: 'alice', keyrole_role_arn: ROLE }),
      keyroleProfile(`other-${tag}`, { keyrole_source: 'alice', keyrole_role_arn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly` }),
      keyroleProfile(`mfa-${tag}`, { keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_mfa_serial: DEMO_MFA_SERIAL }),
    ].join('\n'));
    assert.equal((await w.setup('alice')).code, 0);
  });
  beforeEach(async () => {
    await kr(['cache', 'clear']);
    await w.emu.behaviour({ credentialLifetimeSeconds: null });
    await w.emu.resetStats();
  });
  after(async () => {
    await w?.stop();
  });

  test('a hit is served from the kernel keyring without a D-Bus connection; the Secret Service holds the entry too', async () => {
    const first = await kr(['process', `plain-${tag}`, '--debug']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await calls('AssumeRole'), 1);
    const inSecretService = await secretServiceKeys();
    assert.equal(inSecretService.length, 1, 'the Secret Service holds the entry (the store of record)');
    assert.deepEqual(await copies(), inSecretService, 'the kernel keyring holds its copy, under the name this home derives for it');

    const hit = await kr(['process', `plain-${tag}`, '--debug']);
    assert.equal(hit.code, 0, hit.stderr);
    assert.equal(hit.stdout, first.stdout, 'the same credentials');
    assert.match(hit.stderr, /cache hit for role/);
    assert.doesNotMatch(hit.stderr, /Secret Service|D-Bus/, 'no Secret Service connection on a hit');
    assert.equal(await calls('AssumeRole'), 1);

    // Another session of the same user finds it (the persistent keyring), as a second terminal would.
    const other = await kr(['process', `plain-${tag}`]);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.stdout, first.stdout);
    assert.equal(await calls('AssumeRole'), 1);
  });

  test('regression (primeKeyutils: a fresh process with no session keyring missed the copy on its first read): the container, service or cron case hits at once', async () => {
    // The case itself: these processes have no session keyring of their own, so the kernel
    // hands them the user-session keyring (_uid_ses.UID) until something asks for one.
    const uid = process.getuid!();
    const ses = await w.run('keyctl', ['rdescribe', '@s']);
    assert.match(ses.stdout, new RegExp(`;_uid_ses\\.${uid}\\n?$`), `this test needs a runner with no session keyring of its own (a container, a service, cron), as the project's machines and CI are; it has: ${ses.stdout}${ses.stderr}`);
    const first = await w.keyrole(['process', `plain-${tag}`]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal((await copies()).length, 1);
    // A brand-new process of the same kind: its first read must find the copy.
    const hit = await w.keyrole(['process', `plain-${tag}`, '--debug']);
    assert.equal(hit.code, 0, hit.stderr);
    assert.equal(hit.stdout, first.stdout);
    assert.match(hit.stderr, /cache hit for role/);
    assert.doesNotMatch(hit.stderr, /Secret Service|D-Bus/, 'served from the kernel keyring on the first read');
    assert.equal(await calls('AssumeRole'), 1);
  });

  test('the copy is sealed: its bytes hold neither the secret nor the key id, and its name is not the entry\'s', async () => {
    const r = await kr(['process', `plain-${tag}`]);
    assert.equal(r.code, 0, r.stderr);
    const creds = blob(r.stdout);
    const [account] = await secretServiceKeys();
    const mine = homeKeys(khome());
    assert.equal(mine.length, 1);
    assert.notEqual(mine[0].name, account);
    assert.ok(!listedKeys(CACHE).some((k) => k.name === account), 'no key is named after the entry itself');
    const bytes = await keyBytes(mine[0].id);
    assert.ok(bytes.length > 500, `the copy is there (${bytes.length} bytes)`);
    for (const secret of [creds.AccessKeyId, creds.SecretAccessKey, creds.SessionToken.slice(0, 40), DEMO_ACCESS_KEY_ID, ROLE, `plain-${tag}`]) {
      assert.equal(bytes.includes(Buffer.from(secret)), false, `${secret.slice(0, 12)}… is not in the copy`);
    }
  });

  test('a rewritten copy is a miss: the Secret Service\'s entry answers, never the forged value', async () => {
    const first = await kr(['process', `plain-${tag}`]);
    assert.equal(first.code, 0, first.stderr);
    const [id] = homeKeys(khome()).map((k) => k.id);
    // The entry as an unsealed copy held it (the Secret Service's), with other credentials.
    const [account] = await secretServiceKeys();
    const real = JSON.parse((await w.run(requireTool('secret-tool'), ['lookup', 'service', CACHE, 'username', account])).stdout) as Record<string, unknown>;
    const entry = JSON.stringify({ ...real, AccessKeyId: 'ASIAFORGEDFORGED0001' });
    const up = await keyctlWithPersistent('printf %s "$2" | keyctl pupdate "0x$1"', [id, entry]);
    assert.equal(up.code, 0, up.stderr);
    const next = await kr(['process', `plain-${tag}`, '--debug']);
    assert.equal(next.code, 0, next.stderr);
    assert.doesNotMatch(next.stdout, /FORGED/);
    assert.match(next.stderr, /does not open under this keyrole home's key/);
    // The Secret Service's entry answers: no STS call is needed, and the copy is not believed.
    assert.equal(blob(next.stdout).AccessKeyId, blob(first.stdout).AccessKeyId);
    assert.equal(await calls('AssumeRole'), 1);
  });

  test('cache list shows the entry and cache clear removes it from the kernel keyring', async () => {
    assert.equal((await kr(['process', `plain-${tag}`])).code, 0);
    const list = await kr(['cache', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^plain-${tag} +role ${ROLE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?: in [a-z0-9-]+)? +\\d+ min +keychain$`, 'm'));
    const clear = await kr(['cache', 'clear', `plain-${tag}`]);
    assert.equal(clear.code, 0, clear.stderr);
    assert.deepEqual(homeKeys(khome()), []);
    assert.equal((await kr(['process', `plain-${tag}`])).code, 0);
    assert.equal(await calls('AssumeRole'), 2, 'cleared: fetched again');
  });

  test('regression (bench: 64 cold calls after cache clear made no STS call): cache clear reaches the copies with KEYROLE_KERNEL_CACHE=off', async () => {
    assert.equal((await kr(['process', `plain-${tag}`])).code, 0);
    assert.equal((await copies()).length, 1);
    const clear = await kr(['cache', 'clear'], { KEYROLE_KERNEL_CACHE: 'off' });
    assert.equal(clear.code, 0, clear.stderr);
    assert.deepEqual(homeKeys(khome()), [], 'no copy left to be read once the copies are on again');
    assert.equal((await kr(['process', `plain-${tag}`])).code, 0);
    assert.equal(await calls('AssumeRole'), 2, 'cleared: fetched again');
  });

  test('an MFA session (only a person can renew it) is not copied to the kernel keyring; the role on it is', async () => {
    requireTool('oathtool');
    const code = execFileSync('oathtool', ['--totp', '-b', DEMO_MFA_SECRET], { encoding: 'utf8' }).trim();
    const r = await kr(['process', `mfa-${tag}`, '--mfa-token', code]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await calls('GetSessionToken'), 1);
    const inKernel = await copies();
    const inSecretService = await secretServiceKeys();
    assert.equal(inKernel.length, 1, `the role entry: ${inKernel.join(' ')}; Secret Service: ${inSecretService.join(' ')}`);
    assert.equal(homeKeys(khome()).length, 1, 'nothing else of this home in the kernel keyring');
    assert.equal(inSecretService.length, 2, 'the role and the MFA session');
    const session = inSecretService.filter((k) => k !== inKernel[0]);
    assert.equal(session.length, 1);
    const entry = JSON.parse((await w.run(requireTool('secret-tool'), ['lookup', 'service', CACHE, 'username', session[0]])).stdout) as { roleArn?: string };
    assert.equal(entry.roleArn, undefined, 'the entry left out of the kernel keyring is the session, not the role');
  });

  test('a session keyring that refuses writes: the entry goes to the Secret Service and is served from there', async () => {
    // Possessor and user may do everything but write to this session's keyring.
    const refuse = 'keyctl setperm @s 0x3b3b0000 && ';
    const first = await kr(['process', `plain-${tag}`, '--debug'], {}, refuse);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /kernel keyring: cannot store .*only the Secret Service keeps it/);
    assert.equal((await secretServiceKeys()).length, 1);
    const hit = await kr(['process', `plain-${tag}`, '--debug'], {}, refuse);
    assert.equal(hit.code, 0, hit.stderr);
    assert.match(hit.stderr, /cache hit for role/);
    assert.equal(await calls('AssumeRole'), 1);
  });

  test('KEYROLE_KERNEL_CACHE=off keeps every entry in the Secret Service', async () => {
    const r = await kr(['process', `plain-${tag}`], { KEYROLE_KERNEL_CACHE: 'off' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(homeKeys(khome()), []);
    assert.equal((await secretServiceKeys()).length, 1);
  });

  test('the kernel keyring\'s keys are readable by their owner only (no permission for group or others), and the home\'s key file is 0600', async () => {
    assert.equal((await kr(['process', `plain-${tag}`])).code, 0);
    const [k] = homeKeys(khome());
    assert.ok(k, 'the copy is listed');
    assert.equal(k.perm & 0xffff, 0, `group and others have no permission (perm ${k.perm.toString(16)})`);
    const st = (await w.run('stat', ['-c', '%a %U', join(khome(), 'kernel-keyring.key')])).stdout.trim();
    assert.equal(st, `600 ${(await w.run('id', ['-un'])).stdout.trim()}`);
  });

  test('doctor names the kernel keyring\'s use and this user\'s quota', async () => {
    const r = await kr(['doctor', `plain-${tag}`, '--no-network']);
    assert.match(r.stdout, /^ok +kernel +holds the cache's fast copies, sealed under this home's key; \d+ of \d+ bytes and \d+ of \d+ keys in use for uid \d+ \(\/proc\/key-users\)$/m, r.stdout);
    const off = await kr(['doctor', `plain-${tag}`, '--no-network'], { KEYROLE_KERNEL_CACHE: 'off' });
    assert.match(off.stdout, /^skipped +kernel +cache copies are off/m, off.stdout);
  });

  test('a write removes this home\'s expired copies (the per-user quota is not filled by them)', async () => {
    // Credentials that live 2 s: the copy expires while nothing reads it.
    await w.emu.behaviour({ credentialLifetimeSeconds: 2 });
    const short = await kr(['process', `plain-${tag}`]);
    assert.equal(short.code, 0, short.stderr);
    const [expiring] = await copies();
    assert.ok(expiring, 'the short-lived entry has its copy');
    const until = new Date(blob(short.stdout).Expiration).getTime();
    // Wait for the event (the expiry on this clock), not a guess of the machine's speed.
    while (Date.now() <= until + 1000) await new Promise((r) => setTimeout(r, until + 1000 - Date.now() + 10));
    await w.emu.behaviour({ credentialLifetimeSeconds: null });
    const write = await kr(['process', `other-${tag}`, '--debug']);
    assert.equal(write.code, 0, write.stderr);
    assert.match(write.stderr, /kernel keyring: removed 1 expired/);
    const left = await copies();
    assert.equal(left.includes(expiring), false, 'the expired copy is gone');
    assert.equal(left.length, 1, 'the new entry has its copy');
  });

  test('an unsealed copy an earlier keyrole left (readable by whoever shares the session) is removed on the next write', async () => {
    const legacy = randomBytes(8).toString('hex');
    const add = await keyctlWithPersistent('printf %s "{}" | keyctl padd user "keyring:$1@keyrole:cache" "$(keyctl get_persistent @s)"', [legacy]);
    assert.equal(add.code, 0, add.stderr);
    assert.ok(listedKeys(CACHE).some((k) => k.name === legacy), 'the old copy is there');
    const write = await kr(['process', `plain-${tag}`, '--debug']);
    assert.equal(write.code, 0, write.stderr);
    assert.ok(!listedKeys(CACHE).some((k) => k.name === legacy), 'the old copy is gone');
  });
});

describe('a cache entry belongs to one key in one keychain', () => {
  let a: World;
  let b: World;
  const tag = randomBytes(4).toString('hex');
  const profile = `shared-${tag}`;
  const config = keyroleProfile(profile, { keyrole_source: 'alice', keyrole_role_arn: ROLE });
  const signers = async (w: World) => (await w.emu.stats()).requests.filter((r) => r.action === 'AssumeRole').map((r) => r.accessKeyId);

  before(async () => {
    requireTool('keyctl');
    a = await startWorld();
    // A second HOME of the same user, with its own gnome-keyring, on the same STS (so the
    // profile's parameters, and once its cache key, are the same): two clients, or two CI
    // projects under one uid.
    b = await startWorld({ emulator: a.emu });
    a.writeConfig(config);
    b.writeConfig(config);
    assert.equal((await a.setup('alice')).code, 0);
    const bob = await a.emu.addUser(`bob-${tag}`);
    assert.equal((await b.setup('alice', bob.accessKeyId, bob.secretAccessKey)).code, 0);
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  test('regression: two HOMEs with one source name and different keys each get their own credentials, and list and clear only their own', async () => {
    await a.emu.resetStats();
    const ra = await a.keyrole(['process', profile]);
    assert.equal(ra.code, 0, ra.stderr);
    const rb = await b.keyrole(['process', profile, '--debug']);
    assert.equal(rb.code, 0, rb.stderr);
    assert.notEqual(JSON.parse(rb.stdout).AccessKeyId, JSON.parse(ra.stdout).AccessKeyId, 'the second HOME is not served the first one\'s credentials');
    const signed = await signers(a);
    assert.equal(signed.length, 2, 'each HOME called STS');
    assert.equal(signed[0], DEMO_ACCESS_KEY_ID, 'the first HOME with its key');
    assert.notEqual(signed[1], DEMO_ACCESS_KEY_ID, 'the second HOME with its own key');
    // Each is served its own on a hit.
    assert.equal((await a.keyrole(['process', profile])).stdout, ra.stdout);
    assert.equal((await b.keyrole(['process', profile])).stdout, rb.stdout);
    assert.equal((await signers(a)).length, 2);
    // B's cache list and clear see B's entry only: A keeps its copy and serves it.
    const ka = join(a.home, '.aws', 'keyrole');
    const before = homeKeys(ka).length;
    assert.equal(before, 1);
    const clear = await b.keyrole(['cache', 'clear']);
    assert.equal(clear.code, 0, clear.stderr);
    assert.equal(homeKeys(ka).length, 1, 'the other HOME\'s copy stays');
    assert.equal(homeKeys(join(b.home, '.aws', 'keyrole')).length, 0, 'this HOME\'s copy is gone');
    assert.equal((await a.keyrole(['process', profile])).stdout, ra.stdout);
    assert.equal((await signers(a)).length, 2);
  });

  test('regression: setup --force with a new key ends the credentials made with the old one; the next call goes to STS', async () => {
    const first = await a.keyrole(['process', profile]);
    assert.equal(first.code, 0, first.stderr);
    await a.emu.resetStats();
    const carol = await a.emu.addUser(`carol-${tag}`);
    const s = await a.setup('alice', carol.accessKeyId, carol.secretAccessKey);
    assert.equal(s.code, 0, s.stderr);
    const next = await a.keyrole(['process', profile]);
    assert.equal(next.code, 0, next.stderr);
    assert.notEqual(JSON.parse(next.stdout).AccessKeyId, JSON.parse(first.stdout).AccessKeyId);
    assert.deepEqual(await signers(a), [carol.accessKeyId], 'signed with the new key');
    assert.match(s.stdout, /^Removed 1 cached credential made with the key it replaced\.$/m);
  });
});

describe('the kernel\'s per-user key quota (a user other than root: 20,000 bytes by default)', () => {
  // root's quota is 25 MB; another local user has the kernel's default, which about fifteen
  // cache entries fill. Everything runs as that user, in a session keyring of its own, with
  // KEYROLE_KEYCHAIN=keyutils (it has no Secret Service), after other keys took the quota.
  // The built executable (and its addon) where the other user can run it: the checkout may sit
  // in a directory only its owner can enter, as a fresh clone under `mktemp -d` does in CI.
  let reachable: string | undefined;
  const otherKeyrole = (): string => {
    if (reachable) return reachable;
    const dir = tempDir('other-bin-');
    chmodSync(dir, 0o755);
    for (const name of ['keyrole', 'keyrole-keyring.linux-x64.node']) {
      const from = join(dirname(KEYROLE), name);
      if (!existsSync(from)) continue;
      copyFileSync(from, join(dir, name));
      chmodSync(join(dir, name), 0o755);
    }
    return (reachable = join(dir, 'keyrole'));
  };
  const asOther = (script: string, env: Record<string, string> = {}) => {
    const other = otherUser();
    const home = tempDir('quota-');
    chownSync(home, other.uid, other.gid);
    return run('setpriv', [`--reuid=${other.uid}`, `--regid=${other.gid}`, '--clear-groups', 'keyctl', 'session', '-', 'sh', '-c', script, otherKeyrole()],
      { env: { HOME: home, PATH: '/usr/bin:/bin', KEYROLE_KEYCHAIN: 'keyutils', ...env }, cwd: '/' });
  };
  // Other keys take the quota: big ones first, then smaller, until the kernel refuses one byte.
  const FILL = 'i=0; for n in 1500 200 20 1; do while head -c $n /dev/zero | keyctl padd user "fill$i" @s >/dev/null 2>&1; do i=$((i+1)); done; done; ';

  test('doctor says when the quota is the reason, and a store refused for quota says so in one line', async () => {
    requireTool('keyctl');
    requireTool('setpriv');
    // $0 is keyrole; the key arrives on stdin, as setup reads it.
    const r = await asOther(`${FILL}"$0" doctor --no-network; printf '%s\\n%s\\n' "$ID" "$SECRET" | "$0" setup x --no-verify; echo "setup exit $?" >&2`, { ID: DEMO_ACCESS_KEY_ID, SECRET: DEMO_SECRET_ACCESS_KEY });
    assert.match(r.stdout, /^warning +kernel +the kernel keyring's quota is (nearly )?full: \d+ of 20000 bytes and \d+ of \d+ keys in use for uid \d+ \(\/proc\/key-users\), so new sources and cache entries may not fit$/m, r.stdout + r.stderr);
    assert.match(r.stdout, /^ +fix: other programs' keys count too/m);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('keyrole:'));
    assert.deepEqual(lines.length, 1, r.stderr);
    assert.match(lines[0], /^keyrole: the kernel keyring refused to let keyrole store source "x": this user's key quota is full \(\d+ of 20000 bytes/);
    assert.match(r.stderr, /^setup exit 1$/m);
  });
});
