// Run by scripts/build.mjs with the Node binary the executable embeds: compiles an SDK
// bundle the way src/aws/sdk.ts does at run time, exercises it (STS calls against a local
// answerer run the serializers, the signer, the HTTP handler and the response parsers, so
// V8 compiles them; the proxy agents are built for a proxy), and writes V8's code cache
// for it. A cache miss then skips most of the SDK's compile time. V8 rejects a cache from
// another version or other flags; keyrole then just compiles, a little slower.
'use strict';
const fs = require('node:fs');
const vm = require('node:vm');

const [bundle, out, name] = process.argv.slice(2);
// Must match src/aws/sdk.ts byte for byte, or V8 rejects the cache.
const source = `(function (exports, require, module, __filename, __dirname) {${fs.readFileSync(bundle, 'utf8')}\n})`;
const script = new vm.Script(source, { filename: `keyrole-sdk-${name}.cjs` });
const mod = { exports: {} };
script.runInThisContext()(mod.exports, require, mod, `keyrole-sdk-${name}.cjs`, '.');

// What STS answers, so the exercise runs the response path too (the XML parser and the
// deserializers are a good part of a miss's compile time).
function stsAnswer(action) {
  const creds = '<Credentials><AccessKeyId>ASIAKEYROLEWARMUP000</AccessKeyId><SecretAccessKey>' + 'w'.repeat(40) +
    '</SecretAccessKey><SessionToken>' + 'w'.repeat(400) + '</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>';
  const extra = action === 'AssumeRole'
    ? '<AssumedRoleUser><AssumedRoleId>AROAKEYROLEWARMUP:warm</AssumedRoleId><Arn>arn:aws:sts::111122223333:assumed-role/x/warm</Arn></AssumedRoleUser>'
    : '';
  return `<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${action}Result>${creds}${extra}</${action}Result>` +
    `<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata></${action}Response>`;
}

async function exercise() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  if (name === 'net') {
    process.env.HTTPS_PROXY = 'http://127.0.0.1:3128';
    mod.exports.agentsFor('https://sts.us-east-1.amazonaws.com', () => ({ rejectUnauthorized: true }));
    return;
  }
  if (name !== 'sts') return;
  const http = require('node:http');
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/xml', date: new Date().toUTCString() });
      res.end(stsAnswer(/Action=AssumeRole/.test(body) ? 'AssumeRole' : 'GetSessionToken'));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { STSClient, AssumeRoleCommand, GetSessionTokenCommand } = mod.exports;
  // Configured as src/aws/sts.ts configures it, so the same code paths run.
  const c = new STSClient({
    region: 'us-east-1', endpoint: `http://127.0.0.1:${server.address().port}`, maxAttempts: 3, retryMode: 'standard', systemClockOffset: 0,
    customUserAgent: 'keyrole/warm-up', credentials: { accessKeyId: 'AKIAEXAMPLEEXAMPLE00', secretAccessKey: 'x'.repeat(40) },
    requestHandler: { connectionTimeout: 3000, requestTimeout: 5000, throwOnRequestTimeout: true, socketTimeout: 5000, httpAgent: new http.Agent({ keepAlive: false }) },
  });
  c.middlewareStack.add((next) => async (args) => next(args), { step: 'deserialize', priority: 'low', name: 'warm' });
  const signal = AbortSignal.timeout(10000);
  await c.send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::111122223333:role/x', RoleSessionName: 'warm', DurationSeconds: 3600 }), { abortSignal: signal });
  await c.send(new GetSessionTokenCommand({}), { abortSignal: signal });
  c.destroy();
  server.close();
}

exercise().then(() => {
  fs.writeFileSync(out, script.createCachedData());
});
