// shlexSplit against Python's shlex.split, which botocore uses to run credential_process
// without a shell. Expected values were produced by CPython's shlex on this machine.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shlexQuote, shlexSplit } from '../../src/config/shlex.ts';

// [input, shlex.split(input)] or [input, "ERR:<ValueError message>"]
const CORPUS: [string, string[] | string][] = [
  ["keyrole process prod", ["keyrole", "process", "prod"]],
  ["  /opt/key role/keyrole   process   prod ", ["/opt/key", "role/keyrole", "process", "prod"]],
  ["'/opt/key role/keyrole' process prod", ["/opt/key role/keyrole", "process", "prod"]],
  ["\"/opt/key role/keyrole\" process \"my prod\"", ["/opt/key role/keyrole", "process", "my prod"]],
  ["keyrole process pr\\ od", ["keyrole", "process", "pr od"]],
  ["~/bin/keyrole process prod", ["~/bin/keyrole", "process", "prod"]],
  ["$HOME/bin/keyrole process prod", ["$HOME/bin/keyrole", "process", "prod"]],
  ["keyrole process 'it'\\''s'", ["keyrole", "process", "it's"]],
  ["keyrole \"a\\\"b\" \"c\\\\d\" \"e\\f\"", ["keyrole", "a\"b", "c\\d", "e\\f"]],
  ["keyrole a''b \"\"", ["keyrole", "ab", ""]],
  ["keyrole 'unclosed", "ERR:No closing quotation"],
  ["keyrole \"unclosed", "ERR:No closing quotation"],
  ["keyrole trailing\\", "ERR:No escaped character"],
  ["keyrole # not a comment", ["keyrole", "#", "not", "a", "comment"]],
  ["a\tb\nc", ["a", "b", "c"]],
  ["keyrole x=\"y z\"", ["keyrole", "x=y z"]],
  ["", []],
];

for (const [input, expected] of CORPUS) {
  test(`shlex.split(${JSON.stringify(input)})`, () => {
    if (typeof expected === 'string') {
      assert.throws(() => shlexSplit(input), { message: expected.slice(4) });
    } else {
      assert.deepEqual(shlexSplit(input), expected);
    }
  });
}

test('shlexQuote round-trips through shlexSplit', () => {
  for (const word of ['plain', '/opt/key role/keyrole', "it's", 'a"b', '', '$HOME', 'x\\y', 'tab\there']) {
    assert.deepEqual(shlexSplit(`keyrole ${shlexQuote(word)} process`), ['keyrole', word, 'process']);
  }
  assert.equal(shlexQuote('/usr/local/bin/keyrole'), '/usr/local/bin/keyrole');
});
