// Loads the clients that talk to AWS (the SDK's STS, IAM and SSO clients) and the proxy
// agents (src/aws/agents.ts). Each is built into a bundle of its own
// (dist/keyrole-sdk-<name>.cjs) and loaded only when a call is about to be made: a cache
// hit must not even parse them (half a megabyte of SDK in the main bundle cost every run
// ~15 ms), and an STS miss must not pay for IAM or SSO. The executable carries the bundles
// as assets; the npm channel finds them beside keyrole.cjs; the sources (tests) import the
// modules directly.

import { join } from 'node:path';
import { debug } from '../util/debug.ts';
import { nodeRequire } from '../util/require.ts';

type Clients = {
  sts: typeof import('@aws-sdk/client-sts');
  net: typeof import('./agents.ts');
  iam: typeof import('@aws-sdk/client-iam');
  sso: typeof import('@aws-sdk/client-sso');
  'sso-oidc': typeof import('@aws-sdk/client-sso-oidc');
};
export type SdkName = keyof Clients;

/** The package each bundle holds (scripts/build.mjs builds one bundle per entry). */
export const SDK_PACKAGES: Record<SdkName, string> = {
  sts: '@aws-sdk/client-sts',
  // The proxy agents (src/aws/http.ts says why a bundle of their own).
  net: '../aws/agents.ts',
  iam: '@aws-sdk/client-iam',
  sso: '@aws-sdk/client-sso',
  'sso-oidc': '@aws-sdk/client-sso-oidc',
};

declare const KEYROLE_BUNDLED: boolean | undefined;

const loaded: Partial<Clients> = {};

export function loadSdk<N extends SdkName>(name: N): Clients[N] {
  const have = loaded[name];
  if (have) return have;
  // The SDK warns on stderr about old Node versions; stderr is the user's error channel.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const req = nodeRequire();
  let mod: Clients[N];
  if (typeof KEYROLE_BUNDLED === 'undefined') {
    mod = req(SDK_PACKAGES[name]) as Clients[N];
  } else {
    const file = `keyrole-sdk-${name}.cjs`;
    let sea: { isSea(): boolean; getRawAsset(k: string): ArrayBuffer } | undefined;
    try {
      sea = req('node:sea') as typeof sea;
    } catch { /* Node without SEA support */ }
    if (sea?.isSea()) {
      // Compiled with the V8 code cache that the build made with this same Node
      // (scripts/sdk-code-cache.cjs, which wraps the source identically). Read in place and
      // decoded as latin1, as scripts/sea-main.cjs does: the build keeps the bundles ASCII.
      const source = `(function (exports, require, module, __filename, __dirname) {${Buffer.from(sea.getRawAsset(file)).toString('latin1')}\n})`;
      let cachedData: Buffer | undefined;
      try { cachedData = Buffer.from(sea.getRawAsset(`keyrole-sdk-${name}.cache`)); } catch { /* built without a cache */ }
      const vm = req('node:vm') as typeof import('node:vm');
      const script = new vm.Script(source, { filename: file, cachedData });
      if (script.cachedDataRejected) debug(`V8 rejected the code cache of ${file}; compiling it`);
      const m = { exports: {} as Clients[N] };
      (script.runInThisContext() as (...a: unknown[]) => void)(m.exports, req, m, file, '.');
      mod = m.exports;
    } else {
      mod = req(join(__dirname, file)) as Clients[N];
    }
  }
  loaded[name] = mod;
  return mod;
}
