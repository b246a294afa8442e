// One rule for time (src/credentials/windows.ts): the moments the cache, `status` and the
// endpoint's warning go by agree, for an MFA session of every length and for an SSO token
// that cannot refresh.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lastUse, refreshWindowMs, renewFrom, servedAsIs, usableAfterFailedRenewal, warnAt, LAST_USE_MS, REFRESH_WINDOW_MS } from '../../src/credentials/windows.ts';
import { personNeeded, type ProfileStatus } from '../../src/credentials/status.ts';
import { warning } from '../../src/server/warn.ts';
import { needLine } from '../../src/commands/status.ts';
import { layersOf, planProfile } from '../../src/credentials/plan.ts';
import { resolveSettings } from '../../src/config/settings.ts';
import { configSections, parseIni } from '../../src/config/ini.ts';
import type { AwsFiles } from '../../src/config/files.ts';

const MIN = 60_000;
const NOW = Date.parse('2026-12-07T12:00:00Z');

function files(text: string): AwsFiles {
  return { configPath: '/nonexistent/config', credentialsPath: '/nonexistent/credentials', config: configSections(parseIni(text)), credentials: {} };
}

/** A role over an MFA session of `sessionSeconds`, the session ending at `sessionEnd` and the role at `roleEnd`. */
function mfaStatus(sessionSeconds: number, sessionEnd: number, roleEnd: number): ProfileStatus {
  const f = files(`[profile prod]\nkeyrole_source = alice\nkeyrole_role_arn = arn:aws:iam::111122223333:role/Admin\nkeyrole_mfa_serial = arn:aws:iam::111122223333:mfa/alice\nkeyrole_session_duration = ${sessionSeconds}\nregion = eu-west-1\n`);
  const [role, session] = layersOf(planProfile(f, resolveSettings(f, 'prod', {}, 'alice')));
  const st = (layer: typeof role, end: number) => ({ layer, entry: undefined, expiration: new Date(end), servedAsIs: servedAsIs(end - NOW, layer.durationSeconds) });
  return { profile: 'prod', store: 'keychain', layers: [st(role, roleEnd), st(session, sessionEnd)], sso: undefined };
}

describe('one rule for time', () => {
  test('the moments of a layer come in order: warned, renewed, used after a failed renewal, never', () => {
    for (const seconds of [900, 1800, 3600, 43200]) {
      const end = new Date(NOW + seconds * 1000);
      const ask = renewFrom(end, seconds);
      assert.equal(ask.getTime(), end.getTime() - refreshWindowMs(seconds));
      assert.ok(warnAt(ask) < ask && ask < lastUse(end) && lastUse(end) < end, `duration ${seconds}`);
      // servedAsIs holds up to renewFrom and not after it.
      assert.equal(servedAsIs(end.getTime() - ask.getTime(), seconds), true);
      assert.equal(servedAsIs(end.getTime() - ask.getTime() - 1, seconds), false);
    }
    assert.equal(usableAfterFailedRenewal(LAST_USE_MS + 1), true);
    assert.equal(usableAfterFailedRenewal(LAST_USE_MS), false);
    assert.equal(usableAfterFailedRenewal(6 * MIN, 'transient'), false, 'AWS failing: not inside the JS SDK window plus a minute');
    assert.equal(usableAfterFailedRenewal(6 * MIN + 1, 'transient'), true);
  });

  test('regression (status reported the MFA session\'s raw end while the cache stopped using it 15 min before): status and the warning use the cache\'s moments', () => {
    const sessionEnd = NOW + 29 * MIN;
    const st = mfaStatus(43200, sessionEnd, NOW + 50 * MIN);
    const need = personNeeded(st, NOW)!;
    assert.equal(need.askFrom.getTime(), sessionEnd - REFRESH_WINDOW_MS, 'asked from where the cache renews');
    assert.equal(need.by.getTime(), sessionEnd - LAST_USE_MS, 'needed by its last use');
    assert.equal(need.login, 'prod');
    // The warning: WARN_AHEAD_MS before keyrole would ask; the credentials work past it.
    assert.ok(warnAt(need.askFrom).getTime() <= NOW, 'due now, 14 min before the session is asked for');
    assert.ok(warnAt(personNeeded(mfaStatus(43200, NOW + 31 * MIN, NOW + 50 * MIN), NOW)!.askFrom).getTime() > NOW, 'not due 16 min before it is asked for');
    assert.match(warning(need, st, 'prod', 'python3', NOW), /^the MFA session of source "alice" \(MFA device \S+\) behind profile prod ends in 28 min \(\d\d:\d\d\); keyrole serves the credentials it holds until \d\d:\d\d and renews them while it can; run keyrole login prod in another terminal to keep python3 supplied$/);
    assert.match(needLine(need, NOW), /^the MFA session .*, by \S+Z \(in 28 min\); keyrole asks from \S+Z where it can; keyrole login prod renews it now$/);
  });

  test('a short MFA session is asked for at half its length, as the cache does', () => {
    const sessionEnd = NOW + 10 * MIN;
    const need = personNeeded(mfaStatus(900, sessionEnd, NOW + 10 * MIN), NOW)!;
    assert.equal(need.askFrom.getTime(), sessionEnd - 450_000);
  });

  test('an SSO token that cannot refresh is needed by its last minute, and names one login command', () => {
    const f = files('[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n[profile dev]\nkeyrole_sso_session = corp\nkeyrole_sso_account_id = 111122223333\nkeyrole_sso_role_name = ReadOnly\nregion = eu-west-1\n');
    const [role] = layersOf(planProfile(f, resolveSettings(f, 'dev', {}, 'alice')));
    const end = NOW + 20 * MIN;
    const st: ProfileStatus = { profile: 'dev', store: 'keychain', layers: [{ layer: role, entry: undefined, expiration: new Date(NOW + 50 * MIN), servedAsIs: true }], sso: { session: 'corp', loginName: 'corp', expiresAt: new Date(end), refreshable: false, from: 'keyrole' } };
    const need = personNeeded(st, NOW)!;
    assert.equal(need.by.getTime(), end - LAST_USE_MS);
    assert.equal(need.login, 'corp');
    assert.match(needLine(need, NOW), /keyrole login corp renews it now$/);
    assert.doesNotMatch(needLine(need, NOW), /keyrole login dev/);
  });
});
