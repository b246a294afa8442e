// The default keychain store on Linux copies cache entries keyrole can renew by itself to
// the kernel keyring where this session may write to it, and reads there first; the Secret
// Service holds every entry (src/keychain/keychain.ts kernelTier). A hit then costs no
// D-Bus connection.
// Every keyrole here runs in a new anonymous session keyring (keyctl session -), as a new
// login would; the addon links the keys into this user's persistent keyring, which they
// all share (and other runs too), so the test compares against what was there before and
// removes what it stored whatever happens. Where the kernel refuses (a session keyring the
// process may not write to), the Secret Service answers.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { KEYROLE } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL } from './support/emulator.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;

describe('cache entries copied to the kernel keyring and read there first; MFA sessions only in the Secret Service', () => {
  let w: World;
  const tag = randomBytes(4).toString('hex');
  const calls = async (action: string) => (await w.emu.stats()).calls[action] ?? 0;
  /** keyrole in a new anonymous session keyring, copies on; `pre` runs first in the same session (keyctl setperm). */
  // The copies on (the test support turns them off for every other test: test/support/run.ts).
  const kr = (args: string[], env: Record<string, string> = {}, pre = '') => w.run('keyctl', ['session', '-', 'sh', '-c', `${pre}exec "$0" "$@"`, KEYROLE, ...args], { env: { KEYROLE_KERNEL_CACHE: 'on', ...env } });
  /**
   * Accounts of keyrole:cache in the kernel keyring written for this test's profiles. The
   * persistent keyring is this user's, shared with every other run on the machine (which
   * may be writing at the same time), so each key's own entry says whose it is.
   */
  const kernelKeys = async () => {
    const listed = [...(await w.run('cat', ['/proc/keys'])).stdout.matchAll(/^([0-9a-f]+) .* user +keyring:([0-9a-f]{16})@keyrole:cache: /gm)];
    const mine: string[] = [];
    for (const [, id, account] of listed) {
      // Read in a session that holds the persistent keyring, as keyrole reads it.
      const r = await w.run('keyctl', ['session', '-', 'sh', '-c', 'keyctl get_persistent @s >/dev/null && keyctl pipe "0x$0"', id]);
      try {
        const profile = (JSON.parse(r.stdout) as { profile?: string }).profile ?? '';
        if (profile.endsWith(`-${tag}`)) mine.push(account);
      } catch { /* invalidated meanwhile, or not keyrole's */ }
    }
    return mine.sort();
  };
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
    await w.emu.resetStats();
  });
  after(async () => {
    if (w) await kr(['cache', 'clear']);
    await w?.stop();
  });

  test('a hit is served from the kernel keyring without a D-Bus connection; the Secret Service holds the entry too', async () => {
    const first = await kr(['process', `plain-${tag}`, '--debug']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await calls('AssumeRole'), 1);
    const inKernel = await kernelKeys();
    assert.equal(inKernel.length, 1, `one entry in the kernel keyring: ${inKernel.join(' ')}`);
    assert.deepEqual(await secretServiceKeys(), inKernel, 'the Secret Service holds the same entry (the store of record)');

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

  test('regression (bench: 64 cold calls after cache clear made no STS call): cache clear reaches the copies with KEYROLE_KERNEL_CACHE=off', async () => {
    assert.equal((await kr(['process', `plain-${tag}`])).code, 0);
    assert.equal((await kernelKeys()).length, 1);
    const clear = await kr(['cache', 'clear'], { KEYROLE_KERNEL_CACHE: 'off' });
    assert.equal(clear.code, 0, clear.stderr);
    assert.deepEqual(await kernelKeys(), [], 'no copy left to be read once the copies are on again');
    assert.equal((await kr(['process', `plain-${tag}`])).code, 0);
    assert.equal(await calls('AssumeRole'), 2, 'cleared: fetched again');
  });

  test('an MFA session (only a person can renew it) is not copied to the kernel keyring; the role on it is', async () => {
    requireTool('oathtool');
    const code = execFileSync('oathtool', ['--totp', '-b', DEMO_MFA_SECRET], { encoding: 'utf8' }).trim();
    const r = await kr(['process', `mfa-${tag}`, '--mfa-token', code]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await calls('GetSessionToken'), 1);
    const inKernel = await kernelKeys();
    const inSecretService = await secretServiceKeys();
    assert.equal(inKernel.length, 1, `the role entry: ${inKernel.join(' ')}; Secret Service: ${inSecretService.join(' ')}`);
    assert.equal(inSecretService.length, 2, 'the role and the MFA session');
    const session = inSecretService.filter((k) => k !== inKernel[0]);
    assert.equal(session.length, 1);
    const entry = JSON.parse((await w.run(requireTool('secret-tool'), ['lookup', 'service', 'keyrole:cache', 'username', session[0]])).stdout) as { roleArn?: string };
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
    assert.deepEqual(await kernelKeys(), []);
    assert.equal((await secretServiceKeys()).length, 1);
  });

  test('the kernel keyring\'s keys are readable by their owner only (no permission for group or others)', async () => {
    assert.equal((await kr(['process', `plain-${tag}`])).code, 0);
    // /proc/keys: the permission of one of this test's keys.
    const mine = await kernelKeys();
    const seen = (await w.run('cat', ['/proc/keys'])).stdout.split('\n').find((l) => mine.some((k) => l.includes(`keyring:${k}@keyrole:cache: `)));
    assert.ok(seen, 'the entry is listed');
    const perm = parseInt(seen.trim().split(/\s+/)[4], 16);
    assert.equal(perm & 0xffff, 0, `group and others have no permission (perm ${perm.toString(16)})`);
  });
});
