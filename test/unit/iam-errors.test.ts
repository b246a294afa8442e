// iamError: every IAM error code keyrole can meet maps to one KeyroleError, one line of
// cause and fix, case by case (the SDK's exception names and the Query protocol codes).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { IAM_ERRORS, iamError, iamRegion, resolveIamTarget, type IamTarget } from '../../src/aws/iam.ts';
import { KeyroleError } from '../../src/util/errors.ts';
import type { AwsFiles } from '../../src/config/files.ts';

const T: IamTarget = { region: 'us-east-1', endpoint: undefined, endpointFrom: 'global (iam.amazonaws.com)' };
const WHAT = 'CreateAccessKey';

function svc(name: string, message: string, status = 400): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: status } });
}

function map(err: unknown): KeyroleError {
  const e = iamError(err, T, WHAT);
  assert.ok(e instanceof KeyroleError);
  assert.match(e.line(), /^keyrole: [^\n]+; [^\n]+$/);
  assert.ok(e.fix && e.fix.length > 10, 'every mapping carries a fix');
  return e;
}

describe('iamError', () => {
  const cases: [name: string, message: string, code: string, cause: RegExp, fix: RegExp][] = [
    ['AccessDenied', 'User: arn:aws:iam::1:user/alice is not authorized to perform: iam:CreateAccessKey', 'IamAccessDenied', /^IAM denied CreateAccessKey: User: /, /iam:CreateAccessKey/],
    ['LimitExceededException', 'Cannot exceed quota for AccessKeysPerUser: 2', 'AccessKeyLimit', /two access keys.*Cannot exceed quota for AccessKeysPerUser: 2/, /delete the key that is not in use/],
    ['NoSuchEntityException', 'The Access Key with id AKIA… cannot be found.', 'IamNoSuchEntity', /cannot be found/, /already gone/],
    ['InvalidClientTokenId', 'The security token included in the request is invalid.', 'InvalidClientTokenId', /does not recognise/, /keyrole setup <source> --force/],
    ['SignatureDoesNotMatch', 'The request signature we calculated does not match', 'SignatureDoesNotMatch', /stored secret does not belong/, /keyrole setup/],
    ['ExpiredToken', 'The security token included in the request is expired', 'ExpiredToken', /expired/, /long-term key/],
    ['InvalidUserTypeException', 'The user type is not valid', 'IamInvalidUserType', /this kind of principal/, /AKIA/],
    ['ValidationError', 'Must specify userName when calling with non-User credentials', 'IamValidation', /Must specify userName/, /not a role or session key/],
    ['InvalidInputException', 'bad id', 'IamInvalidInput', /invalid: bad id/, /keyrole list/],
    ['ConcurrentModificationException', 'busy', 'IamConcurrentModification', /same moment/, /wait a few seconds/],
    ['EntityTemporarilyUnmodifiableException', 'later', 'IamTemporarilyUnmodifiable', /right now/, /wait a minute/],
    ['ServiceFailureException', 'Request processing has failed due to an internal error', 'IamServiceFailure', /on its side/, /retry in a minute/],
    ['Throttling', 'Rate exceeded', 'IamThrottled', /throttled/, /wait a minute/],
  ];
  for (const [name, message, code, cause, fix] of cases) {
    test(`${name} → ${code}`, () => {
      const e = map(svc(name, message));
      assert.equal(e.code, code);
      assert.match(e.message, cause);
      assert.match(e.fix ?? '', fix);
    });
  }

  test('every row of the table is covered above, by its code or an alias', () => {
    const covered = new Set(cases.map(([, , code]) => code));
    for (const row of Object.values(IAM_ERRORS)) assert.ok(covered.has(row.code), row.code);
  });

  test('every row is reached by the SDK\'s exception name (<Code>Exception) and by the Query code; RequestLimitExceeded throttles', () => {
    for (const [code, row] of Object.entries(IAM_ERRORS)) {
      assert.equal(map(svc(`${code}Exception`, 'm')).code, row.code, `${code}Exception`);
      assert.equal(map(svc(code, 'm')).code, row.code, code);
    }
    for (const other of [svc('RequestLimitExceeded', 'Rate exceeded'), svc('SlowDown', 'Rate exceeded'), svc('Weird', 'Rate exceeded', 429)]) {
      const e = map(other);
      assert.equal(e.code, 'IamThrottled');
      assert.equal(e.message, 'IAM throttled CreateAccessKey (Rate exceeded)');
    }
  });

  test('a Query-protocol Code on a generic exception is mapped too', () => {
    const e = map(Object.assign(new Error('Cannot exceed quota for AccessKeysPerUser: 2'), { name: 'IAMServiceException', Code: 'LimitExceeded', $metadata: { httpStatusCode: 409 } }));
    assert.equal(e.code, 'AccessKeyLimit');
  });

  test('a skewed clock is named as such, whatever the code', () => {
    const e = map(svc('SignatureDoesNotMatch', 'Signature expired: 20260101T000000Z is now earlier than 20260101T001600Z (20260101T003100Z - 15 min.)'));
    assert.equal(e.code, 'ClockSkew');
    assert.match(e.fix ?? '', /timedatectl/);
  });

  test('network failures name the endpoint and where it came from', () => {
    const e = map(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }));
    assert.equal(e.code, 'IamUnreachable');
    assert.match(e.message, /cannot reach IAM at https:\/\/iam\.amazonaws\.com/);
    assert.match(e.fix ?? '', /global \(iam\.amazonaws\.com\)/);
    assert.equal(map(Object.assign(new Error('aborted'), { name: 'TimeoutError' })).code, 'IamUnreachable');
  });

  test('any other 4xx is a refusal, named by its code, status and message, on one line', () => {
    const e = map(svc('WeirdError', 'line one\nline two', 418));
    assert.equal(e.code, 'IamRefused');
    assert.equal(e.transient, false);
    assert.match(e.message, /^IAM refused CreateAccessKey: WeirdError \(HTTP 418\): line one line two$/);
  });

  test('a 5xx is a failure of the service: transient', () => {
    const e = map(svc('InternalFailure', 'oops', 500));
    assert.equal(e.code, 'IamError');
    assert.equal(e.transient, true);
    assert.match(e.message, /^IAM CreateAccessKey failed: InternalFailure \(HTTP 500\): oops$/);
  });

  test('an untrusted TLS certificate is named as such', () => {
    const e = map(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }));
    assert.equal(e.code, 'TlsUntrusted');
    assert.match(e.fix ?? '', /AWS_CA_BUNDLE/);
  });

  test('escape sequences from the service do not reach the terminal', () => {
    const e = map(svc('WeirdError', 'a\u001b]0;pwned\u0007b\u001b[31mc', 400));
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(e.line(), /[\u0000-\u001f\u007f-\u009f]/);
    assert.match(e.message, /abc$/);
  });

  test('a KeyroleError passes through unchanged', () => {
    const k = new KeyroleError('IamMalformed', 'y', 'z');
    assert.equal(iamError(k, T, WHAT), k);
  });
});

