// What must hold on each platform's own keychain and console, run by the cross-platform
// workflow on macOS and Windows (.github/workflows/cross-platform.yml) and by this suite on
// Linux (with a gnome-keyring of its own on a private D-Bus session): a cache
// entry with a real-length (~760-character) token through the keychain store, a file-store
// round trip, parallel callers making one STS call, exec, and doctor. On macOS and Windows
// only the built executable, the emulator and the user's own keychain.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KEYROLE, run, type RunResult } from './support/run.ts';
import { startEmulatorProcess, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY, DEMO_ACCOUNT_ID, type EmulatorProcess } from './support/emulator.ts';
import { tempDir } from './support/tmp.ts';
import { startKeyring, type KeyringSession } from './support/keyring.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
// A source name of this run, so a developer's own keychain items are never touched.
const SOURCE = `xp-${process.pid}`;

describe(`keyrole on ${process.platform}-${process.arch}: keychain, file store, single flight, exec, doctor`, () => {
  let emu: EmulatorProcess;
  let env: Record<string, string>;
  let keyring: KeyringSession | undefined;
  const keyrole = (args: string[], input?: string): Promise<RunResult> => run(KEYROLE, args, { env, input, timeoutMs: 120_000 });
  const assumeCalls = async () => (await emu.stats()).calls.AssumeRole ?? 0;
  const blob = (r: RunResult) => {
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { AccessKeyId: string; SessionToken: string };
  };

  before(async () => {
    emu = await startEmulatorProcess();
    // Linux has no keychain without a desktop session: the suite's own gnome-keyring.
    keyring = process.platform === 'linux' ? await startKeyring() : undefined;
    const home = keyring?.home ?? tempDir('xp-');
    mkdirSync(join(home, '.aws'), { recursive: true });
    env = {
      HOME: home, USERPROFILE: home, LOCALAPPDATA: join(home, 'AppData', 'Local'), XDG_CACHE_HOME: join(home, '.cache'),
      AWS_CONFIG_FILE: join(home, '.aws', 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, '.aws', 'credentials'),
      AWS_ENDPOINT_URL_STS: emu.url, KEYROLE_NTP: 'off',
      ...keyring?.env,
    };
    writeFileSync(env.AWS_CONFIG_FILE, [
      `[profile kc]\ncredential_process = "${KEYROLE}" process kc\nkeyrole_source = ${SOURCE}\nkeyrole_role_arn = ${ROLE}\n`,
      `[profile filed]\ncredential_process = "${KEYROLE}" process filed\nkeyrole_source = ${SOURCE}\nkeyrole_role_arn = ${ROLE}\nkeyrole_cache = file\nkeyrole_duration_seconds = 1800\n`,
    ].join('\n'));
    const s = await keyrole(['setup', SOURCE, '--force'], `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n`);
    assert.equal(s.code, 0, s.stderr);
  });
  after(async () => {
    if (env) {
      await keyrole(['cache', 'clear']);
      await keyrole(['remove', SOURCE, '--force']);
    }
    await emu?.stop();
    await keyring?.stop();
  });

  test('keychain store: an entry with a real-length token is stored and served', async () => {
    await keyrole(['cache', 'clear']);
    await emu.resetStats();
    const a = blob(await keyrole(['process', 'kc']));
    assert.ok(a.SessionToken.length >= 750, `${a.SessionToken.length}-character token`);
    const second = await keyrole(['process', 'kc']);
    assert.equal(blob(second).AccessKeyId, a.AccessKeyId);
    assert.equal(second.stderr, '', 'no warning: the entry was stored');
    assert.equal(await assumeCalls(), 1);
  });

  test('file store: a round trip', async () => {
    await emu.resetStats();
    const a = blob(await keyrole(['process', 'filed']));
    assert.equal(blob(await keyrole(['process', 'filed'])).AccessKeyId, a.AccessKeyId);
    assert.equal(await assumeCalls(), 1);
  });

  test('16 parallel cold callers make one AssumeRole', async () => {
    await keyrole(['cache', 'clear']);
    await emu.resetStats();
    const rs = await Promise.all(Array.from({ length: 16 }, () => keyrole(['process', 'kc'])));
    assert.equal(new Set(rs.map((r) => blob(r).AccessKeyId)).size, 1);
    assert.equal(await assumeCalls(), 1);
  });

  test('exec hands the credentials to the command and passes its exit status on', async () => {
    const r = await keyrole(['exec', 'kc', '--', process.execPath, '-e', 'process.stdout.write(process.env.AWS_ACCESS_KEY_ID || ""); process.exit(7)']);
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stdout, /^ASIA/);
  });

  test('doctor finds the credential_process line and the credentials it prints', async () => {
    const r = await keyrole(['doctor', 'kc']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    // The line was run as botocore runs it and printed a blob; STS says whose credentials those are.
    assert.match(r.stdout, /^ok +process line +runs without a shell as botocore runs it and prints credentials \(ASIA.*, expire in .*\) in \d+ ms$/m, r.stdout);
    assert.match(r.stdout, new RegExp(`^ok +identity +arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/\\S+ \\(account ${DEMO_ACCOUNT_ID}\\), expire in `, 'm'), r.stdout);
  });
});
