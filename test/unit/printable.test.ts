// src/util/printable.ts: outside text loses escape sequences and control characters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printable } from '../../src/util/printable.ts';

test('printable removes CSI, OSC and two-byte escape sequences whole', () => {
  assert.equal(printable('a\x1b[31mred\x1b[0m b'), 'ared b');
  assert.equal(printable('x\x1b]0;title\x07y'), 'xy');
  assert.equal(printable('x\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\y'), 'xlinky');
  assert.equal(printable('a\x1bcb'), 'ab');
  assert.equal(printable('a\u009b2Jb'), 'ab');
});

test('printable removes C0, C1 and bidi controls; newlines become spaces', () => {
  assert.equal(printable('one\ntwo\r\nthree\tfour'), 'one two three four');
  assert.equal(printable('a\x00b\x07c\x7fd\x85e'), 'abcde');
  assert.equal(printable('evil\u202Etxt.exe'), 'eviltxt.exe');
  assert.equal(printable('plain text: ünïcode ok'), 'plain text: ünïcode ok');
});
