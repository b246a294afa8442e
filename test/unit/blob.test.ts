// credentialBlob / isoSeconds: the credential_process JSON contract.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { credentialBlob, isoSeconds } from '../../src/credentials/blob.ts';
import type { TempCredentials } from '../../src/aws/sts.ts';

const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

const creds: TempCredentials = {
  accessKeyId: 'ASIAEXAMPLEEXAMPLE01',
  secretAccessKey: 'secret/+value',
  sessionToken: 'FwoGZXIvYXdzE//token==',
  expiration: new Date('2030-06-01T12:34:56.789Z'),
  accountId: '111122223333',
  arn: 'arn:aws:sts::111122223333:assumed-role/Admin/keyrole-alice-bob',
};

describe('isoSeconds', () => {
  test('drops milliseconds and keeps a bare Z', () => {
    assert.equal(isoSeconds(new Date('2030-06-01T12:34:56.789Z')), '2030-06-01T12:34:56Z');
    assert.equal(isoSeconds(new Date('2030-06-01T12:34:56.000Z')), '2030-06-01T12:34:56Z');
    assert.equal(isoSeconds(new Date(0)), '1970-01-01T00:00:00Z');
  });

  test('always matches YYYY-MM-DDTHH:MM:SSZ and never rounds up', () => {
    for (const ms of [0, 1, 499, 500, 999, 1_700_000_000_999]) {
      const s = isoSeconds(new Date(ms));
      assert.match(s, ISO_SECONDS);
      assert.equal(Date.parse(s), Math.floor(ms / 1000) * 1000, `truncates ${ms}`);
    }
  });
});

describe('credentialBlob', () => {
  test('Version 1 (a number), keys, token, Expiration without milliseconds, AccountId', () => {
    const blob = JSON.parse(credentialBlob(creds)) as Record<string, unknown>;
    assert.deepEqual(blob, {
      Version: 1,
      AccessKeyId: 'ASIAEXAMPLEEXAMPLE01',
      SecretAccessKey: 'secret/+value',
      SessionToken: 'FwoGZXIvYXdzE//token==',
      Expiration: '2030-06-01T12:34:56Z',
      AccountId: '111122223333',
    });
    assert.equal(typeof blob.Version, 'number');
  });

  test('Version comes first, and the output is a single line of JSON', () => {
    const raw = credentialBlob(creds);
    assert.ok(raw.startsWith('{"Version":1,'), raw);
    assert.doesNotMatch(raw, /\n/);
  });

  test('no AccountId key when the account is not known', () => {
    const blob = JSON.parse(credentialBlob({ ...creds, accountId: undefined })) as Record<string, unknown>;
    assert.equal('AccountId' in blob, false);
    assert.equal(JSON.parse(credentialBlob({ ...creds, accountId: '' })).AccountId, undefined);
  });

  test('does not leak the role ARN or other fields', () => {
    const blob = JSON.parse(credentialBlob(creds)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(blob).sort(), ['AccessKeyId', 'AccountId', 'Expiration', 'SecretAccessKey', 'SessionToken', 'Version']);
  });

  test('an explicit expiration (the local clock frame) replaces the credentials one', () => {
    const local = new Date('2030-06-01T12:30:00.450Z');
    const blob = JSON.parse(credentialBlob(creds, local)) as Record<string, unknown>;
    assert.equal(blob.Expiration, '2030-06-01T12:30:00Z');
    assert.match(String(blob.Expiration), ISO_SECONDS);
  });
});
