// Which store keyrole uses by itself on Linux with KEYROLE_KEYCHAIN unset (issue 26;
// src/keychain/selection.ts): on a real D-Bus session where nothing owns
// org.freedesktop.secrets (and no .service file can start it), keyrole uses its encrypted
// file store and says so once, learning it from the Secret Service call itself; a Secret
// Service that appears later does not take the keys away from the file store until
// `keyrole store move`; with gnome-keyring present nothing changes, and a kernel-copy hit
// touches no D-Bus at all.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { startKeyring, tempHome } from './support/keyring.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';
import { assertOneLine } from '../scripts/robustness-doc.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const NOTICE = /^keyrole: no Secret Service on this D-Bus session \(nothing owns org\.freedesktop\.secrets\), so keyrole keeps its keys in its encrypted file store in \S+; set KEYROLE_KEYCHAIN=file to say so, or start a Secret Service and run keyrole store move --to secret-service\n/;

describe('a D-Bus session where nothing owns org.freedesktop.secrets', () => {
  let w: World;
  let store: string;
  let pp: Record<string, string>;
  const assumes = async () => (await w.emu.stats()).calls.AssumeRole ?? 0;

  before(async () => {
    // keyring: false is a real dbus-daemon with no Secret Service and no .service files.
    w = await startWorld({ keyring: false });
    store = join(w.home, '.aws', 'keyrole', 'store');
    const ppFile = join(w.home, 'passphrase');
    writeFileSync(ppFile, 'correct horse battery staple\n', { mode: 0o600 });
    pp = { KEYROLE_PASSPHRASE_FILE: ppFile };
    w.writeConfig(keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: ROLE }));
  });
  after(async () => {
    await w?.stop();
  });

  test('doctor explains the file store it would use, and leaves the notice to the command that uses it', async () => {
    const r = await w.keyrole(['doctor', '--no-network']);
    assert.match(r.stdout, /^warning +keychain +keyrole's file store \(chosen by itself: no Secret Service on the D-Bus session\) is not created yet/m);
    assert.doesNotMatch(r.stderr, /keeps its keys/);
    assert.equal(existsSync(join(store, 'auto-selected')), false, 'doctor records no choice');
  });

  test('the first call, a cache miss, learns it from its own Secret Service call and says once that keyrole uses its file store', async () => {
    const first = await w.keyrole(['process', 'prod'], { env: pp });
    assert.notEqual(first.code, 0);
    assert.equal(first.stdout, '');
    assert.match(first.stderr, NOTICE, 'the choice is said');
    const rest = first.stderr.replace(NOTICE, '');
    assert.match(rest, /^keyrole: source "alice" is not in keyrole's file store; store its keys with: keyrole setup alice\n$/);
    const again = await w.keyrole(['process', 'prod'], { env: pp });
    assertOneLine(again, /source "alice" is not in keyrole's file store/);
  });

  test('setup creates the file store; a miss and a hit are served from it; list, store status and doctor say which store and why', async () => {
    const s = await w.keyrole(['setup', 'alice', '--no-verify'], { env: pp, input: `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n` });
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /created an encrypted file store/);
    assert.doesNotMatch(s.stderr, /keeps its keys in its encrypted file store/, 'said once, on the first run');
    assert.ok(existsSync(join(store, 'store.key.age')));

    const miss = await w.keyrole(['process', 'prod']);
    assert.equal(miss.code, 0, miss.stderr);
    assert.equal(miss.stderr, '');
    assert.equal(await assumes(), 1);
    const hit = await w.keyrole(['process', 'prod']);
    assert.equal(hit.code, 0, hit.stderr);
    assert.equal(hit.stdout, miss.stdout);
    assert.equal(await assumes(), 1);

    assert.match((await w.keyrole(['list'])).stdout, /^alice +AKIA…\w{4} +prod$/m);
    const status = await w.keyrole(['store', 'status']);
    assert.match(status.stdout, /^store: file \(chosen by itself: no Secret Service on the D-Bus session, kept until keyrole store move\)$/m);
    const doctor = await w.keyrole(['doctor', 'prod', '--no-network']);
    assert.match(doctor.stdout, /^ok +keychain +keyrole's file store \(chosen by itself: no Secret Service on the D-Bus session, kept until keyrole store move\) in \S+ \(age, scrypt\) is unlocked until /m);
  });

  test('a Secret Service that appears later does not take the keys away: the file store stays until store move, and doctor says so', async () => {
    const before = await assumes();
    const ks = await startKeyring({ home: tempHome() });
    const bus = { DBUS_SESSION_BUS_ADDRESS: ks.env.DBUS_SESSION_BUS_ADDRESS };
    try {
      const hit = await w.keyrole(['process', 'prod'], { env: bus });
      assert.equal(hit.code, 0, hit.stderr);
      assert.equal(hit.stderr, '');
      assert.equal(await assumes(), before, 'served from the file store');
      const doctor = await w.keyrole(['doctor', 'prod', '--no-network'], { env: bus });
      assert.match(doctor.stdout, /^warning +keychain +keyrole's file store .* is unlocked until .*; a Secret Service answers on this D-Bus session now, and keyrole keeps using its file store so that your keys stay in one store$/m);
      assert.match(doctor.stdout, /keyrole store move --to secret-service/);

      const move = await w.keyrole(['store', 'move', '--to', 'secret-service'], { env: { ...bus, ...pp } });
      assert.equal(move.code, 0, move.stderr);
      assert.match(move.stdout, /^Moved [2-9] entries from file to secret-service/);
      assert.equal(existsSync(join(store, 'auto-selected')), false, 'the move ends the choice');
      const after = await w.keyrole(['process', 'prod'], { env: bus });
      assert.equal(after.code, 0, after.stderr);
      assert.equal(await assumes(), before, 'the cache entry moved to the Secret Service with the source');
      const ok = await w.keyrole(['doctor', 'prod', '--no-network'], { env: bus });
      assert.match(ok.stdout, /^ok +keychain +Secret Service reachable and unlocked \(1 source\), used because it answers on this D-Bus session \(KEYROLE_KEYCHAIN is unset\)$/m);
    } finally {
      await ks.stop();
    }
  });
});

describe('gnome-keyring present: the Secret Service, as before', () => {
  let w: World;
  before(async () => {
    w = await startWorld();
    w.writeConfig(keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: ROLE }));
  });
  after(async () => {
    await w?.stop();
  });

  test('setup and a miss use the Secret Service; a kernel-copy hit touches no D-Bus, so a bus without a Secret Service changes nothing', async () => {
    const s = await w.setup('alice');
    assert.equal(s.code, 0, s.stderr);
    const miss = await w.keyrole(['process', 'prod']);
    assert.equal(miss.code, 0, miss.stderr);
    for (const r of [s, miss]) assert.doesNotMatch(r.stderr, /file store/);
    const store = join(w.home, '.aws', 'keyrole', 'store');
    assert.equal(existsSync(store), false, 'no file store');
    assert.match((await w.keyrole(['doctor', 'prod', '--no-network'])).stdout, /^ok +keychain +Secret Service reachable and unlocked \(1 source\), used because it answers/m);

    // The hit reads the kernel copy only: on a bus where nobody owns the Secret Service's
    // name, a call that asked the bus would switch to the file store and say so.
    const bare = await startKeyring({ daemon: false });
    try {
      const hit = await w.keyrole(['process', 'prod'], { env: { DBUS_SESSION_BUS_ADDRESS: bare.env.DBUS_SESSION_BUS_ADDRESS } });
      assert.equal(hit.code, 0, hit.stderr);
      assert.equal(hit.stderr, '');
      assert.equal(hit.stdout, miss.stdout);
      assert.equal(existsSync(store), false, 'nothing chosen, nothing recorded');
    } finally {
      await bare.stop();
    }
  });
});
