// Issue 24: waiters on an IAM Identity Center role wait as long as the browser sign-in may
// take (its 10 minutes: src/sso/authcode.ts loginTimeoutMs), not an MFA prompt's 2 minutes,
// after which they failed with LockPrompt while the person was still signing in.
//
// The real lock (a socket in a private directory, the holder and the waiter in this process
// as two keyrole processes would be) and the real choice of bounds for a planned layer
// (src/credentials/cached.ts waitBoundsFor); only the clock is the test's: node:test's mock
// timers stand for setTimeout and Date, so ten minutes pass without waiting for them. The
// ticks start once the waiter has seen the holder's `prompt` (its debug line says so),
// never after a fixed sleep.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { singleFlight, type HeldLock, type WaitBounds } from '../../src/credentials/lock.ts';
import { waitBoundsFor } from '../../src/credentials/cached.ts';
import { planProfile, type Layer } from '../../src/credentials/plan.ts';
import { resolveSettings } from '../../src/config/settings.ts';
import { configSections, parseIni } from '../../src/config/ini.ts';
import type { AwsFiles } from '../../src/config/files.ts';
import { loginTimeoutMs } from '../../src/sso/authcode.ts';
import { enableDebug } from '../../src/util/debug.ts';
import { KeyroleError } from '../../src/util/errors.ts';
import { withEnv } from '../support/env.ts';
import { tempDir } from '../support/tmp.ts';

const dir = tempDir('sign-in-wait-');
const CONFIG = `[profile sso-read]
keyrole_sso_session = corp
keyrole_sso_account_id = 111122223333
keyrole_sso_role_name = ReadOnly

[profile mfa-admin]
keyrole_source = alice
keyrole_mfa_serial = arn:aws:iam::111122223333:mfa/alice
keyrole_role_arn = arn:aws:iam::111122223333:role/Admin

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1
`;

function layer(profile: string): Layer {
  const files: AwsFiles = { configPath: '/nonexistent/config', credentialsPath: '/nonexistent/credentials', config: configSections(parseIni(CONFIG)), credentials: {} };
  return planProfile(files, resolveSettings(files, profile, {}, 'alice'));
}

const MIN = 60_000;

/**
 * A holder at a prompt and one waiter on its lock with `bounds`; the clock then moves to each
 * of `at` (ms after the waiter saw the prompt) and the waiter's state is read there; then the
 * holder answers. Returns what the waiter was at each moment, and its outcome.
 */
async function waitOnPrompt(t: TestContext, bounds: WaitBounds, at: number[]): Promise<{ states: string[]; outcome: string }> {
  const name = `sign-in-wait-${process.pid}-${randomBytes(6).toString('hex')}`;
  let sawPrompt!: () => void;
  const prompted = new Promise<void>((r) => { sawPrompt = r; });
  const write = process.stderr.write.bind(process.stderr);
  t.mock.method(process.stderr, 'write', (chunk: string | Uint8Array, ...rest: []) => {
    if (String(chunk).includes('the lock holder is now waiting for input')) sawPrompt();
    return write(chunk, ...rest);
  });
  enableDebug(true);
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.now() });
  let stored: string | undefined;
  let answer!: () => void;
  const answered = new Promise<void>((r) => { answer = r; });
  let outcome = 'waiting';
  let waiter: Promise<unknown> | undefined;
  const holder = singleFlight(name, () => stored, async (lock: HeldLock) => {
    lock.setState('prompt');
    waiter = singleFlight(name, () => stored, async () => 'the waiter ran the work', () => dir, bounds).then(
      (v) => { outcome = `got ${String(v)}`; },
      (e: unknown) => { outcome = e instanceof KeyroleError ? e.code : String(e); });
    await answered;
    stored = 'signed in';
    return stored;
  }, () => dir, bounds);
  try {
    await prompted;
    const states: string[] = [];
    let now = 0;
    for (const ms of at) {
      t.mock.timers.tick(ms - now);
      now = ms;
      // The timer's callback settles the waiter's promise; its handlers run on the next turns.
      for (let i = 0; i < 5; i++) await nextTurn();
      states.push(outcome);
    }
    answer();
    assert.equal(await holder, 'signed in');
    await waiter;
    return { states, outcome };
  } finally {
    enableDebug(false);
    t.mock.timers.reset();
  }
}

test('an SSO role\'s waiter waits past two minutes, for as long as the browser sign-in may take, and gets the result', { timeout: 120_000 }, async (t) => {
  const bounds = withEnv({}, () => waitBoundsFor(layer('sso-read')), ['KEYROLE_PROMPT_WAIT_SECONDS']);
  const signIn = withEnv({}, () => loginTimeoutMs(), ['KEYROLE_SSO_LOGIN_TIMEOUT']);
  assert.equal(signIn, 10 * MIN);
  const r = await waitOnPrompt(t, bounds, [2 * MIN + 5_000, signIn - 5_000]);
  assert.deepEqual(r.states, ['waiting', 'waiting'], 'still waiting past 2 min and at the end of the sign-in');
  assert.equal(r.outcome, 'got signed in');
});

test('an MFA role\'s waiter gives up on a prompt after its two minutes (LockPrompt): the bound differs by layer', { timeout: 120_000 }, async (t) => {
  const bounds = withEnv({}, () => waitBoundsFor(layer('mfa-admin')), ['KEYROLE_PROMPT_WAIT_SECONDS']);
  const r = await waitOnPrompt(t, bounds, [2 * MIN - 5_000, 2 * MIN + 5_000]);
  assert.deepEqual(r.states, ['waiting', 'LockPrompt']);
});
