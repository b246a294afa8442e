// `keyrole setup` at a real terminal: the secret is not echoed, a replacement needs a yes,
// and nothing is stored from bad input; piped, the key is checked with STS all the same.
// Plus list and remove.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeyring, type KeyringSession } from './support/keyring.ts';
import { keyrole, KEYROLE } from './support/run.ts';
import { onPty } from './support/pty.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY, startEmulatorProcess, type EmulatorProcess } from './support/emulator.ts';

describe('keyrole setup at a terminal', () => {
  let k: KeyringSession;
  let emu: EmulatorProcess;
  let env: Record<string, string>;
  before(async () => {
    k = await startKeyring();
    emu = await startEmulatorProcess();
    // The key typed at a terminal is checked with GetCallerIdentity: against the emulator here.
    env = { ...k.env, AWS_ENDPOINT_URL_STS: emu.url };
  });
  after(async () => { await emu?.stop(); await k?.stop(); });

  const stored = async (name: string) => (await keyrole(['list'], { env: k.env })).stdout.split('\n').find((l) => l.startsWith(`${name} `));

  test('asks for the id, then the secret without echoing it, and stores them', async () => {
    const r = await onPty(`${KEYROLE} setup alice`, [
      [/AWS access key id: /, `${DEMO_ACCESS_KEY_ID}\r`],
      [/secret access key \(not shown\): /, `${DEMO_SECRET_ACCESS_KEY}\r`],
    ], env);
    assert.equal(r.code, 0, r.screen);
    assert.ok(!r.screen.includes(DEMO_SECRET_ACCESS_KEY), `the secret was echoed:\n${r.screen}`);
    assert.match(r.screen, /The key works: arn:aws:iam::111122223333:user\/alice/);
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
    const r = await onPty(`${KEYROLE} setup alice --no-verify`, [
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

  test('regression: a newline follows the hidden input, so the next line does not continue the prompt', async () => {
    const r = await onPty(`${KEYROLE} setup dora --no-verify`, [
      [/AWS access key id: /, `${DEMO_ACCESS_KEY_ID}\r`],
      [/secret access key \(not shown\): /, `${DEMO_SECRET_ACCESS_KEY}\r`],
    ], env);
    assert.equal(r.code, 0, r.screen);
    // The prompt library moves the cursor back after the prompt (ESC [ n G); then a line end, not the next text.
    assert.match(r.screen, new RegExp(`\\(not shown\\): (${String.fromCharCode(27)}\\[\\d+G)?\\r?\\nStored source "dora"`));
    await keyrole(['remove', 'dora', '--force'], { env: k.env });
  });

  test('regression: a mistyped secret at the terminal is caught by GetCallerIdentity, and nothing is stored', async () => {
    const r = await onPty(`${KEYROLE} setup erin`, [
      [/AWS access key id: /, `${DEMO_ACCESS_KEY_ID}\r`],
      [/secret access key \(not shown\): /, `${DEMO_SECRET_ACCESS_KEY.slice(0, -1)}X\r`],
    ], env);
    assert.equal(r.code, 1, r.screen);
    assert.match(r.screen, /keyrole: the new key was not stored: STS refused it .*SignatureDoesNotMatch|keyrole: the new key was not stored: .*secret/i);
    assert.match(r.screen, /--no-verify/);
    assert.equal(await stored('erin'), undefined);
  });

  test('regression: piping a credentials file with several sections stores the section named like the source', async () => {
    const file = `[default]\naws_access_key_id = AKIAKEYROLEDEMO00005\naws_secret_access_key = ${DEMO_SECRET_ACCESS_KEY}\n\n[frank]\naws_access_key_id = AKIAKEYROLEDEMO00006\naws_secret_access_key = ${DEMO_SECRET_ACCESS_KEY}\n\n[zed]\naws_access_key_id = AKIAKEYROLEDEMO00007\naws_secret_access_key = ${DEMO_SECRET_ACCESS_KEY}\n`;
    const r = await keyrole(['setup', 'frank', '--no-verify'], { env: k.env, input: file });
    assert.equal(r.code, 0, r.stderr);
    assert.match((await stored('frank')) ?? '', /AKIA…0006/);
    const ambiguous = await keyrole(['setup', 'gina', '--no-verify'], { env: k.env, input: file });
    assert.equal(ambiguous.code, 1);
    assert.match(ambiguous.stderr, /^keyrole: the input holds 3 sections with keys \(default, frank, zed\) and none is named "gina"; .*keyrole import\n$/);
    assert.equal(await stored('gina'), undefined);
    await keyrole(['remove', 'frank', '--force'], { env: k.env });
  });

  test('regression: a piped wrong secret is checked with STS and not stored (it used to print "Stored source")', async () => {
    const r = await keyrole(['setup', 'hugo'], { env, input: `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY.slice(0, -1)}X\n` });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines[0], 'Checking the key with STS (GetCallerIdentity)…');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[1]!, /^keyrole: the new key was not stored: STS refused it or could not be asked \(.*\); .*--no-verify/);
    assert.ok(!r.stderr.includes(DEMO_SECRET_ACCESS_KEY.slice(0, -1)), 'no secret in the error');
    assert.equal(await stored('hugo'), undefined);
  });

  test('a piped key that works is stored with what STS says it is; --no-verify stores one unchecked', async () => {
    const r = await keyrole(['setup', 'ivy'], { env, input: `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n` });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Stored source "ivy" (AKIA…0001) in the keychain.\n');
    assert.equal(r.stderr, 'Checking the key with STS (GetCallerIdentity)…\nThe key works: arn:aws:iam::111122223333:user/alice\n');
    const unchecked = await keyrole(['setup', 'jo', '--no-verify'], { env, input: `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY.slice(0, -1)}X\n` });
    assert.equal(unchecked.code, 0, unchecked.stderr);
    assert.equal(unchecked.stderr, '');
    assert.match((await stored('jo')) ?? '', /AKIA…0001/);
    for (const n of ['ivy', 'jo']) await keyrole(['remove', n, '--force'], { env: k.env });
  });

  test('the IAM console CSV can be piped', async () => {
    const csv = `User name,Password,Access key ID,Secret access key,Console login link\ncarol,,AKIAKEYROLEDEMO00003,${DEMO_SECRET_ACCESS_KEY},https://x\n`;
    const r = await keyrole(['setup', 'carol', '--no-verify'], { env: k.env, input: csv });
    assert.equal(r.code, 0, r.stderr);
    assert.match((await stored('carol')) ?? '', /AKIA…0003/);
  });

  test('remove needs confirmation without --force, and then deletes', async () => {
    const refused = await keyrole(['remove', 'carol'], { env: k.env });
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, 'keyrole: no terminal to confirm removing source "carol"; pass --force to remove it without asking: keyrole remove carol --force\n');
    const r = await keyrole(['remove', 'carol', '--force'], { env: k.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await stored('carol'), undefined);
    const again = await keyrole(['remove', 'carol', '--force'], { env: k.env });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /source "carol" is not in the keychain/);
  });
});
