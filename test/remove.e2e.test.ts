// `keyrole remove <source>` means removed (issue 18): the source's keys, and every cached
// credential made with them (its session, its MFA session, the roles and chains above),
// go; another source's cache stays; the profiles that still name it are listed.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL } from './support/emulator.ts';
import { requireTool } from './support/tools.ts';

const ROLE = (name: string) => `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/${name}`;

describe('keyrole remove ends the source\'s cached credentials', () => {
  let w: World;
  before(async () => {
    requireTool('oathtool');
    w = await startWorld();
    const bob = await w.emu.control<{ accessKeyId: string; secretAccessKey: string }>('POST', 'users', { userName: 'bob' });
    w.writeConfig([
      keyroleProfile('plain', { keyrole_source: 'alice' }),
      keyroleProfile('role', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('chained', { keyrole_source_profile: 'role', keyrole_role_arn: ROLE('ReadOnly') }),
      keyroleProfile('mfa-role', { keyrole_source: 'alice', keyrole_mfa_serial: DEMO_MFA_SERIAL, keyrole_mfa_process: `oathtool --totp -b ${DEMO_MFA_SECRET}`, keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('other', { keyrole_source: 'bob', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('filecached', { keyrole_source: 'alice', keyrole_role_arn: ROLE('ReadOnly'), keyrole_cache: 'file' }),
    ].join('\n'));
    assert.equal((await w.setup('alice')).code, 0);
    assert.equal((await w.setup('bob', bob.accessKeyId, bob.secretAccessKey)).code, 0);
  });
  after(() => w?.stop());

  test('regression: remove <source> also clears its sessions, MFA session and roles, in both stores, and names the profiles still using it', async () => {
    for (const p of ['plain', 'role', 'chained', 'mfa-role', 'other', 'filecached']) {
      const r = await w.keyrole(['process', p]);
      assert.equal(r.code, 0, `${p}: ${r.stderr}`);
    }
    const before = await w.keyrole(['cache', 'list']);
    assert.match(before.stdout, /the MFA session of source "alice"/);
    const r = await w.keyrole(['remove', 'alice', '--force']);
    assert.equal(r.code, 0, r.stderr);
    // plain, role, chained, the MFA session, mfa-role's role, filecached's role.
    assert.match(r.stdout, /^Removed source "alice" and 6 cached credentials made with it/m);
    assert.match(r.stdout, /Profiles that still use it \(they fail until keyrole setup alice\): chained, filecached, mfa-role, plain, role/);
    const after = await w.keyrole(['cache', 'list']);
    assert.equal(after.code, 0, after.stderr);
    const rows = after.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 1, after.stdout);
    assert.match(rows[0], /^other /);
    const p = await w.keyrole(['process', 'role']);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /source "alice" is not in/);
  });
});
