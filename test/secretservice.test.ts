// The direct Secret Service client (src/keychain/secretservice.ts) against a real gnome-keyring on a
// private D-Bus: it must read and write the very items the addon does, and leave to the
// addon everything it cannot answer for certain.

import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { startKeyring, tempHome, type KeyringSession } from './support/keyring.ts';
import { requireTool } from './support/tools.ts';
import { closeSecretService, readSecret, SecretServiceDeferred, writeSecret } from '../src/keychain/secretservice.ts';
import { deleteItem, getItem, getItemFast, setItem } from '../src/keychain/keychain.ts';
import { KeyroleError } from '../src/util/errors.ts';

const SERVICE = 'keyrole:test-direct';

function useEnv(env: Record<string, string>): () => void {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

async function deferred(p: Promise<unknown>, why: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof SecretServiceDeferred && why.test(e.message));
}

describe('the direct client and the addon share the items', () => {
  let k: KeyringSession;
  let restore: () => void;
  before(async () => {
    k = await startKeyring();
    restore = useEnv(k.env);
  });
  after(async () => {
    closeSecretService();
    restore();
    await k.stop();
  });

  test('written by the addon, read directly, byte for byte; a replace is seen', async () => {
    const value = JSON.stringify({ keyrole: 1, note: 'é ✓ "quoted"', pad: 'x'.repeat(3000) });
    setItem(SERVICE, 'a', value, 'write');
    assert.equal(await readSecret(SERVICE, 'a'), value);
    setItem(SERVICE, 'a', 'second', 'write');
    assert.equal(await readSecret(SERVICE, 'a'), 'second');
  });

  test('stored by secret-tool under the same attributes, read directly', async () => {
    execFileSync(requireTool('secret-tool'), ['store', '--label', 'x', 'service', SERVICE, 'username', 'st'], { env: { ...process.env }, input: 'from secret-tool' });
    assert.equal(await readSecret(SERVICE, 'st'), 'from secret-tool');
  });

  test('a missing or deleted item is null', async () => {
    assert.equal(await readSecret(SERVICE, 'never'), null);
    setItem(SERVICE, 'c', 'gone soon', 'write');
    assert.equal(deleteItem(SERVICE, 'c', 'delete'), true);
    assert.equal(await readSecret(SERVICE, 'c'), null);
  });

  /** secret-tool's view of the items for (SERVICE, account): their object ids and secrets. */
  function items(account: string): { id: string; secret: string }[] {
    const out = execFileSync(requireTool('secret-tool'), ['search', '--all', 'service', SERVICE, 'username', account], { env: { ...process.env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return [...out.matchAll(/^\[(\/\d+)\]\n(?:.*\n)*?secret = (.*)$/gm)].map((m) => ({ id: m[1], secret: m[2] }));
  }

  test('written directly, read by the addon and by secret-tool, byte for byte', async () => {
    const value = JSON.stringify({ keyrole: 1, note: 'é ✓ "quoted"', pad: 'y'.repeat(3000) });
    await writeSecret(SERVICE, 'w', value);
    assert.equal(getItem(SERVICE, 'w', 'read'), value);
    assert.deepEqual(items('w').map((i) => i.secret), [value]);
  });

  test('regression (entry missing after SIGKILLs, CI): a direct write over an existing item replaces its secret in place', async () => {
    setItem(SERVICE, 'r', 'first', 'write');
    const [before] = items('r');
    await writeSecret(SERVICE, 'r', 'second');
    assert.deepEqual(items('r'), [{ id: before.id, secret: 'second' }], 'the same item, never removed and created anew');
    assert.equal(await readSecret(SERVICE, 'r'), 'second');
  });

  test('twenty writes in parallel on the one connection each land', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeSecret(SERVICE, `q${i}`, `written ${i}`)));
    for (let i = 0; i < 20; i++) assert.equal(getItem(SERVICE, `q${i}`, 'read'), `written ${i}`);
  });

  test('twenty reads in parallel on the one connection each get their own answer', async () => {
    for (let i = 0; i < 20; i++) setItem(SERVICE, `p${i}`, `value ${i}`, 'write');
    const got = await Promise.all(Array.from({ length: 20 }, (_, i) => readSecret(SERVICE, `p${i}`)));
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `value ${i}`));
  });

  test('two items that match (another tool stored one) are left to the addon, which names the problem', async () => {
    execFileSync(requireTool('secret-tool'), ['store', '--label', 'other tool', 'service', SERVICE, 'username', 'dup', 'extra', '1'], { env: { ...process.env }, input: 'one' });
    execFileSync(requireTool('secret-tool'), ['store', '--label', 'other tool', 'service', SERVICE, 'username', 'dup', 'extra', '2'], { env: { ...process.env }, input: 'two' });
    await deferred(readSecret(SERVICE, 'dup'), /2 unlocked and 0 locked/);
    await deferred(writeSecret(SERVICE, 'dup', 'three'), /2 unlocked and 0 locked/);
    for (let i = 0; i < 2; i++) await assert.rejects(getItemFast(SERVICE, 'dup', 'read it'), (e: unknown) => e instanceof KeyroleError && e.code === 'KeychainAmbiguous');
    assert.deepEqual(items('dup').map((i) => i.secret).sort(), ['one', 'two'], 'neither was overwritten');
  });

  test('regression: a process that read through the direct client exits on its own (the idle socket is unref\'d)', () => {
    const code = `import { readSecret } from ${JSON.stringify(new URL('../src/keychain/secretservice.ts', import.meta.url).pathname)};
      console.log(await readSecret(${JSON.stringify(SERVICE)}, 'a') !== null);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env }, encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.error, undefined, 'the process did not exit within 10 s');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'true');
  });
});

describe('what the direct client leaves to the addon', () => {
  afterEach(() => closeSecretService());

  /** getItemFast/setItemFast in a fresh process (the addon keeps its D-Bus connection for the life of a process). */
  function viaKeyrole(env: Record<string, string>, call: string): { code: string | undefined; value?: unknown } {
    const code = `import * as k from ${JSON.stringify(new URL('../src/keychain/keychain.ts', import.meta.url).pathname)};
      try { console.log(JSON.stringify({ value: await k.${call} })); } catch (e) { console.log(JSON.stringify({ code: e.code ?? String(e) })); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  }

  test('a locked collection: reads and writes defer; the addon then reports the lock', async () => {
    const first = await startKeyring({ home: tempHome(), password: 'right' });
    const before = useEnv(first.env);
    try {
      assert.equal(viaKeyrole(first.env, `setItem(${JSON.stringify(SERVICE)}, 'x', 'v', 'write it')`).code, undefined);
    } finally {
      before();
      await first.stop();
    }
    const k = await startKeyring({ home: first.home, password: 'wrong' });
    const restore = useEnv(k.env);
    try {
      await deferred(readSecret(SERVICE, 'x'), /0 unlocked and 1 locked/);
      assert.equal(viaKeyrole(k.env, `getItemFast(${JSON.stringify(SERVICE)}, 'x', 'read it')`).code, 'KeychainLocked');
      // Also for the credential cache's read (no second lookup for the lock): the item is there, locked.
      assert.equal(viaKeyrole(k.env, `getItemFast(${JSON.stringify(SERVICE)}, 'x', 'read it', false)`).code, 'KeychainLocked');
      await deferred(writeSecret(SERVICE, 'x', 'v2'), /0 unlocked and 1 locked/);
      await deferred(writeSecret(SERVICE, 'new', 'v'), /prompt|locked/i);
      assert.equal(viaKeyrole(k.env, `setItemFast(${JSON.stringify(SERVICE)}, 'x', 'v2', 'write it')`).code, 'KeychainLocked');
    } finally {
      restore();
      await k.stop();
    }
  });

  test('no bus at the address: deferred, and the addon names the missing Secret Service', async () => {
    const env = { HOME: process.env.HOME ?? '/', DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/keyrole-bus' };
    const none = useEnv(env);
    try {
      await deferred(readSecret(SERVICE, 'x'), /ENOENT/);
    } finally {
      none();
    }
    assert.equal(viaKeyrole(env, `getItemFast(${JSON.stringify(SERVICE)}, 'x', 'read it')`).code, 'NoSecretService');
  });
});
