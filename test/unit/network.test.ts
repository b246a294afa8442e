// The network rules every AWS client shares: how a failure is read (src/aws/failures.ts),
// which proxy a URL goes through (src/aws/agents.ts), which CA bundle is trusted
// (src/config/cabundle.ts), what a region may be (src/config/region.ts), and what
// credentials look like when they enter (src/credentials/shape.ts).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFailure, isRefusal, isThrottling } from '../../src/aws/failures.ts';
import { agentsFor } from '../../src/aws/agents.ts';
import { caBundleSetting } from '../../src/config/cabundle.ts';
import { checkRegion, validRegion } from '../../src/config/region.ts';
import { credentialProblem } from '../../src/credentials/shape.ts';
import { withEnv } from '../support/env.ts';
import { throwsKeyroleError } from '../support/errors.ts';

const svc = (name: string, status: number) => Object.assign(new Error('m'), { name, $metadata: { httpStatusCode: status } });

describe('readFailure', () => {
  test('kinds, from the SDK handler\'s and Node\'s errors', () => {
    assert.equal(readFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })).kind, 'network');
    assert.equal(readFailure(Object.assign(new Error('read ECONNRESET'), { name: 'TimeoutError', code: 'ECONNRESET' })).code, 'ECONNRESET');
    assert.equal(readFailure(Object.assign(new Error('Request aborted'), { name: 'AbortError' })).kind, 'aborted');
    assert.equal(readFailure(Object.assign(new Error('@smithy/node-http-handler - [ERROR] a request has exceeded the configured 5000 ms requestTimeout.'), { name: 'TimeoutError', code: 'ETIMEDOUT' })).kind, 'no-answer');
    assert.equal(readFailure(Object.assign(new Error('@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 3000 ms.'), { name: 'TimeoutError' })).kind, 'connect-timeout');
    assert.equal(readFailure(Object.assign(new Error('Parse Error: Expected HTTP/'), { code: 'HPE_INVALID_CONSTANT' })).kind, 'not-http');
    assert.equal(readFailure(Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })).kind, 'tls');
    assert.equal(readFailure(Object.assign(new Error('Hostname/IP does not match'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })).kind, 'tls');
    assert.deepEqual(readFailure(svc('AccessDenied', 403)), { kind: 'service', code: 'AccessDenied', status: 403, message: 'm' });
  });

  test('a status wins over a network-looking message', () => {
    assert.equal(readFailure(Object.assign(new Error('socket hang up'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } })).kind, 'service');
  });

  test('refusal: any 4xx but throttling; never a 5xx or the network', () => {
    for (const s of [400, 401, 403, 404, 409, 418]) assert.equal(isRefusal(readFailure(svc('X', s))), true, String(s));
    for (const s of [500, 502, 503]) assert.equal(isRefusal(readFailure(svc('X', s))), false, String(s));
    assert.equal(isRefusal(readFailure(svc('Throttling', 400))), false);
    assert.equal(isThrottling(readFailure(svc('X', 429))), true);
    assert.equal(isRefusal(readFailure({ code: 'ECONNREFUSED' })), false);
  });

  test('outside text is one printable line, capped', () => {
    const f = readFailure({ name: 'A\u001b[31mB', message: `x\r\ny\u0007\u009b2J${'z'.repeat(1000)}` });
    assert.equal(f.code, 'AB');
    assert.match(f.message, /^x y/);
    assert.ok(f.message.length <= 401);
  });
});