describe('IAM endpoint and region', () => {
  const files = (config: AwsFiles['config']): AwsFiles => ({ configPath: '/c', credentialsPath: '/k', config, credentials: {} });
  const withEnv = (env: Record<string, string | undefined>, fn: () => void) => {
    const saved: Record<string, string | undefined> = {};
    for (const k of Object.keys(env)) { saved[k] = process.env[k]; if (env[k] === undefined) delete process.env[k]; else process.env[k] = env[k]; }
    try { fn(); } finally { for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; } }
  };
  const clean = { AWS_ENDPOINT_URL_IAM: undefined, AWS_ENDPOINT_URL: undefined, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: undefined };

  test('AWS_ENDPOINT_URL_IAM, then AWS_ENDPOINT_URL, then [services] iam.endpoint_url, then endpoint_url, then global', () => {
    const f = files({ 'services.local': { 'iam.endpoint_url': 'http://svc' } });
    const p = { services: 'local', endpoint_url: 'http://profile' };
    withEnv({ ...clean, AWS_ENDPOINT_URL_IAM: 'http://iam', AWS_ENDPOINT_URL: 'http://all' }, () => assert.equal(resolveIamTarget(f, p).endpoint, 'http://iam'));
    withEnv({ ...clean, AWS_ENDPOINT_URL: 'http://all' }, () => assert.equal(resolveIamTarget(f, p).endpoint, 'http://all'));
    withEnv(clean, () => assert.deepEqual(resolveIamTarget(f, p), { region: 'us-east-1', endpoint: 'http://svc', endpointFrom: '[services local] iam.endpoint_url' }));
    withEnv(clean, () => assert.equal(resolveIamTarget(f, { endpoint_url: 'http://profile' }).endpoint, 'http://profile'));
    withEnv(clean, () => assert.equal(resolveIamTarget(f, {}).endpoint, undefined));
    withEnv({ ...clean, AWS_ENDPOINT_URL_IAM: 'http://iam', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, () => assert.equal(resolveIamTarget(f, p).endpoint, undefined));
  });

  test('IAM is signed in the partition\'s home region', () => {
    assert.equal(iamRegion('eu-west-1'), 'us-east-1');
    assert.equal(iamRegion('cn-northwest-1'), 'cn-north-1');
    assert.equal(iamRegion('us-gov-east-1'), 'us-gov-west-1');
    assert.equal(iamRegion(undefined), 'us-east-1');
  });
});
