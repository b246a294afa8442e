// Run by scripts/build.mjs with the Node binary the executable embeds: compiles
// dist/keyrole.cjs the way scripts/sea-main.cjs does, runs its hot path in a throwaway
// home, and writes V8's code cache, which then holds every function those runs compiled.
//
// The runs: `process` on a keychain-cached profile with no D-Bus to talk to (the keychain
// store's read and its error path), then `process` on a file-cached profile whose entry
// this script stored beforehand (a cache hit, end to end). Neither touches the network or
// a keychain.

import * as fs from 'node:fs';
import * as vm from 'node:vm';
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
  DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(home, 'no-bus')}`,
};
for (const k of Object.keys(process.env)) if (/^(AWS_|KEYROLE_)/.test(k)) delete process.env[k];
Object.assign(process.env, env);

// The hit's entry, written with keyrole's own code so its key and format are the real ones.
const { loadAwsFiles, resolveSettings } = await import('../src/config.ts');
const { keyFor, paramsFor, localUser } = await import('../src/credentials.ts');
const { canonicalParams, encodeEntry, fileStore } = await import('../src/cache.ts');
const s = resolveSettings(await loadAwsFiles(), 'warm', {}, localUser());
await fileStore().put(keyFor(s), encodeEntry({
  params: canonicalParams(paramsFor(s)),
  profile: 'warm',
  source: 'warm',
  roleArn: role,
  credentials: { accessKeyId: 'ASIAKEYROLEWARMUP000', secretAccessKey: 'w'.repeat(40), sessionToken: 'warm-up', expiration: new Date(Date.now() + 3600_000) },
  clockOffsetMs: 0,
  storedAt: new Date(),
}));

// Must match scripts/sea-main.cjs byte for byte, or V8 rejects the cache.
const source = `(function (exports, require, module, __filename, __dirname) {${fs.readFileSync(bundle, 'utf8').replace(/^#!/, '//')}\n})`;
const script = new vm.Script(source, { filename: 'keyrole.cjs' });
const wrapper = script.runInThisContext() as (...a: unknown[]) => void;
const require = createRequire(bundle);
const runs = [['process', 'warmkc'], ['process', 'warm']];

function next(): void {
  const argv = runs.shift();
  if (!argv) {
    fs.writeFileSync(out, script.createCachedData());
    fs.rmSync(home, { recursive: true, force: true });
    process.exitCode = 0;
    return;
  }
  process.argv = [process.execPath, 'keyrole', ...argv];
  const m = { exports: {} };
  // Each call runs the bundle's top level afresh (new module state) on the same compiled functions.
  wrapper(m.exports, require, m, bundle, dirname(bundle));
  // A hit can finish in microtasks alone; this keeps the loop alive so beforeExit comes again.
  setImmediate(() => {});
}
process.on('beforeExit', next);
next();
