// The default keychain store on Linux keeps cache entries keyrole can renew by itself in the
// kernel keyring where this session may write to it, and everything else in the Secret
// Service (src/keychain/keychain.ts kernelTier): a hit then costs no D-Bus connection.
// Each run joins a session keyring of its own (keyctl session NAME), as a login session
// has; the addon links the keys into this user's persistent keyring, so the test removes
// what it stored whatever happens. Where the kernel refuses (a session keyring this
// process may not write to, as in containers), the Secret Service holds the entry.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { KEYROLE } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL } from './support/emulator.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;

describe('cache entries in the kernel keyring, sources and MFA sessions in the Secret Service', () => {
  let w: World;
  const tag = randomBytes(4).toString('hex');
  const ring = `keyrole-kc-${tag}`;
  const calls = async (action: string) => (await w.emu.stats()).calls[action] ?? 0;
  /** keyrole in this test's session keyring; `pre` runs first in the same session (keyctl setperm). */
  const kr = (args: string[], env: Record<string, string> = {}, pre = '') => w.run('keyctl', ['session', ring, 'sh', '-c', `${pre}exec "$0" "$@"`, KEYROLE, ...args], { env });
  /**
   * Accounts of keyrole:cache in the kernel keyring as this test's session sees them
   * (/proc/keys), less those that were there before the test: the persistent keyring is
   * shared by every process of this user, other test runs included.
   */
  let foreign = new Set<string>();
  const allKernelKeys = async () => {
    const r = await w.run('keyctl', ['session', ring, 'cat', '/proc/keys']);
    return [...r.stdout.matchAll(/ user +keyring:([0-9a-f]{16})@keyrole:cache: /g)].map((m) => m[1]);
  };
  const kernelKeys = async () => (await allKernelKeys()).filter((k) => !foreign.has(k));
  const secretServiceKeys = async () => {
    const r = await w.run(requireTool('secret-tool'), ['search', '--all', 'service', 'keyrole:cache']);
    return [...`${r.stdout}\n${r.stderr}`.matchAll(/^attribute\.username = ([0-9a-f]{16})$/gm)].map((m) => m[1]);
  };

  before(async () => {
    requireTool('keyctl');
    w = await startWorld();
    w.writeConfig([
      keyroleProfile(`plain-${tag}`, { keyrole_source: 'alice', keyrole_role_arn: ROLE }),
      keyroleProfile(`mfa-${tag}`, { keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_mfa_serial: DEMO_MFA_SERIAL }),
    ].join('\n'));
    assert.equal((await w.setup('alice')).code, 0);
  });
  beforeEach(async () => {
    await kr(['cache', 'clear']);
    foreign = new Set(await allKernelKeys());
    await w.emu.resetStats();
  });
  after(async () => {
    if (w) await kr(['cache', 'clear']);
    await w?.stop();
  });

  test('a hit is served from the kernel keyring without a D-Bus connection; the Secret Service holds no copy', async () => {
    const first = await kr(['process', `plain-${tag}`, '--debug']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await calls('AssumeRole'), 1);
    const inKernel = await kernelKeys();
    assert.equal(inKernel.length, 1, `one entry in the kernel keyring: ${inKernel.join(' ')}`);
    assert.deepEqual(await secretServiceKeys(), [], 'nothing cached in the Secret Service');

    const hit = await kr(['process', `plain-${tag}`, '--debug']);
    assert.equal(hit.code, 0, hit.stderr);
    assert.equal(hit.stdout, first.stdout, 'the same credentials');
    assert.match(hit.stderr, /cache hit for role/);
    assert.doesNotMatch(hit.stderr, /Secret Service|D-Bus/, 'no Secret Service connection on a hit');
    assert.equal(await calls('AssumeRole'), 1);

    // Another session of the same user finds it (the persistent keyring), as a second terminal would.
    const other = await w.run('keyctl', ['session', `${ring}-b`, KEYROLE, 'process', `plain-${tag}`]);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.stdout, first.stdout);
    assert.equal(await calls('AssumeRole'), 1);
  });

  test('cache list shows the entry and cache clear removes it from the kernel keyring', async () => {
    assert.equal((await kr(['process', `plain-${tag}`])).code, 0);
    const list = await kr(['cache', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^plain-${tag} +role ${ROLE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?: in [a-z0-9-]+)? +\\d+ min +keychain$`, 'm'));
    const clear = await kr(['cache', 'clear', `plain-${tag}`]);
    assert.equal(clear.code, 0, clear.stderr);
    assert.deepEqual(await kernelKeys(), []);
    assert.equal((await kr(['process', `plain-${tag}`])).code, 0);
    assert.equal(await calls('AssumeRole'), 2, 'cleared: fetched again');
  });

  test('an MFA session (only a person can renew it) stays in the Secret Service; the role on it goes to the kernel keyring', async () => {
    requireTool('oathtool');
    const code = execFileSync('oathtool', ['--totp', '-b', DEMO_MFA_SECRET], { encoding: 'utf8' }).trim();
    const r = await kr(['process', `mfa-${tag}`, '--mfa-token', code]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await calls('GetSessionToken'), 1);
    const inKernel = await kernelKeys();
    const inSecretService = await secretServiceKeys();
    assert.equal(inKernel.length, 1, 'the role entry');
    assert.equal(inSecretService.length, 1, 'the MFA session');
    assert.notEqual(inKernel[0], inSecretService[0]);
    const entry = JSON.parse((await w.run(requireTool('secret-tool'), ['lookup', 'service', 'keyrole:cache', 'username', inSecretService[0]])).stdout) as { roleArn?: string };
    assert.equal(entry.roleArn, undefined, 'the Secret Service entry is the session, not the role');
  });

  test('a session keyring that refuses writes (as in containers): the entry goes to the Secret Service and is served from there', async () => {
    // Possessor and user may do everything but write to this session's keyring.
    const refuse = 'keyctl setperm @s 0x3b3b0000 && ';
    const first = await kr(['process', `plain-${tag}`, '--debug'], {}, refuse);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /kernel keyring: cannot store .*using the Secret Service/);
    assert.equal((await secretServiceKeys()).length, 1);
    const hit = await kr(['process', `plain-${tag}`, '--debug'], {}, refuse);
    assert.equal(hit.code, 0, hit.stderr);
    assert.match(hit.stderr, /cache hit for role/);
    assert.equal(await calls('AssumeRole'), 1);
  });

  test('KEYROLE_KERNEL_CACHE=off keeps every entry in the Secret Service', async () => {
    const r = await kr(['process', `plain-${tag}`], { KEYROLE_KERNEL_CACHE: 'off' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await kernelKeys(), []);
    assert.equal((await secretServiceKeys()).length, 1);
  });

  test('the kernel keyring\'s keys are readable by their owner only (no permission for group or others)', async () => {
    assert.equal((await kr(['process', `plain-${tag}`])).code, 0);
    // /proc/keys lists the keys the reading process may view: read it in the session.
    const seen = (await w.run('keyctl', ['session', ring, 'cat', '/proc/keys'])).stdout.split('\n').find((l) => / user +keyring:[0-9a-f]{16}@keyrole:cache: /.test(l));
    assert.ok(seen, 'the entry is listed');
    const perm = parseInt(seen.trim().split(/\s+/)[4], 16);
    assert.equal(perm & 0xffff, 0, `group and others have no permission (perm ${perm.toString(16)})`);
  });
});
