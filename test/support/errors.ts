// The one check that a call failed the way keyrole fails: a KeyroleError with the expected
// code whose stderr line is one `keyrole: …` line. For assert.throws / assert.rejects, and
// wrapped for tests that look at the error afterwards.

import assert from 'node:assert/strict';
import { KeyroleError, type ErrorCode } from '../../src/util/errors.ts';

/** What the error's text must match: its message, or the whole stderr line (message; fix). */
export interface ErrorText { message?: RegExp; line?: RegExp }

/** A validation function for assert.throws / assert.rejects. */
export function expectKeyroleError(code: ErrorCode, text: ErrorText = {}): (e: unknown) => true {
  return (e) => {
    assert.ok(e instanceof KeyroleError, `expected a KeyroleError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.line());
    assert.match(e.line(), /^keyrole: [^\r\n]+$/, 'one line on stderr');
    if (text.message) assert.match(e.message, text.message);
    if (text.line) assert.match(e.line(), text.line);
    return true;
  };
}

/** `fn` throws that KeyroleError; returns it. */
export function throwsKeyroleError(fn: () => unknown, code: ErrorCode, text?: ErrorText): KeyroleError {
  let caught: unknown;
  assert.throws(fn, (e: unknown) => {
    caught = e;
    return expectKeyroleError(code, text)(e);
  });
  return caught as KeyroleError;
}

/** The promise, or what `fn` returns, rejects with that KeyroleError (a synchronous throw of `fn` counts too); returns it. */
export async function rejectsKeyroleError(p: Promise<unknown> | (() => unknown), code: ErrorCode, text?: ErrorText): Promise<KeyroleError> {
  let caught: unknown;
  await assert.rejects(typeof p === 'function' ? async () => p() : p, (e: unknown) => {
    caught = e;
    return expectKeyroleError(code, text)(e);
  });
  return caught as KeyroleError;
}
