// The keychain's rules without a keychain: key shapes, the source codec, error classification,
// and which store keyrole chooses by itself (src/keychain/selection.ts).

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSource, encodeSource, keyShapeProblem } from '../../src/keychain/sourcekeys.ts';
import { keychainError } from '../../src/keychain/failure.ts';
import { autoReason, autoReasonWords, chooseFileStore, forgetAutoChoice, mayChooseFileStore, storeName } from '../../src/keychain/selection.ts';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEntry } from '../../src/credentials/cache.ts';
import { KeyroleError } from '../../src/util/errors.ts';

const ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('keyShapeProblem', () => {
  test('a long-term AKIA key with a 40-character secret is fine', () => {
    assert.equal(keyShapeProblem(ID, SECRET), undefined);
    assert.equal(keyShapeProblem('AKIA0123456789ABCDEF', 'a'.repeat(20) + '/+' + 'Z9'.repeat(9)), undefined);
  });

  test('an ASIA key is called a temporary key', () => {
    const p = keyShapeProblem('ASIAIOSFODNN7EXAMPLE', SECRET);
    assert.match(p ?? '', /temporary key/);
    assert.match(p ?? '', /ASIA/);
  });

  for (const [what, id] of [
    ['lower case', ID.toLowerCase()],
    ['lower-case tail', 'AKIAiosfodnn7example'],
    ['too short', ID.slice(0, 19)],
    ['too long', `${ID}A`],
    ['empty', ''],
    ['padded', ` ${ID}`],
    ['another prefix (AIDA, a user id)', 'AIDAIOSFODNN7EXAMPLE'],
  ] as const) {
    test(`access key id ${what} is refused`, () => {
      assert.match(keyShapeProblem(id, SECRET) ?? '', /access key id is not AKIA/);
    });
  }

  for (const [what, secret] of [
    ['39 characters', SECRET.slice(0, 39)],
    ['41 characters', `${SECRET}A`],
    ['a space', `${SECRET.slice(0, 39)} `],
    ['a quote', `"${SECRET.slice(1)}`],
    ['a dash', `${SECRET.slice(0, 39)}-`],
    ['an equals sign', `${SECRET.slice(0, 39)}=`],
    ['non-ASCII', `${SECRET.slice(0, 39)}é`],
    ['empty', ''],
  ] as const) {
    test(`secret with ${what} is refused`, () => {
      assert.match(keyShapeProblem(ID, secret) ?? '', /secret access key is not 40 characters/);
    });
  }

  test('never quotes the secret back', () => {
    const bad = `${SECRET.slice(0, 39)}!`;
    assert.ok(!(keyShapeProblem(ID, bad) ?? '').includes(bad));
  });
});

describe('encodeSource / decodeSource', () => {
  test('round trip', () => {
    const keys = { accessKeyId: ID, secretAccessKey: SECRET, storedAt: '2030-01-01T00:00:00.000Z' };
    assert.deepEqual(decodeSource(encodeSource(keys)), keys);
  });

  test('round trip without storedAt', () => {
    assert.deepEqual(decodeSource(encodeSource({ accessKeyId: ID, secretAccessKey: SECRET })), { accessKeyId: ID, secretAccessKey: SECRET, storedAt: undefined });
  });

  const good = JSON.parse(encodeSource({ accessKeyId: ID, secretAccessKey: SECRET })) as Record<string, unknown>;
  const foreign: [string, string][] = [
    ['empty', ''],
    ['not JSON', 'hunter2'],
    ['a bare secret (another tool)', SECRET],
    ['JSON null', 'null'],
    ['JSON number', '1'],
    ['JSON array', '[]'],
    ['aws-vault style JSON', JSON.stringify({ AccessKeyID: ID, SecretAccessKey: SECRET })],
    ['a keyrole cache entry', encodeEntry({ params: '[]', source: 'a', credentials: { accessKeyId: ID, secretAccessKey: SECRET, sessionToken: 't', expiration: new Date(0) }, clockOffsetMs: 0, storedAt: new Date(0) })],
    ['wrong version', JSON.stringify({ ...good, keyrole: 2 })],
    ['wrong kind', JSON.stringify({ ...good, kind: 'cache' })],
    ['no secret', JSON.stringify({ ...good, SecretAccessKey: undefined })],
    ['numeric key id', JSON.stringify({ ...good, AccessKeyId: 42 })],
    ['a temporary key', JSON.stringify({ ...good, AccessKeyId: 'ASIAIOSFODNN7EXAMPLE' })],
    ['a malformed secret', JSON.stringify({ ...good, SecretAccessKey: 'short' })],
    ['truncated', encodeSource({ accessKeyId: ID, secretAccessKey: SECRET }).slice(0, -3)],
  ];
  for (const [what, raw] of foreign) {
    test(`rejects ${what}`, () => assert.equal(decodeSource(raw), undefined));
  }

  test('a non-string StoredAt is dropped', () => {
    assert.equal(decodeSource(JSON.stringify({ ...good, StoredAt: 5 }))?.storedAt, undefined);
  });
});

