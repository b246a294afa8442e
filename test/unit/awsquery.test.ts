// keyrole's STS client signs by hand (src/aws/awsquery.ts says why). Its signature must be the
// one AWS's own signer (@smithy/signature-v4, as the SDKs use it) computes for the same
// request, for any parameters, keys, session token, path and time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../emulator/sigv4.ts';
import { parseXml, signQuery, uriEscape } from '../../src/aws/awsquery.ts';

async function awsSignature(url: URL, region: string, keys: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, body: string, headers: Record<string, string>, date: Date) {
  const signer = new SignatureV4({ credentials: keys, region, service: 'sts', sha256: NodeSha256, uriEscapePath: true, applyChecksum: false });
  const signed = await signer.sign({
    method: 'POST', protocol: url.protocol, hostname: url.hostname, port: url.port ? Number(url.port) : undefined, path: url.pathname, query: {},
    headers: { 'content-type': headers['content-type'], host: headers.host }, body,
  }, { signingDate: date });
  return signed.headers.authorization;
}

const keysArb = fc.record({
  accessKeyId: fc.stringMatching(/^(AKIA|ASIA)[A-Z0-9]{16}$/),
  secretAccessKey: fc.stringMatching(/^[A-Za-z0-9/+]{40}$/),
  sessionToken: fc.option(fc.stringMatching(/^[A-Za-z0-9/+=]{20,200}$/), { nil: undefined }),
});

test('the Authorization header is the one @smithy/signature-v4 computes', async () => {
  await fc.assert(fc.asyncProperty(
    keysArb,
    fc.dictionary(fc.stringMatching(/^[A-Za-z][A-Za-z0-9.]{0,20}$/), fc.string({ unit: 'binary', maxLength: 30 }), { maxKeys: 6 }),
    fc.constantFrom('http://127.0.0.1:4566', 'https://sts.eu-west-1.amazonaws.com', 'http://localhost:9000/prefix/sts', 'https://example.com/a b/./c/../d/'),
    fc.constantFrom('us-east-1', 'eu-west-1', 'cn-north-1'),
    fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }),
    async (keys, params, endpoint, region, date) => {
      const url = new URL(endpoint);
      const s = signQuery(url, region, 'sts', { Action: 'AssumeRole', Version: '2011-06-15', ...params }, keys, date);
      const aws = await awsSignature(url, region, keys, s.body, s.headers, date);
      assert.equal(s.headers.authorization, aws);
      if (keys.sessionToken) assert.equal(s.headers['x-amz-security-token'], keys.sessionToken);
    },
  ), { numRuns: 200 });
});

test('the form body is RFC 3986-encoded, the characters encodeURIComponent leaves alone included', () => {
  assert.equal(uriEscape("a!'()*b c/é"), 'a%21%27%28%29%2Ab%20c%2F%C3%A9');
  const s = signQuery(new URL('http://h'), 'us-east-1', 'sts', { Action: 'AssumeRole', RoleSessionName: 'x y' }, { accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'x'.repeat(40) }, new Date(0));
  assert.equal(s.body, 'Action=AssumeRole&RoleSessionName=x%20y');
  assert.equal(s.headers['content-length'], String(s.body.length));
  assert.equal(s.headers['x-amz-date'], '19700101T000000Z');
});

test('XML: a truncated answer is an XML parse error; entities are decoded', () => {
  assert.throws(() => parseXml('<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA'), /^Error: XML parse error: the document ends inside <AccessKeyId> \(line 1\)$/);
  assert.throws(() => parseXml('<a></b>'), /^Error: XML parse error: Expected closing tag 'a'/);
  const doc = parseXml('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Code>AccessDenied</Code><Message>a &amp; b &lt;c&gt;</Message></Error></ErrorResponse>');
  assert.deepEqual(doc.ErrorResponse, { Error: { Code: 'AccessDenied', Message: 'a & b <c>' } });
});
