// Run by scripts/build.mjs with the Node binary the executable embeds: compiles an SDK
// bundle the way src/sdk.ts does at run time, exercises it (an STS call against a closed
// local port runs the serializers, the signer and the HTTP handler, so V8 compiles them),
// and writes V8's code cache for it. A cache miss then skips most of the SDK's compile
// time. V8 rejects a cache from another version or other flags; keyrole then just
// compiles, a little slower.
'use strict';
const fs = require('node:fs');
const vm = require('node:vm');

const [bundle, out, name] = process.argv.slice(2);
// Must match src/sdk.ts byte for byte, or V8 rejects the cache.
const source = `(function (exports, require, module, __filename, __dirname) {${fs.readFileSync(bundle, 'utf8')}\n})`;
const script = new vm.Script(source, { filename: `keyrole-sdk-${name}.cjs` });
const mod = { exports: {} };
script.runInThisContext()(mod.exports, require, mod, `keyrole-sdk-${name}.cjs`, '.');

async function exercise() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  if (name !== 'sts') return;
  const { STSClient, AssumeRoleCommand, GetSessionTokenCommand } = mod.exports;
  const c = new STSClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', maxAttempts: 1, credentials: { accessKeyId: 'AKIAEXAMPLEEXAMPLE00', secretAccessKey: 'x'.repeat(40) } });
  for (const cmd of [new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::111122223333:role/x', RoleSessionName: 'warm' }), new GetSessionTokenCommand({})]) {
    try { await c.send(cmd); } catch { /* the port is closed on purpose */ }
  }
}

exercise().then(() => {
  fs.writeFileSync(out, script.createCachedData());
});
