// Keychain entries keyrole did not write, planted in the real Secret Service with
// secret-tool: a source that is not keyrole's is reported and never used (and never
// deleted); a cache entry that is not keyrole's is ignored and replaced.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';
import { baseEnv } from './support/run.ts';
import { dropHomeKeys } from './support/kernelkeys.ts';
import { requireTool } from './support/tools.ts';
import { Recorder, assertOneLine, normalise } from '../scripts/robustness-doc.ts';
import { handMade, startFakeBus, type Answer, type FakeBus } from './support/fakebus.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const rec = new Recorder('keychain', 'test/robustness.keychain.test.ts');

describe('robustness: keychain payloads', () => {
  let w: World;
  const secretTool = (args: string[], input?: string | Buffer) => execFileSync(requireTool('secret-tool'), args, { env: baseEnv(w.env), input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  /** Replaces the item keyrole reads (same attributes: service and username). */
  const plant = (service: string, account: string, value: string | Buffer) => secretTool(['store', '--label', 'planted', 'service', service, 'username', account], value);
  const stored = (service: string, account: string) => secretTool(['lookup', 'service', service, 'username', account]);
  /** secret-tool search prints the secrets on stdout and the attributes on stderr. */
  const search = (attrs: string[]) => {
    const r = spawnSync(requireTool('secret-tool'), ['search', '--all', ...attrs], { env: baseEnv(w.env), encoding: 'utf8' });
    return `${r.stdout}\n${r.stderr}`;
  };
  const items = (service: string, account: string) => (search(['service', service, 'username', account]).match(/^\[\//gm) ?? []).length;

  before(async () => {
    w = await startWorld();
    w.writeConfig(keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: ROLE }));
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  const proc = (args: string[] = []) => w.keyrole(['process', 'prod', ...args], { env: { KEYROLE_NTP: 'off' } });
  const good = (fields: Record<string, unknown> = {}) => JSON.stringify({ keyrole: 1, kind: 'source', AccessKeyId: DEMO_ACCESS_KEY_ID, SecretAccessKey: DEMO_SECRET_ACCESS_KEY, StoredAt: '2026-01-01T00:00:00.000Z', ...fields });

  /** A planted source that must be reported, and left where it is. */
  function reported(name: string, what: string, value: string | Buffer, pattern: RegExp) {
    test(name, async () => {
      plant('keyrole:source', 'alice', value);
      assert.equal(items('keyrole:source', 'alice'), 1);
      const r = await proc(['--cache', 'none']);
      assertOneLine(r, pattern);
      assert.equal(items('keyrole:source', 'alice'), 1, 'the entry is still there: keyrole never deletes what it cannot read');
      rec.add(name, what, 'reported in one line, not used, not deleted', `exit ${r.code}: ${normalise(r.stderr, [w.home])}`);
    });
  }

  const corrupt = /the keychain entry for source "alice" is not in keyrole's format \(edited by hand or written by another tool\); store the keys again with: keyrole setup alice --force/;

  reported('a source that is not JSON', 'the bare secret `hunter2`', 'hunter2', corrupt);
  reported('a truncated source', 'keyrole\'s JSON cut in half', good().slice(0, 60), corrupt);
  reported('an empty source', 'an empty secret', '', corrupt);
  reported('a source of another kind', 'a keyrole cache entry stored as a source', good({ kind: 'cache' }), corrupt);
  reported('a source edited by hand: a bad key id', 'AccessKeyId `akia…` in lower case', good({ AccessKeyId: DEMO_ACCESS_KEY_ID.toLowerCase() }), corrupt);
  reported('a source edited by hand: a short secret', 'SecretAccessKey of 39 characters', good({ SecretAccessKey: DEMO_SECRET_ACCESS_KEY.slice(1) }), corrupt);
  reported('a source edited by hand: a temporary key', 'an ASIA… session key stored as the long-term key', good({ AccessKeyId: 'ASIAKEYROLEDEMO00001' }), corrupt);
  reported('another tool\'s format', 'aws-vault\'s JSON (`AccessKeyID`, `SessionToken`, `ProviderName`)', JSON.stringify({ AccessKeyID: DEMO_ACCESS_KEY_ID, SecretAccessKey: DEMO_SECRET_ACCESS_KEY, SessionToken: '', ProviderName: 'StaticProvider' }), corrupt);
  reported('a JSON value that is not an object', '`null`', 'null', corrupt);
  reported('a source from a future format', '`{"keyrole":2,…}`', good({ keyrole: 2 }), /the keychain entry for source "alice" was written by a newer keyrole; upgrade keyrole, or store the keys again with keyrole setup --force/);
  reported('a large source', '60 KB of `x`', 'x'.repeat(60_000), corrupt);

  test('a source with a field keyrole does not know is still read', async () => {
    plant('keyrole:source', 'alice', good({ Comment: 'added by a newer keyrole', Rotation: { due: '2027-01-01' } }));
    const r = await proc(['--cache', 'none']);
    assert.equal(r.code, 0, r.stderr);
    rec.add('a source with a field keyrole does not know is still read', 'extra fields next to keyrole\'s own (a newer 1.x keyrole)', 'read: the fields keyrole knows are complete', 'exit 0: credentials on stdout');
  });

  test('a source edited by hand to a wrong secret of the right shape', async () => {
    plant('keyrole:source', 'alice', good({ SecretAccessKey: 'z'.repeat(40) }));
    const r = await proc(['--cache', 'none']);
    assertOneLine(r, /STS rejected the signature: the stored secret access key does not belong to the access key id/);
    assert.equal(stored('keyrole:source', 'alice'), good({ SecretAccessKey: 'z'.repeat(40) }), 'left as it was');
    rec.add('a source edited by hand to a wrong secret of the right shape', '40 characters, the wrong ones', 'STS refuses it: one line naming the fix', `exit ${r.code}: ${normalise(r.stderr, [w.home])}`);
  });

  test('a second entry for the same source written by another tool', async () => {
    plant('keyrole:source', 'alice', good());
    secretTool(['store', '--label', 'other tool', 'service', 'keyrole:source', 'username', 'alice', 'application', 'other-tool'], 'something else');
    try {
      const r = await proc(['--cache', 'none']);
      assertOneLine(r, /Secret Service keychain holds 2 entries where keyrole expects one, so it cannot read source "alice" \(another tool stored one under the same name\); delete the extra entries/);
      rec.add('a second entry for the same source written by another tool', 'an item with the same service and user plus an extra attribute', 'reported in one line, neither entry used', `exit ${r.code}: ${normalise(r.stderr, [w.home]).replace(/login\/\d+/g, 'login/N')}`);
    } finally {
      secretTool(['clear', 'service', 'keyrole:source', 'username', 'alice', 'application', 'other-tool']);
      plant('keyrole:source', 'alice', good());
    }
  });

  /** A planted cache entry: ignored (noted in --debug), replaced by a good one. */
  function replaced(name: string, what: string, make: (real: Record<string, unknown>) => string) {
    test(name, async () => {
      plant('keyrole:source', 'alice', good());
      await w.keyrole(['cache', 'clear']);
      const first = await proc();
      assert.equal(first.code, 0, first.stderr);
      const accounts = search(['service', 'keyrole:cache']).match(/attribute\.username = (\w+)/);
      assert.ok(accounts, 'keyrole stored a cache entry');
      const key = accounts[1];
      const real = JSON.parse(stored('keyrole:cache', key)) as Record<string, unknown>;
      plant('keyrole:cache', key, make(real));
      // The Secret Service's entry is read where the kernel keyring holds no copy of it (after
      // a reboot; the copy, read first, is test/kernel-cache.e2e's).
      await dropHomeKeys(join(w.home, '.aws', 'keyrole'));
      const r = await proc(['--debug']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /is corrupt or foreign; it will be replaced|written for other parameters/);
      const after = JSON.parse(stored('keyrole:cache', key)) as Record<string, unknown>;
      assert.equal(after.kind, 'cache');
      assert.notEqual(after.AccessKeyId, real.AccessKeyId, 'fresh credentials replaced the planted entry');
      assert.equal((JSON.parse(r.stdout) as { AccessKeyId: string }).AccessKeyId, after.AccessKeyId);
      rec.add(name, what, 'ignored (noted with --debug) and replaced by fresh credentials', 'exit 0: new credentials on stdout and in the keychain');
    });
  }

  replaced('a cache entry that is not JSON', 'garbage in the cache item', () => 'garbage');
  replaced('a cache entry from another tool', 'the AWS CLI\'s own cache JSON', (real) => JSON.stringify({ Credentials: { AccessKeyId: real.AccessKeyId, SecretAccessKey: real.SecretAccessKey, SessionToken: real.SessionToken, Expiration: real.Expiration } }));
  replaced('a cache entry for other parameters', 'a valid entry whose parameters are another role\'s', (real) => JSON.stringify({ ...real, params: '[["roleArn","arn:aws:iam::111122223333:role/Other"]]' }));
  replaced('a cache entry with an impossible clock offset', '`ClockOffsetMs: -1e20` (crashed keyrole before this suite)', (real) => JSON.stringify({ ...real, ClockOffsetMs: -1e20 }));
  replaced('a cache entry with a control character in the token', 'a NUL inside SessionToken', (real) => JSON.stringify({ ...real, SessionToken: `${String(real.SessionToken)}\u0000x` }));
  replaced('a cache entry expiring in year 275760', '`Expiration: "+275760-09-13T00:00:00.000Z"`', (real) => JSON.stringify({ ...real, Expiration: '+275760-09-13T00:00:00.000Z' }));

  rec.docTest(20);
});

// ---- a hostile bus ----

const busRec = new Recorder('bus', 'test/robustness.keychain.test.ts');

describe('robustness: a hostile bus', () => {
  let w: World;
  before(async () => {
    // No Secret Service: the fake bus below is the only one keyrole can reach.
    w = await startWorld({ keyring: false });
    w.writeConfig(keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: ROLE }));
  });
  after(() => w?.stop());

  /** Runs keyrole against a fake bus that answers every method call with `answer` (or answers AUTH with `auth`). */
  async function against(answer: Answer, args: string[], auth?: Buffer) {
    const bus: FakeBus = await startFakeBus(answer, auth);
    try {
      const r = await w.keyrole(args, { env: { DBUS_SESSION_BUS_ADDRESS: bus.address, KEYROLE_NTP: 'off' }, timeoutMs: 120_000 });
      return { r, calls: bus.calls };
    } finally {
      await bus.close();
    }
  }

  test('regression (4 GB, then out of memory): an array of empty structs', async () => {
    // Array length 8 (inside the message), padding to 8, then 8 bytes of nothing: the old
    // reader read empty structs from them forever.
    const { r } = await against((c) => handMade('a()', Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), c.serial), ['process', 'prod']);
    assertOneLine(r, /the D-Bus session bus is not usable \(malformed D-Bus message: empty struct in "a\(\)"\); check that DBUS_SESSION_BUS_ADDRESS points at your own session bus/);
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
    busRec.add('regression (4 GB, then out of memory): an array of empty structs', 'every call answered with `a()`: an array of 8 bytes of empty structs', 'refused at the signature, at once', `exit ${r.code} after ${r.ms < 5000 ? 'under 5 s' : `${Math.round(r.ms / 1000)} s`}: ${normalise(r.stderr, [w.home])}`);
  });

  test('a message larger than keyrole reads', async () => {
    const huge = handMade('ay', Buffer.alloc(8)).subarray(0, 16);
    huge.writeUInt32LE(64 * 1024 * 1024, 4);
    const { r } = await against(() => huge, ['process', 'prod']);
    assertOneLine(r, /keyrole reads at most 4194304\)\); check that DBUS_SESSION_BUS_ADDRESS/);
    busRec.add('a message larger than keyrole reads', 'a header announcing a 64 MiB body, then nothing', 'refused from the 16-byte header, without waiting for the body', `exit ${r.code}: ${normalise(r.stderr, [w.home])}`);
  });

  test('an answer of the wrong type', async () => {
    const { r } = await against((c) => handMade('u', Buffer.from([7, 0, 0, 0]), c.serial), ['process', 'prod']);
    assertOneLine(r, /an answer of type "u" where "s" was due/);
    busRec.add('an answer of the wrong type', 'every call answered with a number', 'refused: no reply is used unless its signature is the one the call expects', `exit ${r.code}: ${normalise(r.stderr, [w.home])}`);
  });

  test('an authentication answer that never ends its line', async () => {
    const { r } = await against(() => undefined, ['process', 'prod'], Buffer.alloc(64 * 1024, 'O'));
    assertOneLine(r, /the D-Bus peer's authentication answer is not a line of at most 1024 bytes/);
    busRec.add('an authentication answer that never ends its line', '64 KiB of `O` and no line end in answer to AUTH', 'refused after 1 KiB, at once', `exit ${r.code}: ${normalise(r.stderr, [w.home])}`);
  });

  test('a refusal that carries escape sequences', async () => {
    const { r } = await against(() => undefined, ['process', 'prod'], Buffer.from('\x1b]0;owned\x07\x1b[2JREJECTED EXTERNAL\r\n'));
    const line = assertOneLine(r, /the D-Bus daemon refused authentication \(/);
    assert.ok(![...line].some((c) => c < ' ' || c === '\x7f'), `no control character reaches the terminal: ${JSON.stringify(line)}`);
    busRec.add('a refusal that carries escape sequences', 'an OSC title change and a screen clear before `REJECTED`', 'one line, the escape sequences removed', `exit ${r.code}: ${normalise(r.stderr, [w.home])}`);
  });

  test('regression (over 100 s): a bus that authenticates and then says nothing, on the hot path', async () => {
    const { r, calls } = await against(() => undefined, ['process', 'prod']);
    assertOneLine(r, /the Secret Service did not answer: the D-Bus session bus did not answer Hello within 5 s; check that gnome-keyring/);
    assert.ok(calls.includes('Hello'), 'keyrole got as far as the bus');
    assert.ok(r.ms < 30_000, `took ${r.ms} ms`);
    busRec.add('regression (over 100 s): a bus that authenticates and then says nothing, on the hot path', '`keyrole process`: OK to AUTH, then silence', 'fails after its 5 s bound, without asking the addon', `exit ${r.code}: ${normalise(r.stderr, [w.home])}`);
  });

  test('regression (over 100 s): a bus that authenticates and then says nothing, to the keychain addon', async () => {
    const { r, calls } = await against(() => undefined, ['list']);
    assertOneLine(r, /the Secret Service did not answer within 30 s, so keyrole cannot list sources; check that gnome-keyring/);
    assert.ok(calls.includes('Hello'), 'the addon got as far as the bus');
    assert.ok(r.ms >= 29_000 && r.ms < 90_000, `took ${r.ms} ms`);
    busRec.add('regression (over 100 s): a bus that authenticates and then says nothing, to the keychain addon', '`keyrole list` (the addon\'s synchronous calls): OK to AUTH, then silence', 'the watchdog thread ends keyrole after 30 s', `exit ${r.code ?? r.signal}: ${normalise(r.stderr, [w.home])}`);
  });

  busRec.docTest(7);
});
