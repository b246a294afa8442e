// Loads @aws-sdk/client-sts, which is built into a bundle of its own (dist/keyrole-sdk.cjs):
// a cache hit must not even parse the SDK, and half a megabyte of it in the main bundle
// cost every run ~15 ms of startup. The executable carries the SDK bundle as an asset and
// compiles it only on a cache miss; the npm channel finds it beside keyrole.cjs; the
// sources (tests) import the package directly.

import { createRequire } from 'node:module';
import { join } from 'node:path';

export type StsModule = typeof import('@aws-sdk/client-sts');

declare const require: NodeJS.Require | undefined;
declare const KEYROLE_BUNDLED: boolean | undefined;

let loaded: StsModule | undefined;

export function loadSts(): StsModule {
  if (loaded) return loaded;
  const req = typeof require === 'function' ? require : createRequire(import.meta.url);
  if (typeof KEYROLE_BUNDLED === 'undefined') {
    loaded = req('@aws-sdk/client-sts') as StsModule;
    return loaded;
  }
  let sea: { isSea(): boolean; getAsset(k: string, enc: string): string } | undefined;
  try {
    sea = req('node:sea') as typeof sea;
  } catch { /* Node without SEA support */ }
  if (sea?.isSea()) {
    const code = sea.getAsset('keyrole-sdk.cjs', 'utf8');
    const vm = req('node:vm') as typeof import('node:vm');
    const fn = vm.compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: 'keyrole-sdk.cjs' });
    const mod = { exports: {} as StsModule };
    fn(mod.exports, req, mod, 'keyrole-sdk.cjs', '.');
    loaded = mod.exports;
  } else {
    loaded = req(join(__dirname, 'keyrole-sdk.cjs')) as StsModule;
  }
  return loaded;
}
