// stsError: every way an STS call fails becomes one KeyroleError with one line.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { endpointLabel, stsError, type StsTarget } from '../../src/aws/sts.ts';
import { KeyroleError, isTransient } from '../../src/util/errors.ts';

const REGIONAL: StsTarget = { region: 'eu-west-1', endpoint: undefined, endpointFrom: 'regional (sts.eu-west-1.amazonaws.com)' };
const LOCAL: StsTarget = { region: 'us-east-1', endpoint: 'http://127.0.0.1:4566', endpointFrom: 'AWS_ENDPOINT_URL_STS' };
const WHAT = 'AssumeRole arn:aws:iam::111122223333:role/Admin for 3600 s';

/** An SDK service exception as @aws-sdk/client-sts throws it. */
function svc(name: string, message: string, status = 400): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: status, requestId: 'req-1' } });
}

function map(err: unknown, t: StsTarget = REGIONAL): KeyroleError {
  const e = stsError(err, t, WHAT);
  assert.ok(e instanceof KeyroleError);
  const line = e.line();
  assert.match(line, /^keyrole: /);
  assert.doesNotMatch(line, /[\r\n]/, `one line: ${JSON.stringify(line)}`);
  return e;
}

describe('stsError mappings', () => {
  test('AccessDenied', () => {
    const e = map(svc('AccessDenied', 'User: arn:aws:iam::111122223333:user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/Admin', 403));
    assert.equal(e.code, 'AccessDenied');
    assert.match(e.message, /^STS denied AssumeRole arn:aws:iam::111122223333:role\/Admin for 3600 s: AccessDenied: User: /);
    assert.equal(e.transient, false);
    assert.match(e.fix ?? '', /trust policy/);
  });

  test('AccessDeniedException is AccessDenied too', () => {
    assert.equal(map(svc('AccessDeniedException', 'no', 403)).code, 'AccessDenied');
  });

  test('ExpiredToken', () => {
    const e = map(svc('ExpiredToken', 'The security token included in the request is expired'));
    assert.equal(e.code, 'ExpiredToken');
    assert.match(e.message, /security token is expired/);
    assert.match(e.fix ?? '', /cache clear/);
  });

  test('ExpiredTokenException is ExpiredToken too', () => {
    assert.equal(map(svc('ExpiredTokenException', 'expired')).code, 'ExpiredToken');
  });

  test('InvalidClientTokenId', () => {
    const e = map(svc('InvalidClientTokenId', 'The security token included in the request is invalid.', 403));
    assert.equal(e.code, 'InvalidClientTokenId');
    assert.match(e.fix ?? '', /keyrole setup <source> --force/);
  });

  test('SignatureDoesNotMatch, plain: the wrong secret', () => {
    const e = map(svc('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.', 403));
    assert.equal(e.code, 'SignatureDoesNotMatch');
    assert.match(e.message, /secret access key does not belong/);
  });

  test('SignatureDoesNotMatch "Signature expired": ClockSkew with the OS fixes', () => {
    const e = map(svc('SignatureDoesNotMatch', 'Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z (20240101T003000Z - 15 min.)', 403));
    assert.equal(e.code, 'ClockSkew');
    assert.match(e.message, /clock is off by more than 15 minutes \(Signature expired: 20240101T000000Z/);
    assert.match(e.fix ?? '', /timedatectl set-ntp true/);
    assert.match(e.fix ?? '', /w32tm \/resync/);
  });

  test('SignatureDoesNotMatch "Signature not yet current": ClockSkew', () => {
    const e = map(svc('SignatureDoesNotMatch', 'Signature not yet current: 20240101T010000Z is still later than 20240101T001500Z (20240101T000000Z + 15 min.)', 403));
    assert.equal(e.code, 'ClockSkew');
  });

  test('ValidationError from role chaining: the 1-hour cap', () => {
    const e = map(svc('ValidationError', 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.'));
    assert.equal(e.code, 'DurationTooLong');
    assert.match(e.fix ?? '', /at most 3600 s/);
  });

  test('ValidationError from MaxSessionDuration: lower it or raise the role maximum', () => {
    const e = map(svc('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.'));
    assert.equal(e.code, 'DurationTooLong');
    assert.match(e.fix ?? '', /raise the role's maximum session duration/);
    assert.doesNotMatch(e.fix ?? '', /3600/);
  });

  test('other ValidationError', () => {
    const e = map(svc('ValidationError', "1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint"));
    assert.equal(e.code, 'ValidationError');
    assert.match(e.message, /^STS refused AssumeRole/);
  });

  test('RegionDisabledException names the region', () => {
    const e = map(svc('RegionDisabledException', 'STS is not activated in this region for account:111122223333.', 403));
    assert.equal(e.code, 'RegionDisabled');
    assert.match(e.message, /region eu-west-1/);
  });

  test('MalformedPolicyDocument and PackedPolicyTooLarge keep their codes', () => {
    assert.equal(map(svc('MalformedPolicyDocument', 'bad')).code, 'MalformedPolicyDocument');
    assert.equal(map(svc('PackedPolicyTooLarge', 'big')).code, 'PackedPolicyTooLarge');
  });

  test('an unknown error with an HTTP status', () => {
    const e = map(svc('InternalFailure', 'We encountered an internal error.', 500));
    assert.equal(e.code, 'StsError');
    assert.equal(e.message, `STS ${WHAT} failed: InternalFailure (HTTP 500): We encountered an internal error.`);
    assert.match(e.fix ?? '', /sts\.eu-west-1\.amazonaws\.com/);
  });

  test('an unknown error without a status', () => {
    const e = map(new TypeError('Cannot read properties of undefined'));
    assert.equal(e.code, 'StsError');
    assert.equal(e.message, `STS ${WHAT} failed: TypeError: Cannot read properties of undefined`);
  });

  test('an HTTP error whose text mentions a timeout is not called a network failure', () => {
    const e = map(svc('ServiceUnavailable', 'Request timed out on the server side', 503));
    assert.equal(e.code, 'StsError');
    assert.match(e.message, /HTTP 503/);
  });

  test('a KeyroleError passes through unchanged', () => {
    const k = new KeyroleError('StsMalformed', 'x', 'y');
    assert.equal(stsError(k, REGIONAL, WHAT), k);
  });
});

describe('stsError: network failures', () => {
  const cases: [string, unknown][] = [
    ['{ code: ECONNREFUSED }', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), { code: 'ECONNREFUSED' })],
    ['a bare { code: ECONNREFUSED } object', { code: 'ECONNREFUSED' }],
    ['ENOTFOUND', Object.assign(new Error('getaddrinfo ENOTFOUND sts.example.invalid'), { code: 'ENOTFOUND' })],
    ['EAI_AGAIN', Object.assign(new Error('getaddrinfo EAI_AGAIN sts.eu-west-1.amazonaws.com'), { code: 'EAI_AGAIN' })],
    ['ECONNRESET', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['ETIMEDOUT as the name', Object.assign(new Error('x'), { name: 'ETIMEDOUT' })],
    ['{ name: TimeoutError }', { name: 'TimeoutError', message: 'The operation was aborted due to timeout' }],
    ['a bare { name: TimeoutError } object', { name: 'TimeoutError' }],
    ['AbortError', Object.assign(new Error('This operation was aborted'), { name: 'AbortError' })],
    ['socket hang up (Node gives it ECONNRESET)', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['the SDK handler\'s connection timeout', Object.assign(new Error('@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 3000 ms.'), { name: 'TimeoutError' })],
  ];
  for (const [what, err] of cases) {
    test(what, () => {
      const e = map(err, LOCAL);
      assert.equal(e.code, 'StsUnreachable');
      assert.equal(e.transient, true);
      assert.match(e.message, /^cannot reach STS at http:\/\/127\.0\.0\.1:4566 \(/);
      assert.match(e.fix ?? '', /\(AWS_ENDPOINT_URL_STS\)/);
    });
  }

  test('an attempt that got no answer (the SDK handler\'s requestTimeout): the line says how long it waited', () => {
    const e = map(Object.assign(new Error('@smithy/node-http-handler - [ERROR] a request has exceeded the configured 5000 ms requestTimeout.'), { name: 'TimeoutError', code: 'ETIMEDOUT' }), LOCAL);
    assert.equal(e.message, 'cannot reach STS at http://127.0.0.1:4566 (no answer within 5 s of a request, 12 s in all)');
  });

  test('an answer the SDK could not parse is StsMalformed, with the parser\'s words', () => {
    const e = map(Object.assign(new Error('@aws-sdk XML parse error: missing closing tag </AccessKeyId>.\n  Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.'), { $metadata: { httpStatusCode: 200 } }), LOCAL);
    assert.equal(e.code, 'StsMalformed');
    assert.match(e.message, /sent an answer keyrole cannot read \(XML parse error: missing closing tag <\/AccessKeyId>\.\)$/);
  });

  test('an untrusted TLS certificate is TlsUntrusted, pointing at AWS_CA_BUNDLE', () => {
    const e = map(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }));
    assert.equal(e.code, 'TlsUntrusted');
    assert.match(e.fix ?? '', /AWS_CA_BUNDLE or the profile's ca_bundle/);
  });

  test('the regional endpoint is named when none is configured', () => {
    assert.equal(endpointLabel(REGIONAL), 'https://sts.eu-west-1.amazonaws.com');
    assert.match(map({ code: 'ECONNREFUSED' }).message, /https:\/\/sts\.eu-west-1\.amazonaws\.com/);
  });
});

describe('stsError: one line, always', () => {
  test('a multi-line message from any mapping stays on one line', () => {
    const multi = 'first line\nsecond line\r\n  third';
    for (const name of ['AccessDenied', 'ExpiredToken', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'ValidationError', 'RegionDisabledException', 'Whatever']) {
      const e = map(svc(name, multi));
      assert.ok(e.line().includes('first line second line third') || name === 'SignatureDoesNotMatch', `${name}: ${e.line()}`);
    }
    const skew = map(svc('SignatureDoesNotMatch', 'Signature expired:\n 20240101T000000Z is now earlier'));
    assert.equal(skew.code, 'ClockSkew');
    assert.equal(map(Object.assign(new Error('connect\nECONNREFUSED'), { code: 'ECONNREFUSED' })).code, 'StsUnreachable');
  });

  test('a thrown string', () => {
    const e = map('boom');
    assert.equal(e.code, 'StsError');
    assert.match(e.message, /boom/);
  });
});

describe('stsError: a refusal is a refusal', () => {
  // Issue 20: only the network, 5xx and throttling may be ridden out on cached credentials.
  const refusals: [string, number][] = [['AccessDenied', 403], ['InvalidClientTokenId', 403], ['ExpiredToken', 400], ['SignatureDoesNotMatch', 403],
    ['ValidationError', 400], ['RegionDisabledException', 403], ['IDPRejectedClaim', 403], ['SomethingNew', 400], ['Unknown', 403], ['Unknown', 404]];
  for (const [name, status] of refusals) {
    test(`${name} (HTTP ${status}) is not transient`, () => {
      const e = map(svc(name, 'no', status));
      assert.equal(e.transient, false, e.line());
      assert.equal(isTransient(e), false);
    });
  }
  const transient: [string, number][] = [['InternalFailure', 500], ['ServiceUnavailable', 503], ['Throttling', 400], ['Anything', 429], ['Unknown', 502]];
  for (const [name, status] of transient) {
    test(`${name} (HTTP ${status}) is transient`, () => assert.equal(isTransient(map(svc(name, 'busy', status))), true));
  }

  test('an unknown 4xx is StsRefused, named by its code and status', () => {
    const e = map(svc('SomethingNew', 'Go away', 403));
    assert.equal(e.code, 'StsRefused');
    assert.equal(e.message, `STS refused ${WHAT}: SomethingNew (HTTP 403): Go away`);
  });

  test('a 403 without any AWS error in it is a refusal, not "retry later"', () => {
    const e = map(svc('Unknown', 'UnknownError', 403));
    assert.equal(e.code, 'StsRefused');
    assert.match(e.message, /an error without a code \(HTTP 403\)/);
  });

  test('X-Amzn-ErrorType names an error the body does not (other STS implementations)', () => {
    const e = stsError(svc('Unknown', 'UnknownError', 403), LOCAL, WHAT, { status: 403, errorType: 'AccessDenied:http://internal.amazon.com/coral/com.amazon.coral.service/' });
    assert.equal(e.code, 'AccessDenied');
    assert.equal(e.transient, false);
  });

  test('escape sequences in the service\'s message do not reach the terminal', () => {
    const e = map(svc('AccessDenied', 'denied\u001b]0;evil\u0007 \u001b[2Jnow\u202e', 403));
    assert.equal(e.message, `STS denied ${WHAT}: AccessDenied: denied now`);
  });
});
