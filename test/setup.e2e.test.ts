// `keyrole setup` at a real terminal: the secret is not echoed, a replacement needs a yes,
// and nothing is stored from bad input. Plus list and remove.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeyring, type KeyringSession } from './support/keyring.ts';
import { keyrole, KEYROLE } from './support/run.ts';
import { onPty } from './support/pty.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';

describe('keyrole setup at a terminal', () => {
  let k: KeyringSession;
  before(async () => { k = await startKeyring(); });
  after(() => k?.stop());

  const stored = async (name: string) => (await keyrole(['list'], { env: k.env })).stdout.split('\n').find((l) => l.startsWith(`${name} `));

  test('asks for the id, then the secret without echoing it, and stores them', async () => {
    const r = await onPty(`${KEYROLE} setup alice`, [
      [/AWS access key id: /, `${DEMO_ACCESS_KEY_ID}\r`],
      [/secret access key \(not shown\): /, `${DEMO_SECRET_ACCESS_KEY}\r`],
    ], k.env);
    assert.equal(r.code, 0, r.screen);
    assert.ok(!r.screen.includes(DEMO_SECRET_ACCESS_KEY), `the secret was echoed:\n${r.screen}`);
    assert.match(r.screen, /Stored source "alice" \(AKIA…0001\)/);
    assert.match((await stored('alice')) ?? '', /AKIA…0001/);
  });

  test('replacing an existing source asks first; "n" keeps the old keys', async () => {
    const r = await onPty(`${KEYROLE} setup alice`, [[/already stored\. Replace it\? \[y\/N\] /, 'n\r']], k.env);
    assert.equal(r.code, 1);
    assert.match(r.screen, /kept the existing keys of source "alice"/);
    assert.match((await stored('alice')) ?? '', /AKIA…0001/);
  });

  test('"y" replaces them', async () => {
    const r = await onPty(`${KEYROLE} setup alice`, [
      [/Replace it\? \[y\/N\] /, 'y\r'],
      [/AWS access key id: /, 'AKIAKEYROLEDEMO00009\r'],
      [/secret access key \(not shown\): /, `${DEMO_SECRET_ACCESS_KEY}\r`],
    ], k.env);
    assert.equal(r.code, 0, r.screen);
    assert.match((await stored('alice')) ?? '', /AKIA…0009/);
  });

  test('a malformed id typed at the terminal is rejected before the secret is asked, and nothing changes', async () => {
    const r = await onPty(`${KEYROLE} setup bob`, [[/AWS access key id: /, 'not-a-key\r']], k.env);
    assert.equal(r.code, 1);
    assert.match(r.screen, /access key id is not AKIA followed by 16/);
    assert.doesNotMatch(r.screen, /secret access key \(not shown\)/);
    assert.equal(await stored('bob'), undefined);
  });

  test('the IAM console CSV can be piped', async () => {
    const csv = `User name,Password,Access key ID,Secret access key,Console login link\ncarol,,AKIAKEYROLEDEMO00003,${DEMO_SECRET_ACCESS_KEY},https://x\n`;
    const r = await keyrole(['setup', 'carol'], { env: k.env, input: csv });
    assert.equal(r.code, 0, r.stderr);
    assert.match((await stored('carol')) ?? '', /AKIA…0003/);
  });

  test('remove needs confirmation without --force, and then deletes', async () => {
    const refused = await keyrole(['remove', 'carol'], { env: k.env });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /no terminal to confirm.*--force/);
    const r = await keyrole(['remove', 'carol', '--force'], { env: k.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await stored('carol'), undefined);
    const again = await keyrole(['remove', 'carol', '--force'], { env: k.env });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /source "carol" is not in the keychain/);
  });
});
