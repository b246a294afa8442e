// src/util/json.ts: what keyrole reads back as a JSON object is an object or nothing, and
// the readers that ask it (keychain records, cache entries, the clock memory, the AWS CLI's
// sign-in cache) refuse the rest the same way.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { jsonObject } from '../../src/util/json.ts';
import { awsCachePath, readAwsCache } from '../../src/login/awscache.ts';
import { decodeRecord } from '../../src/login/record.ts';
import { withEnv } from '../support/env.ts';
import { tempDir } from '../support/tmp.ts';

const JUNK = ['', 'not json', '{', 'null', '[]', '[{"v":1}]', '7', '"text"', 'true'];

test('jsonObject: an object, and undefined for anything else', () => {
  assert.deepEqual(jsonObject('{"a":1,"b":{"c":[2]}}'), { a: 1, b: { c: [2] } });
  assert.deepEqual(jsonObject(' {} '), {});
  for (const raw of JUNK) assert.equal(jsonObject(raw), undefined, raw);
});

test('a login record that is not an object is nothing', () => {
  for (const raw of JUNK) assert.equal(decodeRecord(raw), undefined, raw);
});

test('regression: an AWS CLI sign-in cache file holding null or an array is named as not a JSON object (null threw a TypeError)', () => {
  const arn = 'arn:aws:iam::111122223333:user/alice';
  withEnv({ AWS_LOGIN_CACHE_DIRECTORY: tempDir('login-cache-') }, () => {
    for (const raw of ['null', '[]', '{']) {
      writeFileSync(awsCachePath(arn), raw);
      assert.deepEqual(readAwsCache(arn, 'us-east-1'), { path: awsCachePath(arn), problem: 'it is not a JSON object' }, raw);
    }
  });
});
