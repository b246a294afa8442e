// AWS's 1-hour rule and the way each profile's role is assumed (src/credentials/assume.ts),
// as the planner lays it out from a config: the layers, their durations, their keys, and
// the one-line refusal of a chained role over an hour.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { resolveSettings, type Overrides } from '../../src/config/settings.ts';
import type { AwsFiles, Section } from '../../src/config/files.ts';
import { asksForCode, layersOf, planProfile, type Layer } from '../../src/credentials/plan.ts';
import { withEnv } from '../support/env.ts';
import { expectKeyroleError } from '../support/errors.ts';

const ROLE = 'arn:aws:iam::111122223333:role/Admin';
const OTHER = 'arn:aws:iam::111122223333:role/ReadOnly';
const MFA = 'arn:aws:iam::111122223333:mfa/alice';
const SSO = { keyrole_sso_start_url: 'https://x.awsapps.com/start', keyrole_sso_region: 'eu-west-1', keyrole_sso_account_id: '111122223333', keyrole_sso_role_name: 'Admin' };

function plan(profiles: Record<string, Section>, name = 'p', o: Overrides = {}): Layer {
  const files: AwsFiles = { configPath: '/nonexistent/config', credentialsPath: '/nonexistent/credentials', config: profiles, credentials: {} };
  return withEnv({}, () => planProfile(files, resolveSettings(files, name, o, 'me')), ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']);
}

describe("a keychain source's role", () => {
  test('no MFA: AssumeRole with the long-term key for the duration asked, up to 43200 s', () => {
    const l = plan({ p: { keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_duration_seconds: '43200' } });
    assert.equal(l.way, 'keys');
    assert.equal(l.durationSeconds, 43200);
    assert.equal(l.under, undefined);
    assert.match(l.how!, /^AssumeRole for 43200 s with source "alice"'s long-term key$/);
  });

  test('MFA, up to an hour: assumed with the shared MFA session, which two roles of the source share (one code a day)', () => {
    const base = { keyrole_source: 'alice', keyrole_mfa_serial: MFA };
    const a = plan({ p: { ...base, keyrole_role_arn: ROLE } });
    const b = plan({ p: { ...base, keyrole_role_arn: OTHER, keyrole_duration_seconds: '900' } });
    assert.equal(a.way, 'mfa-session');
    assert.deepEqual(layersOf(a).map((l) => l.kind), ['role', 'mfa-session']);
    assert.equal(a.under!.key, b.under!.key, 'one MFA session for both roles');
    assert.equal(asksForCode(a), false);
    assert.match(a.how!, /with the MFA session of source "alice" \(one code a day/);
  });

  // The bug: a role over an hour was assumed with the MFA session, which AWS refuses on every refresh.
  test('MFA, over an hour: the code goes with AssumeRole on the long-term key, so the role lasts as asked', () => {
    for (const d of ['3601', '7200', '43200']) {
      const l = plan({ p: { keyrole_source: 'alice', keyrole_mfa_serial: MFA, keyrole_role_arn: ROLE, keyrole_duration_seconds: d } });
      assert.equal(l.way, 'keys-mfa', d);
      assert.equal(l.under, undefined, 'no MFA session under it');
      assert.equal(l.durationSeconds, Number(d));
      assert.equal(asksForCode(l), true, 'its entry asks for a code: kept where it survives a reboot, named by status');
      assert.match(l.how!, new RegExp(`^AssumeRole for ${d} s with source "alice"'s long-term key and an MFA code sent with it .*over 3600 s`));
    }
    // --duration decides it as the profile's value does.
    assert.equal(plan({ p: { keyrole_source: 'alice', keyrole_mfa_serial: MFA, keyrole_role_arn: ROLE } }, 'p', { duration: '7200' }).way, 'keys-mfa');
  });

  test('keyrole_mfa_on_assume asks for the code on AssumeRole at any duration, with the same cache key as the chosen way', () => {
    const on = plan({ p: { keyrole_source: 'alice', keyrole_mfa_serial: MFA, keyrole_role_arn: ROLE, keyrole_mfa_on_assume: 'true' } });
    assert.equal(on.way, 'keys-mfa');
    assert.match(on.how!, /keyrole_mfa_on_assume asks for it/);
    const long = plan({ p: { keyrole_source: 'alice', keyrole_mfa_serial: MFA, keyrole_role_arn: ROLE, keyrole_duration_seconds: '7200' } });
    const longOn = plan({ p: { keyrole_source: 'alice', keyrole_mfa_serial: MFA, keyrole_role_arn: ROLE, keyrole_duration_seconds: '7200', keyrole_mfa_on_assume: 'true' } });
    assert.equal(long.key, longOn.key, 'the same call to STS, the same entry');
    const short = plan({ p: { keyrole_source: 'alice', keyrole_mfa_serial: MFA, keyrole_role_arn: ROLE } });
    assert.notEqual(short.key, on.key, 'signed by the session or by the key: different entries');
  });
});

describe('a role assumed with temporary credentials (role chaining)', () => {
  const bases: [string, Section][] = [
    ["another role's", { keyrole_source: 'alice', keyrole_role_arn: ROLE }],
    ["a GetSessionToken session's", { keyrole_source: 'alice' }],
    ["an MFA session's", { keyrole_source: 'alice', keyrole_mfa_serial: MFA }],
    ["a role over an hour's (its code on AssumeRole)", { keyrole_source: 'alice', keyrole_mfa_serial: MFA, keyrole_role_arn: ROLE, keyrole_duration_seconds: '43200' }],
  ];

  test('up to an hour: assumed as asked, and --debug/doctor/status say it is role chaining', () => {
    for (const [what, base] of bases) {
      const l = plan({ p: { keyrole_source_profile: 'base', keyrole_role_arn: OTHER, keyrole_duration_seconds: '3600' }, base });
      assert.equal(l.way, 'temporary', what);
      assert.equal(l.durationSeconds, 3600);
      assert.equal(l.how, "AssumeRole for 3600 s with profile base's credentials (role chaining: at most 3600 s)");
    }
    const sso = plan({ p: { ...SSO, keyrole_role_arn: ROLE, keyrole_duration_seconds: '900' } });
    assert.equal(sso.how, "AssumeRole for 900 s with IAM Identity Center's role credentials (role chaining: at most 3600 s)");
  });

  // The bug: keyrole asked for an hour instead, silently, whatever the profile said.
  test('over an hour: refused before any call, in one line naming what and the fix', () => {
    for (const [what, base] of bases) {
      assert.throws(() => plan({ p: { keyrole_source_profile: 'base', keyrole_role_arn: OTHER, keyrole_duration_seconds: '7200' }, base }),
        expectKeyroleError('ChainedDurationTooLong', { line: /^keyrole: profile p asks for a 7200 s role, but the role is assumed with profile base's credentials, which are temporary, and AWS allows a role assumed with temporary credentials at most 3600 s \(role chaining\); lower keyrole_duration_seconds \(or --duration\) to 3600 or below$/ }), what);
    }
    assert.throws(() => plan({ p: { ...SSO, keyrole_role_arn: ROLE, keyrole_duration_seconds: '3601' } }), expectKeyroleError('ChainedDurationTooLong', { line: /IAM Identity Center's role credentials/ }));
    assert.throws(() => plan({ p: { keyrole_source_profile: 'base', keyrole_role_arn: OTHER }, base: { keyrole_source: 'alice' } }, 'p', { duration: '7200' }), expectKeyroleError('ChainedDurationTooLong'));
    // A deeper chain is refused where the long duration is asked.
    assert.throws(() => plan({ p: { keyrole_source_profile: 'mid', keyrole_role_arn: ROLE }, mid: { keyrole_source_profile: 'base', keyrole_role_arn: OTHER, keyrole_duration_seconds: '7200' }, base: { keyrole_source: 'alice' } }),
      expectKeyroleError('ChainedDurationTooLong', { line: /^keyrole: profile mid asks for a 7200 s role/ }));
  });
});
