// One reading of an [sso-session] and one name for a session: the profile's SSO settings are
// the section as `keyrole login <sso-session>` reads it, the lock and the login name are
// computed in one place each.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { resolveSettings } from '../../src/config/settings.ts';
import { configSections, parseIni } from '../../src/config/ini.ts';
import { lockName, loginName, sessionId, sessionKey, sessionRefFromConfig, type SsoSessionRef } from '../../src/sso/session.ts';
import { loginTarget } from '../../src/commands/login.ts';
import type { AwsFiles } from '../../src/config/files.ts';
import { KeyroleError } from '../../src/util/errors.ts';

const START = 'https://corp.awsapps.com/start';

function files(text: string): AwsFiles {
  return { configPath: '/nonexistent/config', credentialsPath: '/nonexistent/credentials', config: configSections(parseIni(text)), credentials: {} };
}

const CFG = `
[sso-session corp]
sso_start_url = ${START}
sso_region = eu-west-1
sso_registration_scopes = sso:account:access , , openid

[sso-session half]
sso_start_url = ${START}

[profile dev]
keyrole_sso_session = corp
keyrole_sso_account_id = 111122223333
keyrole_sso_role_name = Dev

[profile half]
keyrole_sso_session = half
keyrole_sso_account_id = 111122223333
keyrole_sso_role_name = Dev

[profile missing]
keyrole_sso_session = nowhere
keyrole_sso_account_id = 111122223333
keyrole_sso_role_name = Dev

[profile legacy]
keyrole_sso_start_url = https://legacy.awsapps.com/start
keyrole_sso_region = us-east-1
keyrole_sso_registration_scopes = sso:account:access
keyrole_sso_account_id = 111122223333
keyrole_sso_role_name = ReadOnly
`;

describe('a profile\'s sso-session is the section as keyrole login reads it', () => {
  const f = files(CFG);
  const sso = (p: string) => resolveSettings(f, p, {}, 'tester').sso!;

  test('the same session, scopes split the same way', () => {
    const { accountId, roleName, endpointSettings, ...ref } = sso('dev');
    assert.deepEqual(ref, sessionRefFromConfig(f, 'corp'));
    assert.deepEqual(ref.registrationScopes, ['sso:account:access', 'openid']);
    assert.deepEqual([accountId, roleName], ['111122223333', 'Dev']);
    assert.equal(endpointSettings?.profile, f.config.dev);
  });

  test('the same one-line error for an incomplete section; an unknown one names the profile', () => {
    const caught = (fn: () => unknown) => { try { fn(); } catch (e) { return e as KeyroleError; } assert.fail('no error'); };
    const viaProfile = caught(() => sso('half'));
    const direct = caught(() => sessionRefFromConfig(f, 'half'));
    assert.equal(viaProfile.code, 'BadSsoSession');
    assert.equal(viaProfile.line(), direct.line());
    const missing = caught(() => sso('missing'));
    assert.equal(missing.code, 'UnknownSsoSession');
    assert.match(missing.message, /profile missing names sso-session "nowhere"/);
  });

  test('the legacy form keeps its own keys', () => {
    const r = sso('legacy');
    assert.deepEqual([r.session, r.startUrl, r.ssoRegion, r.registrationScopes], [undefined, 'https://legacy.awsapps.com/start', 'us-east-1', ['sso:account:access']]);
  });
});

describe('one name for a session', () => {
  const named: SsoSessionRef = { session: 'corp', startUrl: START, ssoRegion: 'eu-west-1', registrationScopes: [] };
  const legacy: SsoSessionRef = { session: undefined, startUrl: START, ssoRegion: 'eu-west-1', registrationScopes: [] };

  test('sessionId and sessionKey', () => {
    assert.equal(sessionId(named), 'corp');
    assert.equal(sessionId(legacy), START);
    assert.notEqual(sessionKey(named), sessionKey(legacy));
    // Region, scopes and the profile's endpoint settings are not the session's identity.
    assert.equal(sessionKey({ ...named, ssoRegion: 'us-east-1', registrationScopes: ['openid'] }), sessionKey(named));
  });

  test('the lock name is what earlier versions used, so two versions still share one sign-in', async () => {
    const old = (r: SsoSessionRef) => `sso-${createHash('sha256').update(`${r.startUrl}\n${r.session ?? r.startUrl}`).digest('hex').slice(0, 24)}`;
    assert.equal(await lockName(named), old(named));
    assert.equal(await lockName(legacy), old(legacy));
    assert.equal(await lockName(named), 'sso-' + createHash('sha256').update(`${START}\ncorp`).digest('hex').slice(0, 24));
  });

  test('the login name: the sso-session; else the profile; else a placeholder, never the start URL', () => {
    assert.equal(loginName(named, 'dev'), 'corp');
    assert.equal(loginName(legacy, 'legacy'), 'legacy');
    assert.equal(loginName(legacy), '<profile>');
  });

  test('keyrole login takes the same name', () => {
    const f = files(CFG);
    for (const p of ['dev', 'legacy']) {
      const t = loginTarget(f, p);
      assert.equal(t.kind, 'sso');
      if (t.kind === 'sso') assert.equal(t.name, loginName(t.ref, p));
    }
  });
});