describe('keychainError', () => {
  const classify = (msg: string, env: Record<string, string | undefined> = {}) =>
    withEnv({ KEYROLE_KEYCHAIN: 'secret-service', DBUS_SESSION_BUS_ADDRESS: undefined, ...env }, () => keychainError(new Error(msg), 'read source "alice"'));

  test('a locked Secret Service collection is KeychainLocked', () => {
    const e = classify('zbus error: org.freedesktop.Secret.Error.IsLocked: Cannot get secret of a locked object');
    assert.ok(e instanceof KeyroleError);
    assert.equal(e.code, 'KeychainLocked');
    assert.match(e.message, /is locked, so keyrole cannot read source "alice"/);
    assert.match(e.fix ?? '', /unlock/);
  });

  test('a dismissed unlock prompt is KeychainLocked too', () => {
    assert.equal(classify('Platform secure storage failure: the prompt was dismissed').code, 'KeychainLocked');
  });

  test('no D-Bus session is NoSecretService, and says DBUS_SESSION_BUS_ADDRESS is unset', () => {
    const msg = 'Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead';
    const e = classify(msg);
    assert.equal(e.code, 'NoSecretService');
    assert.match(e.message, /DBUS_SESSION_BUS_ADDRESS is unset/);
    assert.match(e.fix ?? '', /KEYROLE_KEYCHAIN=file to use keyrole's encrypted file store/);
  });

  test('a D-Bus session without a Secret Service is NoSecretService, and says no one answers', () => {
    const e = classify('Platform failure: DBus error: The name org.freedesktop.secrets was not provided by any .service files', { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/0/bus' });
    assert.equal(e.code, 'NoSecretService');
    assert.match(e.message, /no Secret Service answers on this D-Bus session/);
  });

  test('anything else is KeychainError and carries the cause', () => {
    const e = classify('Attribute error: something unexpected');
    assert.equal(e.code, 'KeychainError');
    assert.match(e.message, /Secret Service keychain failed when keyrole tried to read source "alice": Attribute error: something unexpected/);
  });

  test('names the kernel keyring when KEYROLE_KEYCHAIN=keyutils', () => {
    const e = withEnv({ KEYROLE_KEYCHAIN: 'keyutils' }, () => keychainError(new Error('Permission denied'), 'list sources'));
    assert.equal(e.code, 'KeychainError');
    assert.match(e.message, /kernel keyring \(keyutils\)/);
  });

  test('a multi-line cause or a non-Error value still gives one line', () => {
    for (const cause of [new Error('first\nsecond\r\nthird'), 'a string\nerror', 42, undefined, null]) {
      const e = withEnv({ KEYROLE_KEYCHAIN: undefined }, () => keychainError(cause, 'list sources'));
      assert.match(e.line(), /^keyrole: [^\r\n]+$/);
    }
  });

  test('storeName: secret-service by default on Linux, keyutils on request, anything else refused', () => {
    assert.equal(withEnv({ KEYROLE_KEYCHAIN: undefined, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/0/bus' }, storeName), 'secret-service');
    assert.equal(withEnv({ KEYROLE_KEYCHAIN: 'keyutils' }, storeName), 'keyutils');
    assert.equal(withEnv({ KEYROLE_KEYCHAIN: 'file', DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/0/bus' }, storeName), 'file');
    // No D-Bus session and no choice: the encrypted file store (SSH servers, WSL, containers, CI).
    assert.equal(withEnv({ KEYROLE_KEYCHAIN: undefined, DBUS_SESSION_BUS_ADDRESS: undefined }, storeName), 'file');
    assert.equal(withEnv({ KEYROLE_KEYCHAIN: 'secret-service', DBUS_SESSION_BUS_ADDRESS: undefined }, storeName), 'secret-service');
    assert.throws(() => withEnv({ KEYROLE_KEYCHAIN: 'kwallet' }, storeName), (e: unknown) => e instanceof KeyroleError && e.code === 'BadKeychainChoice');
  });
});

// Linux's rules: this file runs on Linux only (the cross-platform workflow does not list it).
describe('the file store chosen by itself (selection.ts)', () => {
  /** A keyrole home of its own, and the environment of a Linux user with a D-Bus session. */
  function home(): { env: Record<string, string | undefined>; store: string } {
    const dir = mkdtempSync(join(tmpdir(), 'keyrole-selection-'));
    return { env: { KEYROLE_HOME: dir, KEYROLE_KEYCHAIN: undefined, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' }, store: join(dir, 'store') };
  }
  /** What keyrole writes when it creates a file store, as far as selection.ts looks. */
  function createStore(store: string): void {
    mkdirSync(store, { recursive: true, mode: 0o700 });
    writeFileSync(join(store, 'store.key.age'), 'age-encryption.org/v1\n', { mode: 0o600 });
  }
  const quietly = <T>(fn: () => T): T => {
    const write = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try { return fn(); } finally { process.stderr.write = write; }
  };

  test('no D-Bus session: the file store, for that reason', () => {
    const h = home();
    withEnv({ ...h.env, DBUS_SESSION_BUS_ADDRESS: undefined }, () => {
      assert.equal(storeName(), 'file');
      assert.equal(autoReason(), 'no-bus');
      assert.equal(autoReasonWords(), 'no D-Bus session');
    });
  });

  test('a D-Bus session and no choice made: the Secret Service, and a bus that says nobody is there may change that', () => {
    const h = home();
    withEnv(h.env, () => {
      assert.equal(storeName(), 'secret-service');
      assert.equal(autoReason(), undefined);
      assert.equal(mayChooseFileStore(), true);
    });
  });

  test('a choice recorded but no store created: the Secret Service again (nothing to keep)', () => {
    const h = home();
    withEnv(h.env, () => {
      mkdirSync(h.store, { recursive: true, mode: 0o700 });
      writeFileSync(join(h.store, 'auto-selected'), 'keyrole chose its file store: no D-Bus session\n', { mode: 0o600 });
      forgetAutoChoiceMemo();
      assert.equal(storeName(), 'secret-service');
    });
  });

  test('a file store chosen by itself and created is kept on any bus until store move ends the choice', () => {
    const h = home();
    withEnv(h.env, () => {
      createStore(h.store);
      quietly(() => chooseFileStore('no-secret-service'));
      assert.equal(storeName(), 'file');
      forgetAutoChoiceMemo(); // a later process: only the record and the store say it
      withEnv({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/another/bus' }, () => {
        assert.equal(storeName(), 'file');
        assert.equal(autoReason(), 'kept');
        assert.equal(autoReasonWords(), 'no Secret Service on the D-Bus session, kept until keyrole store move');
      });
      withEnv({ KEYROLE_KEYCHAIN: 'secret-service' }, () => {
        assert.equal(storeName(), 'secret-service', 'a store the user names wins');
        assert.equal(mayChooseFileStore(), false);
      });
      forgetAutoChoice();
      assert.equal(storeName(), 'secret-service');
    });
  });

  /** A new process's view: the in-process finding gone, the record read again. */
  function forgetAutoChoiceMemo(): void {
    // forgetAutoChoice removes the record too; keep it by putting it back.
    const dir = process.env.KEYROLE_HOME!;
    const record = join(dir, 'store', 'auto-selected');
    let text: string | undefined;
    try { text = readFileSync(record, 'utf8'); } catch { /* none */ }
    forgetAutoChoice();
    if (text !== undefined) writeFileSync(record, text, { mode: 0o600 });
  }
});
