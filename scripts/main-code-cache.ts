// Run by scripts/build.mjs with the Node binary the executable embeds: compiles
// dist/keyrole.cjs the way scripts/sea-main.cjs does, runs its hot path in a throwaway
// home, and writes V8's code cache, which then holds every function those runs compiled.
//
// The runs: `process` on a keychain-cached profile, from its sealed kernel-keyring copy and
// then answered by a stand-in Secret Service on a private socket (a hit through the direct
// D-Bus client, src/keychain/secretservice.ts), then from keyrole's file store as the
// keychain (KEYROLE_KEYCHAIN=file), unlocked for the session (its key's sealed kernel
// copy: src/keychain/unlocked.ts), then
// `process` on a file-cached profile whose entry this script stored beforehand (a file hit,
// end to end). None touches the network or a real keychain.

import * as fs from 'node:fs';
import * as vm from 'node:vm';
import * as net from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const [bundle, out] = process.argv.slice(2).map((p) => resolve(p));
const home = fs.mkdtempSync(join(tmpdir(), 'keyrole-code-cache-'));
const aws = join(home, '.aws');
fs.mkdirSync(aws, { mode: 0o700 });
const role = 'arn:aws:iam::111122223333:role/Warm';
fs.writeFileSync(join(aws, 'config'), [
  `[profile warm]\nregion = us-east-1\ncredential_process = keyrole process warm\nkeyrole_source = warm\nkeyrole_role_arn = ${role}\nkeyrole_cache = file\n`,
  `[profile warmkc]\nregion = us-east-1\ncredential_process = keyrole process warmkc\nkeyrole_source = warm\nkeyrole_role_arn = ${role}\n`,
].join('\n'));
const env: Record<string, string> = {
  HOME: home,
  USER: 'keyrole',
  AWS_CONFIG_FILE: join(aws, 'config'),
  AWS_SHARED_CREDENTIALS_FILE: join(aws, 'credentials'),
  KEYROLE_HOME: join(home, 'keyrole'),
  DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(home, 'bus')}`,
};
for (const k of Object.keys(process.env)) if (/^(AWS_|KEYROLE_)/.test(k)) delete process.env[k];
Object.assign(process.env, env);

// The hits' entries, written with keyrole's own code so their keys and format are the real ones.
const { loadAwsFiles } = await import('../src/config/files.ts');
const { resolveSettings } = await import('../src/config/settings.ts');
const { localUser } = await import('../src/credentials/user.ts');
const { planProfile } = await import('../src/credentials/plan.ts');
const { encodeEntry, fileStore } = await import('../src/credentials/cache.ts');
const { decodeMessage, encodeReturn, messageLength } = await import('../src/keychain/dbus.ts');
const files = await loadAwsFiles();
const entryFor = (profile: string) => {
  const plan = planProfile(files, resolveSettings(files, profile, {}, localUser()));
  return { key: plan.key, value: encodeEntry({
    params: plan.canonical,
    profile,
    source: 'warm',
    roleArn: role,
    credentials: { accessKeyId: 'ASIAKEYROLEWARMUP000', secretAccessKey: 'w'.repeat(40), sessionToken: 'w'.repeat(400), expiration: new Date(Date.now() + 3600_000) },
    clockOffsetMs: 0,
    storedAt: new Date(),
  }) };
};
const fileHit = entryFor('warm');
await fileStore().put(fileHit.key, fileHit.value);
const keychainHit = entryFor('warmkc');

// The stand-in: just the answers a keychain hit asks for (Hello, OpenSession "plain",
// SearchItems, GetSecrets), holding the one item.
const ITEM = '/org/freedesktop/secrets/collection/login/1';
const SESSION = '/org/freedesktop/secrets/session/1';
const bus = net.createServer((sock) => {
  sock.unref();
  let input = Buffer.alloc(0);
  let serial = 0;
  let authenticated = false;
  sock.on('data', (d: Buffer) => {
    input = Buffer.concat([input, d]);
    if (!authenticated) {
      const begin = input.indexOf('BEGIN\r\n');
      if (begin < 0) return;
      sock.write(`OK ${'0'.repeat(32)}\r\n`);
      authenticated = true;
      input = input.subarray(begin + 7);
    }
    for (let n = messageLength(input); n > 0; n = messageLength(input)) {
      const m = decodeMessage(input.subarray(0, n));
      input = input.subarray(n);
      const reply = (sig: string, args: unknown[]) => sock.write(encodeReturn(++serial, m.serial, sig, args as never));
      if (m.member === 'Hello') reply('s', [':1.1']);
      else if (m.member === 'OpenSession') reply('vo', [['s', ''], SESSION]);
      else if (m.member === 'SearchItems') {
        const attrs = new Map(m.body[0] as [string, string][]);
        reply('aoao', [attrs.get('username') === keychainHit.key ? [ITEM] : [], []]);
      } else if (m.member === 'GetSecrets') reply('a{o(oayays)}', [[[ITEM, [SESSION, Buffer.alloc(0), Buffer.from(keychainHit.value), 'text/plain']]]]);
      else throw new Error(`the stand-in Secret Service was asked for ${m.member}`);
    }
  });
});
await new Promise<void>((ok) => bus.listen(join(home, 'bus'), ok));
bus.unref();

// Must match scripts/sea-main.cjs byte for byte, or V8 rejects the cache.
const source = `(function (exports, require, module, __filename, __dirname) {${fs.readFileSync(bundle, 'utf8').replace(/^#!/, '//')}\n})`;
const script = new vm.Script(source, { filename: 'keyrole.cjs' });
const wrapper = script.runInThisContext() as (...a: unknown[]) => void;
const require = createRequire(bundle);
// The keychain hit twice: from its sealed copy in the kernel keyring (where this machine has
// one: src/keychain/kernel.ts; opening it is the hit's own work, compiled here or on every
// hit), then from the Secret Service with the copies off.
const runs: { argv: string[]; env?: Record<string, string> }[] = [
  { argv: ['process', 'warmkc'] },
  { argv: ['process', 'warmkc'], env: { KEYROLE_KERNEL_CACHE: 'off' } },
];
const { sealedDelete, sealedSet } = await import('../src/keychain/kernel.ts');
let kernelCopy = false;
let unlockedStore: (() => boolean) | undefined;
if (process.platform === 'linux') {
  try {
    sealedSet('keyrole:cache', keychainHit.key, keychainHit.value);
    kernelCopy = true;
  } catch { /* no kernel keyring here: the hit reads the Secret Service both times */ }
}
if (kernelCopy) {
  // The file store as the keychain, unlocked for the session as a passphrase would leave it
  // (no store key file: nothing here ever asks for a passphrase, so scrypt stays out).
  const { identityFromSecret, randomBytes, recipientOf } = await import('../src/keychain/agefile.ts');
  const { fileSet, RECIPIENT_FILE, storeDir } = await import('../src/keychain/filestore.ts');
  const { keepForSession, lockSession } = await import('../src/keychain/unlocked.ts');
  const { CACHE_SERVICE } = await import('../src/credentials/cache.ts');
  const { privateDir } = await import('../src/util/home.ts');
  const id = identityFromSecret(randomBytes(32));
  const recipient = recipientOf(id.secret);
  fs.writeFileSync(join(privateDir(storeDir()), RECIPIENT_FILE), `${recipient}\n`, { mode: 0o600 });
  keepForSession(id, recipient);
  fileSet(id, CACHE_SERVICE, keychainHit.key, keychainHit.value);
  unlockedStore = lockSession;
  runs.push({ argv: ['process', 'warmkc'], env: { KEYROLE_KEYCHAIN: 'file' } });
}
runs.push({ argv: ['process', 'warm'] });

let last: string[] | undefined;

function next(): void {
  // Both runs are hits; a failed one would leave its path out of the cache unnoticed.
  if (last && process.exitCode) throw new Error(`keyrole ${last.join(' ')} exited ${process.exitCode} in the code-cache run`);
  const run = runs.shift();
  const argv = run?.argv;
  last = argv;
  if (!argv) {
    fs.writeFileSync(out, script.createCachedData());
    if (kernelCopy) sealedDelete('keyrole:cache', keychainHit.key);
    unlockedStore?.();
    bus.close();
    fs.rmSync(home, { recursive: true, force: true });
    process.exitCode = 0;
    return;
  }
  process.argv = [process.execPath, 'keyrole', ...argv];
  delete process.env.KEYROLE_KERNEL_CACHE;
  delete process.env.KEYROLE_KEYCHAIN;
  Object.assign(process.env, run?.env);
  const m = { exports: {} };
  // Each call runs the bundle's top level afresh (new module state) on the same compiled functions.
  wrapper(m.exports, require, m, bundle, dirname(bundle));
  // A hit can finish in microtasks alone; this keeps the loop alive so beforeExit comes again.
  setImmediate(() => {});
}
process.on('beforeExit', next);
next();
