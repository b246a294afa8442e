// The one duration formatter (src/util/duration.ts), at each precision its callers use.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, formatLeft } from '../../src/util/duration.ts';

const MIN = 60_000;

test('clock offsets: to the millisecond under a second, a tenth under a minute, then two units', () => {
  assert.equal(formatDuration(250), '250 ms');
  assert.equal(formatDuration(-7_300), '7.3 s');
  assert.equal(formatDuration(20 * MIN + 3_000), '20 min 3 s');
  assert.equal(formatDuration(3 * 3600_000 + 5 * MIN), '3 h 5 min');
  assert.equal(formatDuration(2 * 86_400_000 + 3600_000), '2 d 1 h');
});

test('a countdown in whole seconds', () => {
  assert.equal(formatDuration(600_000, 's'), '10 min 0 s');
  assert.equal(formatDuration(599_400, 's'), '9 min 59 s');
  assert.equal(formatDuration(42_600, 's'), '43 s');
  assert.equal(formatDuration(0, 's'), '0 s');
});

test('time left: whole minutes (rounded down, never more than is left), seconds under a minute, "expired" at zero', () => {
  assert.equal(formatLeft(59 * MIN + 59_999), '59 min');
  assert.equal(formatLeft(2 * 3600_000 + 5 * MIN + 30_000), '2 h 5 min');
  assert.equal(formatLeft(40_900), '40 s');
  assert.equal(formatLeft(36 * 3600_000), '1 d 12 h');
  assert.equal(formatLeft(0), 'expired');
  assert.equal(formatLeft(-5), 'expired');
});
