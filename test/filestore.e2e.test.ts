// keyrole without a desktop (issue 26): with no D-Bus session at all, keyrole keeps its keys
// in its age-encrypted file store (src/keychain/filestore.ts) and says so once; the
// passphrase comes from KEYROLE_PASSPHRASE_FILE, KEYROLE_PASSPHRASE_COMMAND or the terminal,
// once per session (the unlocked key is kept sealed in the kernel keyring); the store moves
// to a Secret Service and back; Debian's age decrypts it with the documented steps.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyroleProfile, type World } from './support/world.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';
import { KEYROLE } from './support/run.ts';
import { onPty } from './support/pty.ts';
import { requireTool } from './support/tools.ts';
import { fileStoreWorld, filesHolding, snapshot, PASSPHRASE, type FileStoreWorld } from './support/filestore.ts';
import { assertOneLine } from '../scripts/robustness-doc.ts';
import { homeKeys, keyctlWithPersistent } from './support/kernelkeys.ts';

const PROMPT = /Passphrase for keyrole's file store: /g;

describe('the file store, with no D-Bus session', () => {
  let f: FileStoreWorld;
  let w: World;
  let store: string;
  let ppFile: string;
  const assumes = async () => (await w.emu.stats()).calls.AssumeRole ?? 0;
  const kr: FileStoreWorld['kr'] = (...a) => f.kr(...a);
  const reboot = () => f.reboot();

  before(async () => {
    f = await fileStoreWorld();
    ({ w, store, ppFile } = f);
    w.writeConfig(keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin` }));
  });
  after(async () => {
    await w?.stop();
  });

  test('setup, a miss, a hit, and a hit after a simulated reboot; no plaintext secret under HOME', async () => {
    const s = await kr(['setup', 'alice'], {}, `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n`);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /^keyrole: no D-Bus session \(DBUS_SESSION_BUS_ADDRESS is unset\), so keyrole keeps its keys in its encrypted file store/m);
    assert.match(s.stderr, /created an encrypted file store/);
    assert.equal(statSync(store).mode & 0o777, 0o700);

    const miss = await kr(['process', 'prod']);
    assert.equal(miss.code, 0, miss.stderr);
    assert.equal(miss.stderr, '', 'the notice is said once, on the first run');
    assert.equal(await assumes(), 1);
    const hit = await kr(['process', 'prod'], { KEYROLE_PASSPHRASE_FILE: undefined });
    assert.equal(hit.code, 0, hit.stderr);
    assert.equal(hit.stdout, miss.stdout, 'served from the file store, unlocked for the session');
    assert.equal(await assumes(), 1);

    await reboot();
    const locked = await kr(['process', 'prod'], { KEYROLE_PASSPHRASE_FILE: undefined });
    assertOneLine(locked, /file store is locked and there is no terminal .*set KEYROLE_PASSPHRASE_FILE .* or KEYROLE_PASSPHRASE_COMMAND/);
    const after = await kr(['process', 'prod']);
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout, miss.stdout, 'the cached credentials survive the reboot in the file store');
    assert.equal(await assumes(), 1);

    const blob = JSON.parse(miss.stdout) as { SecretAccessKey: string; SessionToken: string };
    for (const secret of [DEMO_SECRET_ACCESS_KEY, blob.SecretAccessKey, blob.SessionToken, PASSPHRASE]) {
      const holding = filesHolding(w.home, secret).filter((f) => f !== ppFile);
      assert.deepEqual(holding, [], `a secret in plaintext under HOME: ${holding.join(', ')}`);
    }
    const doctor = await kr(['doctor', 'prod', '--no-network'], { KEYROLE_PASSPHRASE_FILE: undefined });
    assert.match(doctor.stdout, /^ok +keychain +keyrole's file store \(chosen by itself: no D-Bus session\) in \S+ \(age, scrypt\) is unlocked until \d{4}-\d\d-\d\dT[\d:.]+Z \(1 source\)$/m);
    await reboot();
    const lockedDoctor = await kr(['doctor', 'prod', '--no-network'], { KEYROLE_PASSPHRASE_FILE: undefined });
    assert.match(lockedDoctor.stdout, /^warning +keychain +keyrole's file store .* is locked in this session/m);
    // No file name says which profile, role or account.
    for (const f of snapshot(store).keys()) assert.doesNotMatch(f, /alice|prod|Admin|111122223333/);
  });

  test('a hit reads the entry\'s sealed kernel-keyring copy first, with no unlocked key; keyrole store lock removes the copies with the key', async () => {
    const home = join(w.home, '.aws', 'keyrole');
    assert.equal((await kr(['cache', 'clear'])).code, 0);
    const miss = await kr(['process', 'prod']);
    assert.equal(miss.code, 0, miss.stderr);
    assert.equal(homeKeys(home).length, 1, 'the entry is copied to the kernel keyring, sealed');
    // The session's unlocked key gone, the copy kept: the hit needs neither the key nor a passphrase.
    const sessionKeys = homeKeys(home, 'keyrole:filestore').map((k) => k.id);
    assert.equal(sessionKeys.length, 1);
    await keyctlWithPersistent('for id; do keyctl invalidate "0x$id"; done', sessionKeys);
    const hit = await kr(['process', 'prod'], { KEYROLE_PASSPHRASE_FILE: undefined });
    assert.equal(hit.code, 0, hit.stderr);
    assert.equal(hit.stdout, miss.stdout);
    // A lock forgets the copies too: nothing the store held is served without the passphrase.
    assert.equal((await kr(['list'])).code, 0, 'unlocked again (KEYROLE_PASSPHRASE_FILE)');
    const lock = await kr(['store', 'lock'], { KEYROLE_PASSPHRASE_FILE: undefined });
    assert.equal(lock.code, 0, lock.stderr);
    assert.deepEqual(homeKeys(home), [], 'no copy left after keyrole store lock');
    const locked = await kr(['process', 'prod'], { KEYROLE_PASSPHRASE_FILE: undefined });
    assertOneLine(locked, /file store is locked and there is no terminal/);
  });

  test('a profile cached in a file: a hit leaves the locked store alone (no passphrase asked, none needed)', async () => {
    const role = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
    w.writeConfig([
      keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: role }),
      keyroleProfile('prodfile', { keyrole_source: 'alice', keyrole_role_arn: role, keyrole_cache: 'file' }),
    ].join('\n'));
    const noPassphrase = { KEYROLE_PASSPHRASE_FILE: undefined };
    try {
      await reboot();
      const before = await assumes();
      const miss = await kr(['process', 'prodfile']);
      assert.equal(miss.code, 0, miss.stderr);
      assert.equal(await assumes(), before + 1, 'a miss fetches, the store unlocked by its passphrase for the source');
      // keyrole_cache = file in the profile, then KEYROLE_CACHE=file on a keychain-cached
      // profile of the same role (the same cache entry), each in a session where the store is locked.
      for (const [profile, env] of [['prodfile', {}], ['prod', { KEYROLE_CACHE: 'file' }]] as const) {
        await reboot();
        const hit = await kr(['process', profile], { ...env, ...noPassphrase });
        assert.equal(hit.code, 0, `${profile}: a hit from the file cache must not unlock the store: ${hit.stderr}`);
        assert.equal(hit.stdout, miss.stdout);
        assert.equal(hit.stderr, '');
        assert.equal(await assumes(), before + 1);
        // The store is still locked: what does need it says so.
        assertOneLine(await kr(['process', 'prod'], noPassphrase), /file store is locked and there is no terminal/);
      }
      // A miss of a file-cached profile still unlocks the store for its source: without a way to, it says so.
      assert.equal((await kr(['cache', 'clear', 'prodfile'])).code, 0);
      await reboot();
      assertOneLine(await kr(['process', 'prodfile'], noPassphrase), /file store is locked and there is no terminal .*set KEYROLE_PASSPHRASE_FILE/);
      const again = await kr(['process', 'prodfile']);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(await assumes(), before + 2);
    } finally {
      w.writeConfig(keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: role }));
    }
  });

  test('a wrong passphrase: one line, exit 1, no file changed', async () => {
    await reboot();
    const wrong = join(w.home, 'wrong');
    writeFileSync(wrong, 'not it\n', { mode: 0o600 });
    const before = snapshot(join(w.home, '.aws'));
    for (const args of [['list'], ['process', 'prod'], ['setup', 'bob']]) {
      const r = await kr(args, { KEYROLE_PASSPHRASE_FILE: wrong }, `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n`);
      assertOneLine(r, /the passphrase does not open keyrole's file store \(wrong passphrase\); try again; nothing was changed; if the passphrase is lost, so is the store/);
    }
    assert.deepEqual(snapshot(join(w.home, '.aws')), before);
  });

  test('KEYROLE_PASSPHRASE_COMMAND: its first line; a failing command is one line', async () => {
    await reboot();
    const ok = await kr(['list'], { KEYROLE_PASSPHRASE_FILE: undefined, KEYROLE_PASSPHRASE_COMMAND: `printf '%s\\nsecond line\\n' '${PASSPHRASE}'` });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^alice +AKIA…0001 +prod$/m);
    await reboot();
    const bad = await kr(['list'], { KEYROLE_PASSPHRASE_FILE: undefined, KEYROLE_PASSPHRASE_COMMAND: 'exit 3' });
    assertOneLine(bad, /KEYROLE_PASSPHRASE_COMMAND exited with 3/);
  });

  test('a passphrase typed once at a terminal serves the later calls of the session', async () => {
    requireTool('script');
    await reboot();
    const env = { HOME: w.home, AWS_ENDPOINT_URL_STS: w.emu.url };
    const r = await onPty(`${KEYROLE} list && ${KEYROLE} process prod && ${KEYROLE} cache list`, [[/Passphrase for keyrole's file store: /, `${PASSPHRASE}\r`]], env, 120_000);
    assert.equal(r.code, 0, r.screen);
    assert.equal(r.screen.match(PROMPT)?.length, 1, `asked once:\n${r.screen}`);
    assert.match(r.screen, /alice +AKIA…0001 +prod/);
    assert.match(r.screen, /"SessionToken"/);
    assert.doesNotMatch(r.screen, new RegExp(PASSPHRASE), 'the passphrase is not echoed');
  });

  test('Debian\'s age decrypts the store with the documented steps', async () => {
    requireTool('age');
    const id = join(w.home, 'identity.txt');
    const r = await onPty(`age -d -o ${id} ${join(store, 'store.key.age')}`, [[/Enter passphrase/, `${PASSPHRASE}\r`]], { HOME: w.home }, 120_000);
    assert.equal(r.code, 0, r.screen);
    assert.match(readFileSync(id, 'utf8'), /^AGE-SECRET-KEY-1[0-9A-Z]+$/m);
    const values = readdirSync(join(store, 'entries')).map((f) => {
      const d = w.run('age', ['-d', '-i', id, join(store, 'entries', f)]);
      return d;
    });
    const plain = (await Promise.all(values)).map((d) => { assert.equal(d.code, 0, d.stderr); return JSON.parse(d.stdout) as { service: string; account: string; value: string }; });
    const source = plain.find((e) => e.service === 'keyrole:source' && e.account === 'alice');
    assert.ok(source, 'the source is among the entries');
    assert.equal((JSON.parse(source.value) as { SecretAccessKey: string }).SecretAccessKey, DEMO_SECRET_ACCESS_KEY);
  });

  test('store move to the Secret Service and back: every entry, nothing lost', async () => {
    const before = await assumes();
    const bus = { KEYROLE_PASSPHRASE_FILE: ppFile };
    const there = await w.keyrole(['store', 'move', '--from', 'file', '--to', 'secret-service'], { env: bus });
    assert.equal(there.code, 0, there.stderr);
    assert.match(there.stdout, /^Moved [2-9] entries from file to secret-service/);
    const ssList = await w.keyrole(['list']);
    assert.match(ssList.stdout, /^alice +AKIA…0001 +prod$/m);
    assert.deepEqual(readdirSync(join(store, 'entries')), [], 'nothing left in the file store');
    const hit = await w.keyrole(['process', 'prod']);
    assert.equal(hit.code, 0, hit.stderr);
    assert.equal(await assumes(), before, 'the cache entry moved too');

    const back = await w.keyrole(['store', 'move', '--to', 'file'], { env: bus });
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /^Moved [2-9] entries from secret-service to file/);
    assert.doesNotMatch((await w.keyrole(['list'])).stdout, /^alice /m, 'the Secret Service holds nothing any more');
    const fileList = await kr(['list']);
    assert.match(fileList.stdout, /^alice +AKIA…0001 +prod$/m);
    assert.equal((await kr(['process', 'prod'])).code, 0);
    assert.equal(await assumes(), before);
  });

  test('store passphrase rewraps the store key only: the old passphrase stops working, every entry stays', async () => {
    const entries = snapshot(join(store, 'entries'));
    const next = join(w.home, 'next');
    writeFileSync(next, 'a new passphrase\n', { mode: 0o600 });
    const c = await kr(['store', 'passphrase'], { KEYROLE_NEW_PASSPHRASE_FILE: next });
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(snapshot(join(store, 'entries')), entries, 'no entry re-encrypted');
    await reboot();
    assertOneLine(await kr(['list']), /wrong passphrase/);
    const r = await kr(['list'], { KEYROLE_PASSPHRASE_FILE: next });
    assert.match(r.stdout, /^alice +AKIA…0001 +prod$/m);
    writeFileSync(ppFile, 'a new passphrase\n');
  });

  test('two processes writing at once lose nothing', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `par${i}`);
    const rs = await Promise.all(names.map((n) => kr(['setup', n, '--no-verify'], {}, `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n`)));
    for (const r of rs) assert.equal(r.code, 0, r.stderr);
    const list = await kr(['list']);
    for (const n of names) assert.match(list.stdout, new RegExp(`^${n} `, 'm'));
  });
});
