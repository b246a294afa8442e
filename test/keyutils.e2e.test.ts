// Every command in every keychain mode (issue 18): with KEYROLE_KEYCHAIN=keyutils, list,
// cache list, doctor and remove look in the kernel keyring, where setup and process put
// the keys (they used to search the Secret Service: remove said "not in the keychain"
// while the secret stayed in the kernel keyring). Each run joins one named session
// keyring of this test (keyctl session NAME), and the test removes what it stored.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { KEYROLE } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';

describe('KEYROLE_KEYCHAIN=keyutils: every command looks in the kernel keyring', () => {
  let w: World;
  const tag = randomBytes(4).toString('hex');
  const source = `ku-${tag}`;
  const ring = `keyrole-test-${tag}`;
  // The kernel keyring outlives the test (the addon links keys into the user's persistent
  // keyring): names of this run only, and removed at the end whatever happened.
  const profile = `kp-${tag}`;
  const kr = (args: string[], input?: string) => w.run('keyctl', ['session', ring, KEYROLE, ...args], { env: { KEYROLE_KEYCHAIN: 'keyutils', DBUS_SESSION_BUS_ADDRESS: undefined }, input });

  before(async () => {
    requireTool('keyctl');
    w = await startWorld({ keyring: false });
    w.writeConfig(keyroleProfile(profile, { keyrole_source: source, keyrole_role_arn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin` }));
  });
  after(async () => {
    await kr(['cache', 'clear', profile, '--all-layers']);
    await kr(['remove', source, '--force']);
    await w?.stop();
  });

  test('regression: setup, process, list, cache list, doctor and remove agree on the kernel keyring', async () => {
    const s = await kr(['setup', source], `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n`);
    assert.equal(s.code, 0, s.stderr);
    // The kernel keyring is memory: whoever chooses it is told, where the key is stored.
    assert.match(s.stderr, /^keyrole: KEYROLE_KEYCHAIN=keyutils keeps long-term keys in the kernel keyring, in memory only: they are gone at reboot/m);
    const p = await kr(['process', profile]);
    assert.equal(p.code, 0, p.stderr);

    const list = await kr(['list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${source} +AKIA…0001 +${profile}$`, 'm'));
    const cache = await kr(['cache', 'list']);
    assert.equal(cache.code, 0, cache.stderr);
    // The kernel keyring is this user's, shared with other runs: where another entry differs
    // from this one only by its region, cache list names the region.
    assert.match(cache.stdout, new RegExp(`^${profile} +role arn:aws:iam::111122223333:role/Admin(?: in [a-z0-9-]+)? +\\d+ min +keychain$`, 'm'));
    const doctor = await kr(['doctor', profile, '--no-network']);
    assert.match(doctor.stdout, /^ok +keychain +kernel keyring reachable and unlocked/m);
    assert.match(doctor.stdout, new RegExp(`^ok +source +source "${source}" is in the keychain`, 'm'));

    const r = await kr(['remove', source, '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Removed source "${source}" and 1 cached credential made with it`, 'm'));
    const after = await kr(['process', profile]);
    assert.equal(after.code, 1, 'nothing cached or stored is left to answer with');
    assert.match(after.stderr, new RegExp(`source "${source}" is not in the kernel keyring`));
    assert.doesNotMatch((await kr(['list'])).stdout, new RegExp(`^${source} `, 'm'));
    assert.doesNotMatch((await kr(['cache', 'list'])).stdout, new RegExp(`^${profile} `, 'm'));
  });

  test('import into the kernel keyring says that the keys it moves are gone at reboot', async () => {
    const moved = `ki-${tag}`;
    writeFileSync(join(w.home, '.aws', 'credentials'), `[${moved}]\naws_access_key_id = ${DEMO_ACCESS_KEY_ID}\naws_secret_access_key = ${DEMO_SECRET_ACCESS_KEY}\n`, { mode: 0o600 });
    try {
      const r = await kr(['import', '--yes']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^keyrole: KEYROLE_KEYCHAIN=keyutils keeps long-term keys in the kernel keyring, in memory only: they are gone at reboot/m);
      assert.match((await kr(['list'])).stdout, new RegExp(`^${moved} +AKIA…0001`, 'm'));
    } finally {
      await kr(['remove', moved, '--force']);
    }
  });
});
