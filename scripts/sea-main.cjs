// The single executable's entry. Node's own SEA code cache holds only the functions V8
// compiles eagerly, so every function of a cache hit was compiled from source on every run
// (measured: 4–5 ms between the bundle's end and the command). keyrole's bundle is
// embedded as an asset instead, with a V8 code cache that scripts/main-code-cache.ts made
// after running the hot path, so those functions arrive compiled. A cache V8 rejects (other
// Node, other flags) only costs that compile time; --debug says so.
'use strict';
const sea = require('node:sea');
const vm = require('node:vm');

// Must match scripts/main-code-cache.ts byte for byte, or V8 rejects the cache.
// getRawAsset, not getAsset: the assets are read in place instead of copied (measured:
// −1.5 to −2.4 ms on a file-store hit, 150 interleaved rounds). The bundle is ASCII (the
// build makes sure), so latin1 decodes it byte for byte, without a UTF-8 pass; Buffer
// rather than getAsset(key, 'utf8'), whose TextDecoder is one more module to load.
const source = `(function (exports, require, module, __filename, __dirname) {${Buffer.from(sea.getRawAsset('keyrole.cjs')).toString('latin1').replace(/^#!/, '//')}\n})`;
let cachedData;
try { cachedData = Buffer.from(sea.getRawAsset('keyrole.cache')); } catch { /* built without a cache */ }
const script = new vm.Script(source, { filename: 'keyrole.cjs', cachedData });
if (script.cachedDataRejected && process.argv.includes('--debug')) process.stderr.write('keyrole: V8 rejected the code cache of keyrole.cjs; compiling it\n');
script.runInThisContext()(exports, require, module, __filename, __dirname);