describe('proxy choice (the AWS CLI\'s reading of the variables)', () => {
  const tls = () => ({ rejectUnauthorized: true as const });
  // Each case starts from none of the proxy variables, in either case.
  const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy'];
  const withProxyEnv = (env: Record<string, string>, fn: () => void) => withEnv(env, fn, PROXY_VARS);
  const via = (url: string) => agentsFor(url, tls)?.proxyLabel;

  test('HTTPS_PROXY for https, HTTP_PROXY for http, either case', () => {
    withProxyEnv({ HTTPS_PROXY: 'http://p:3128' }, () => {
      assert.equal(via('https://sts.eu-west-1.amazonaws.com'), 'http://p:3128');
      assert.equal(via('http://127.0.0.1:4566'), undefined);
    });
    withProxyEnv({ http_proxy: 'http://q:8080' }, () => assert.equal(via('http://127.0.0.1:4566'), 'http://q:8080'));
  });

  test('NO_PROXY: a domain covers its subdomains, with or without a leading dot or star; ports; *', () => {
    const cases: [string, boolean][] = [['amazonaws.com', true], ['.amazonaws.com', true], ['*.amazonaws.com', true], ['sts.eu-west-1.amazonaws.com', true],
      ['sts.eu-west-1.amazonaws.com:443', true], ['sts.eu-west-1.amazonaws.com:8443', false], ['*', true], ['example.com', false], ['zonaws.com', false], ['example.com, amazonaws.com', true]];
    for (const [noProxy, direct] of cases) {
      withProxyEnv({ HTTPS_PROXY: 'http://p:3128', NO_PROXY: noProxy }, () => assert.equal(via('https://sts.eu-west-1.amazonaws.com'), direct ? undefined : 'http://p:3128', noProxy));
    }
  });

  test('the proxy label never shows a password', () => {
    withProxyEnv({ HTTPS_PROXY: 'http://user:secret@p:3128' }, () => assert.equal(via('https://sts.amazonaws.com'), 'http://p:3128'));
  });
});

describe('settings', () => {
  test('AWS_CA_BUNDLE, then the profile\'s ca_bundle', () => {
    assert.deepEqual(caBundleSetting({ ca_bundle: '/p.pem' }, 'prod', { AWS_CA_BUNDLE: '/e.pem' }), { path: '/e.pem', from: 'AWS_CA_BUNDLE' });
    assert.deepEqual(caBundleSetting({ ca_bundle: '/p.pem' }, 'prod', {}), { path: '/p.pem', from: 'ca_bundle in profile prod' });
    assert.equal(caBundleSetting(undefined, undefined, {}), undefined);
  });

  test('a region is a host label', () => {
    for (const r of ['us-east-1', 'eu-west-1', 'cn-north-1', 'us-gov-west-1', 'aws-global', 'x']) assert.equal(validRegion(r), true, r);
    for (const r of ['x@127.0.0.1:47443#', 'eu-west-1.evil.com', 'EU-WEST-1', '-eu', 'eu-', '', 'a/b', 'a'.repeat(64), 'eu west']) assert.equal(validRegion(r), false, r);
    const e = throwsKeyroleError(() => checkRegion('x@127.0.0.1:47443#', 'AWS_REGION'), 'BadRegion');
    assert.equal(e.line(), 'keyrole: region "x@127.0.0.1:47443#" (from AWS_REGION) is not a region name; set it to a region such as eu-west-1 (lower-case letters, digits and hyphens)');
  });
});

describe('credentials as they enter', () => {
  const good = { accessKeyId: 'ASIAEXAMPLEEXAMPLE01', secretAccessKey: 's'.repeat(40), sessionToken: 'IQoJb3JpZ2luX2Vj/+=='.repeat(20), expiration: new Date('2030-01-01T00:00:00Z') };
  test('AWS-shaped credentials pass', () => assert.equal(credentialProblem(good), undefined));
  test('quotes, newlines, controls, wrong lengths and bad dates do not', () => {
    for (const bad of [{ accessKeyId: 'ASIA"; rm -rf /' }, { accessKeyId: 'asiaexampleexample01' }, { accessKeyId: 'ASIA' }, { secretAccessKey: `${'s'.repeat(39)}\n` },
      { secretAccessKey: 's'.repeat(200) }, { sessionToken: `${'t'.repeat(100)}'` }, { sessionToken: `${'t'.repeat(100)}\u001b[2J` }, { sessionToken: 't'.repeat(9000) },
      { expiration: new Date(NaN) }, { expiration: new Date('+010000-01-01T00:00:00Z') }, { expiration: '2030-01-01' }, { accessKeyId: undefined }]) {
      assert.ok(credentialProblem({ ...good, ...bad }), JSON.stringify(bad));
    }
  });
});
