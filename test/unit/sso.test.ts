// The pure parts of IAM Identity Center support: the AWS CLI's token file name, the keychain
// record, endpoints, the browser command, device-flow polling, error lines, login targets,
// and sso populate's plan and config edit.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { getSSOTokenFilepath } from '@smithy/shared-ini-file-loader';
import { awsCacheFile } from '../../src/sso/awscache.ts';
import { canRefresh, decodeRecord, encodeRecord, newRecord, recordFromAnswer, REGISTRATION_REUSE_MS, tokenLeftMs, type SsoRecord } from '../../src/sso/record.ts';
import { decodeRegistration, encodeRegistration, registrationAccount } from '../../src/sso/registration.ts';
import { loginName, sessionRefFromConfig, type SsoSessionRef } from '../../src/sso/session.ts';
import { pollForToken, userCodeOf, verificationUrl } from '../../src/sso/deviceflow.ts';
import { ssoEndpoints, ssoError } from '../../src/sso/client.ts';
import { KeyroleError } from '../../src/util/errors.ts';
import { loginTarget } from '../../src/commands/login.ts';
import { appendText, checkRendered, planPopulate, renderProfiles, unsafeAssignment, type PlanItem } from '../../src/commands/sso.ts';
import type { AwsFiles, Section } from '../../src/config/files.ts';
import { parseIni, configSections } from '../../src/config/ini.ts';
import { withEnv } from '../support/env.ts';
import { tempDir } from '../support/tmp.ts';

const START = 'https://keyrole-demo.awsapps.com/start';
const REF: SsoSessionRef = { session: 'my-sso', startUrl: START, ssoRegion: 'eu-west-1', registrationScopes: ['sso:account:access'] };
const LEGACY: SsoSessionRef = { session: undefined, startUrl: START, ssoRegion: 'eu-west-1', registrationScopes: [] };


function files(text: string, configPath = '/home/u/.aws/config'): AwsFiles {
  return { configPath, credentialsPath: '/home/u/.aws/credentials', config: configSections(parseIni(text)), credentials: {} as Record<string, Section> };
}

describe('the AWS CLI token file (~/.aws/sso/cache)', () => {
  test('named sha1(sso-session name), or sha1(start URL) for the legacy form, as the JS SDK names it', async () => {
    const home = tempDir('sso-');
    const [named, legacy] = await withEnv({ HOME: home, USERPROFILE: undefined }, () => Promise.all([awsCacheFile(REF), awsCacheFile(LEGACY)]));
    withEnv({ HOME: home, USERPROFILE: undefined }, () => {
      assert.equal(named, getSSOTokenFilepath('my-sso'));
      assert.equal(legacy, getSSOTokenFilepath(START));
    });
    assert.equal(named, join(home, '.aws', 'sso', 'cache', `${createHash('sha1').update('my-sso').digest('hex')}.json`));
  });
});

describe('the keychain record', () => {
  const rec: SsoRecord = {
    startUrl: START, region: 'eu-west-1', scopes: ['sso:account:access'], clientId: 'cid', clientSecret: 'csecret',
    registrationExpiresAt: new Date('2030-01-01T00:00:00Z'), accessToken: 'aoaTOKEN', expiresAt: new Date('2030-01-01T01:00:00Z'),
    refreshToken: 'aorREFRESH', obtainedAt: new Date('2030-01-01T00:00:00Z'),
  };

  test('round-trips', () => {
    assert.deepEqual(decodeRecord(encodeRecord(rec)), rec);
  });

  test('a registration without a token round-trips, and a token without an expiry is dropped', () => {
    const reg: SsoRecord = { startUrl: START, region: 'eu-west-1', scopes: [], clientId: 'c', clientSecret: 's', registrationExpiresAt: new Date('2030-01-01T00:00:00Z') };
    const back = decodeRecord(encodeRecord(reg))!;
    assert.equal(back.accessToken, undefined);
    assert.equal(back.clientId, 'c');
    const noExpiry = JSON.parse(encodeRecord(rec)) as Record<string, unknown>;
    delete noExpiry.expiresAt;
    assert.equal(decodeRecord(JSON.stringify(noExpiry))!.accessToken, undefined);
  });

  test('anything keyrole did not write is ignored', () => {
    for (const raw of ['', 'not json', '{}', '{"keyrole":1,"kind":"cache"}', '{"keyrole":1,"kind":"sso-session","region":"x"}', 'null']) {
      assert.equal(decodeRecord(raw), undefined, raw);
    }
  });

  test('refreshable only with a refresh token and a live registration; registrations reused only with a day left and the same scopes', () => {
    const now = Date.parse('2029-12-01T00:00:00Z');
    assert.equal(canRefresh(rec, now), true);
    assert.equal(canRefresh({ ...rec, refreshToken: undefined }, now), false);
    assert.equal(canRefresh({ ...rec, registrationExpiresAt: new Date(now - 1) }, now), false);
    assert.equal(canRefresh(undefined, now), false);
    assert.equal(tokenLeftMs(rec, Date.parse('2030-01-01T00:59:00Z')), 60_000);
    assert.equal(tokenLeftMs({ accessToken: undefined, expiresAt: undefined }, now), -Infinity);
  });
});

describe('client registrations: one per sso-session, grant and scopes, reused until a day before they end', () => {
  const now = Date.parse('2029-12-01T00:00:00Z');
  const reg = { clientId: 'cid', clientSecret: 'secret', registrationExpiresAt: new Date(now + 90 * 86400_000) };

  test('a stored registration serves the same session, grant and scopes only', () => {
    const raw = encodeRegistration(REF, 'auth-code', reg);
    assert.deepEqual(decodeRegistration(raw, REF, 'auth-code', now), reg);
    assert.equal(decodeRegistration(raw, REF, 'device', now), undefined, 'a browser registration is not a device one');
    assert.equal(decodeRegistration(encodeRegistration(REF, 'device', reg), REF, 'auth-code', now), undefined, 'nor the reverse');
    assert.equal(decodeRegistration(raw, { ...REF, registrationScopes: [] }, 'auth-code', now), undefined, 'other scopes');
    assert.equal(decodeRegistration(raw, { ...REF, startUrl: 'https://other.awsapps.com/start' }, 'auth-code', now), undefined, 'another directory');
    assert.equal(decodeRegistration(raw, { ...REF, ssoRegion: 'us-east-1' }, 'auth-code', now), undefined, 'another region');
    assert.equal(decodeRegistration(encodeRegistration(REF, 'auth-code', { ...reg, registrationExpiresAt: new Date(now + REGISTRATION_REUSE_MS - 1) }), REF, 'auth-code', now), undefined, 'less than a day left');
    assert.deepEqual(decodeRegistration(encodeRegistration(REF, 'auth-code', { ...reg, registrationExpiresAt: new Date(now + REGISTRATION_REUSE_MS + 1000) }), REF, 'auth-code', now)?.clientId, 'cid');
    for (const bad of ['', 'null', '{}', '{"keyrole":1,"kind":"sso-session"}']) assert.equal(decodeRegistration(bad, REF, 'auth-code', now), undefined, bad);
  });

  test('each grant and set of scopes has its own keychain entry; scope order does not matter', () => {
    const names = new Set([
      registrationAccount(REF, 'auth-code'), registrationAccount(REF, 'device'),
      registrationAccount({ ...REF, registrationScopes: [] }, 'auth-code'), registrationAccount(LEGACY, 'auth-code'),
    ]);
    assert.equal(names.size, 4);
    assert.equal(registrationAccount({ ...REF, registrationScopes: ['b', 'a'] }, 'device'), registrationAccount({ ...REF, registrationScopes: ['a', 'b'] }, 'device'));
  });
});

describe('endpoints', () => {
  const clear = { AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_SSO: undefined, AWS_ENDPOINT_URL_SSO_OIDC: undefined, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: undefined };

  test('regional by default, resolved', () => withEnv(clear, () => {
    const e = ssoEndpoints({ ssoRegion: 'eu-west-1' });
    assert.deepEqual(e, { oidc: { url: 'https://oidc.eu-west-1.amazonaws.com', from: 'regional' }, portal: { url: 'https://portal.sso.eu-west-1.amazonaws.com', from: 'regional' } });
  }));

  test('service variables, then AWS_ENDPOINT_URL; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns them off', () => {
    withEnv({ ...clear, AWS_ENDPOINT_URL: 'http://all', AWS_ENDPOINT_URL_SSO_OIDC: 'http://oidc' }, () => {
      const e = ssoEndpoints({ ssoRegion: 'eu-west-1' });
      assert.deepEqual(e, { oidc: { url: 'http://oidc', from: 'AWS_ENDPOINT_URL_SSO_OIDC' }, portal: { url: 'http://all', from: 'AWS_ENDPOINT_URL' } });
    });
    withEnv({ ...clear, AWS_ENDPOINT_URL_SSO: 'http://portal' }, () => assert.equal(ssoEndpoints({ ssoRegion: 'x' }).portal.url, 'http://portal'));
    withEnv({ ...clear, AWS_ENDPOINT_URL: 'http://all', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, () => assert.equal(ssoEndpoints({ ssoRegion: 'x' }).oidc.url, 'https://oidc.x.amazonaws.com'));
  });

  test('a value that is not a URL is one line naming its variable', () => withEnv({ ...clear, AWS_ENDPOINT_URL_SSO: 'portal.local' }, () => {
    assert.throws(() => ssoEndpoints({ ssoRegion: 'x' }), (e: KeyroleError) => e.code === 'BadEndpoint' && /AWS_ENDPOINT_URL_SSO/.test(e.line()));
  }));
});

describe('what the device flow shows', () => {
  test('the verification URL: https, or http on loopback; nothing else, and nothing with controls or credentials in it', () => {
    for (const ok of ['https://device.sso.eu-west-1.amazonaws.com/?user_code=ABCD-EFGH', 'http://127.0.0.1:4567/device', 'http://localhost:8080/d', 'http://[::1]:9/d']) assert.equal(verificationUrl(ok), ok);
    for (const bad of ['http://evil.example/device', 'javascript:alert(1)', 'file:///etc/passwd', 'https://a.example/\x1b]8;;x\x07', 'https://u:p@a.example/', 'https://a.example/ x', `https://a.example/${'a'.repeat(2100)}`, 'not a url', 'http://127.0.0.1.evil.example/']) {
      // eslint-disable-next-line no-control-regex
      assert.throws(() => verificationUrl(bad), (e: KeyroleError) => e.code === 'SsoMalformed' && !/[\x00-\x1f]/.test(e.line()) && !e.line().includes('alert') && !e.line().includes('passwd'), bad);
    }
  });

  test('the user code: printable, short, not blank', () => {
    assert.equal(userCodeOf('ABCD-EFGH'), 'ABCD-EFGH');
    for (const bad of ['', '  ', '\x1b[2JABCD', 'AB\u202eCD', 'A'.repeat(65)]) assert.throws(() => userCodeOf(bad), (e: KeyroleError) => e.code === 'SsoMalformed', JSON.stringify(bad));
  });

  test('error texts from the service lose their control characters and escape sequences', () => {
    const e = ssoError(Object.assign(new Error('denied\x1b]0;owned\x07\x1b[31m red\r\nsecond line'), { name: 'Forbidden\x1b[2JException', $metadata: { httpStatusCode: 403 } }), 'x', 'https://portal', 'p');
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(e.line(), /[\x00-\x1f\x7f-\x9f]/);
    // The name still maps (ForbiddenException → SsoNoAccess) once its escape sequence is gone.
    assert.equal(e.code, 'SsoNoAccess');
    assert.match(e.line(), /no access to x \(denied red second line\)/);
  });
});

describe('polling CreateToken', () => {
  function fakeClock() {
    let t = 0;
    const sleeps: number[] = [];
    return { now: () => t, sleep: async (ms: number) => { sleeps.push(ms); t += ms; }, sleeps };
  }
  const err = (name: string) => Object.assign(new Error(name), { name });

  test('waits one interval before each poll and keeps polling while authorization is pending', async () => {
    const c = fakeClock();
    const answers = [err('AuthorizationPendingException'), err('AuthorizationPendingException'), 'token'];
    const out = await pollForToken(async () => {
      const a = answers.shift()!;
      if (a instanceof Error) throw a;
      return a;
    }, { intervalMs: 5000, expiresInMs: 600_000, ...c });
    assert.equal(out, 'token');
    assert.deepEqual(c.sleeps, [5000, 5000, 5000]);
  });

  test('slow_down adds 5 seconds to the interval, for good', async () => {
    const c = fakeClock();
    const answers = [err('SlowDownException'), err('AuthorizationPendingException'), err('SlowDownException'), 'token'];
    await pollForToken(async () => {
      const a = answers.shift()!;
      if (a instanceof Error) throw a;
      return a;
    }, { intervalMs: 1000, expiresInMs: 600_000, ...c });
    assert.deepEqual(c.sleeps, [1000, 6000, 6000, 11000]);
  });

  test('expired_token, access_denied and anything else end the loop with the service error', async () => {
    for (const name of ['ExpiredTokenException', 'AccessDeniedException', 'InvalidClientException']) {
      const c = fakeClock();
      await assert.rejects(pollForToken(async () => { throw err(name); }, { intervalMs: 1000, expiresInMs: 60_000, ...c }), (e: Error) => e.name === name);
    }
  });

  test('stops when the code runs out even if the service keeps saying pending', async () => {
    const c = fakeClock();
    let calls = 0;
    await assert.rejects(pollForToken(async () => { calls++; throw err('AuthorizationPendingException'); }, { intervalMs: 5000, expiresInMs: 12_000, ...c }), (e: Error) => e.name === 'ExpiredTokenException');
    assert.equal(calls, 2);
    assert.ok(c.now() <= 12_000);
  });
});

describe('error lines', () => {
  const cases: [unknown, string, RegExp][] = [
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'SsoUnreachable', /cannot reach IAM Identity Center at http:\/\/e.*AWS_ENDPOINT_URL_SSO/],
    [Object.assign(new Error('Session token not found or invalid'), { name: 'UnauthorizedException', $metadata: { httpStatusCode: 401 } }), 'SsoTokenRejected', /keyrole login my-sso/],
    [Object.assign(new Error('No access'), { name: 'ForbiddenException', $metadata: { httpStatusCode: 403 } }), 'SsoNoAccess', /No access.*keyrole sso populate my-sso/],
    [Object.assign(new Error('UnknownError'), { name: 'AccessDeniedException', error: 'access_denied', $metadata: { httpStatusCode: 400 } }), 'SsoLoginDenied', /denied \(access_denied\).*keyrole login my-sso/],
    [Object.assign(new Error('UnknownError'), { name: 'ExpiredTokenException', error: 'expired_token', $metadata: { httpStatusCode: 400 } }), 'SsoLoginExpired', /expired before it was approved/],
    [Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException', $metadata: { httpStatusCode: 429 } }), 'SsoThrottled', /throttling/],
    [Object.assign(new Error('x\ny'), { name: 'WeirdException', $metadata: { httpStatusCode: 500 } }), 'SsoError', /WeirdException \(HTTP 500\): x y/],
  ];
  for (const [err, code, line] of cases) {
    test(`${(err as Error).name} → ${code}`, () => {
      const e = ssoError(err, 'the thing', 'http://e', 'my-sso');
      assert.equal(e.code, code);
      assert.match(e.line(), line);
      assert.doesNotMatch(e.line(), /\n/);
    });
  }

  test('the login name is the sso-session, else the profile given', () => {
    assert.equal(loginName(REF, 'prof'), 'my-sso');
    assert.equal(loginName(LEGACY, 'prof'), 'prof');
    assert.equal(loginName(LEGACY), '<profile>');
  });
});

describe('the record a token answer makes', () => {
  const reg = { clientId: 'cid', clientSecret: 'csecret', registrationExpiresAt: new Date('2027-01-01T00:00:00Z') };
  const now = Date.parse('2026-11-30T12:00:00Z');

  test('a sign-in: the session, the registration that signed in, the token', () => {
    const rec = recordFromAnswer(newRecord(REF, reg), { accessToken: 'tok', expiresIn: 3600, refreshToken: 'ref' }, now);
    assert.deepEqual(rec, {
      startUrl: START, region: 'eu-west-1', scopes: ['sso:account:access'], ...reg,
      accessToken: 'tok', expiresAt: new Date(now + 3600_000), refreshToken: 'ref', obtainedAt: new Date(now),
    });
    assert.deepEqual(decodeRecord(encodeRecord(rec)), rec);
    assert.equal(recordFromAnswer(newRecord(REF, reg), { accessToken: 'tok', expiresIn: 60 }, now).refreshToken, undefined);
  });

  test('a refresh keeps the record and its refresh token unless a new one comes', () => {
    const before = recordFromAnswer(newRecord(REF, reg), { accessToken: 'old', expiresIn: 60, refreshToken: 'r1' }, now - 60_000);
    const kept = recordFromAnswer(before, { accessToken: 'new', expiresIn: 3600 }, now);
    assert.deepEqual(kept, { ...before, accessToken: 'new', expiresAt: new Date(now + 3600_000), obtainedAt: new Date(now) });
    assert.equal(recordFromAnswer(before, { accessToken: 'new', expiresIn: 3600, refreshToken: 'r2' }, now).refreshToken, 'r2');
  });
});

describe('login targets', () => {
  const cfg = `
[sso-session my-sso]
sso_start_url = ${START}
sso_region = eu-west-1
sso_registration_scopes = sso:account:access, openid

[profile admin]
keyrole_sso_session = my-sso
keyrole_sso_account_id = 111122223333
keyrole_sso_role_name = AdministratorAccess

[profile legacy]
keyrole_sso_start_url = https://legacy.awsapps.com/start
keyrole_sso_region = us-east-1
keyrole_sso_account_id = 111122223333
keyrole_sso_role_name = ReadOnlyAccess

[profile chained]
keyrole_source_profile = admin
keyrole_role_arn = arn:aws:iam::111122223333:role/Admin

[profile keys]
keyrole_source = alice

[profile plain]
region = eu-west-1

[sso-session broken]
sso_region = eu-west-1
`;
  const f = files(cfg);

  const ssoTarget = (name: string) => {
    const t = loginTarget(f, name);
    assert.equal(t.kind, 'sso');
    return t as Extract<typeof t, { kind: 'sso' }>;
  };

  test('an sso-session, a profile using one, the legacy form, and the SSO root of a chain', () => {
    assert.deepEqual(loginTarget(f, 'my-sso'), { kind: 'sso', name: 'my-sso', ref: { session: 'my-sso', startUrl: START, ssoRegion: 'eu-west-1', registrationScopes: ['sso:account:access', 'openid'] } });
    const admin = ssoTarget('admin');
    assert.equal(admin.name, 'my-sso');
    assert.equal(admin.ref.startUrl, START);
    const legacy = ssoTarget('legacy');
    assert.equal(legacy.name, 'legacy');
    assert.equal(legacy.ref.session, undefined);
    assert.equal(legacy.ref.startUrl, 'https://legacy.awsapps.com/start');
    assert.equal(ssoTarget('chained').name, 'my-sso');
  });

  test('profiles without SSO, unknown names and incomplete sessions are one-line errors', () => {
    assert.throws(() => loginTarget(f, 'keys'), (e: KeyroleError) => e.code === 'NothingToLogIn');
    assert.throws(() => loginTarget(f, 'plain'), (e: KeyroleError) => e.code === 'NothingToLogIn');
    assert.throws(() => loginTarget(f, 'nope'), (e: KeyroleError) => e.code === 'UnknownProfile' && /neither a profile nor an sso-session/.test(e.message));
    assert.throws(() => loginTarget(f, 'broken'), (e: KeyroleError) => e.code === 'BadSsoSession' && /sso_start_url/.test(e.message));
    assert.equal(sessionRefFromConfig(f, 'nope'), undefined);
  });
});

describe('sso populate', () => {
  const cfg = `# my AWS config; keep this comment
[default]
region = eu-west-1

[sso-session my-sso]
sso_start_url = ${START}
sso_region = eu-west-1

[profile mine]
; my own name for the admin role
keyrole_sso_session = my-sso
keyrole_sso_account_id = 111122223333
keyrole_sso_role_name = AdministratorAccess

[profile demo.ReadOnlyAccess]
region = us-east-1

[profile on-top]
keyrole_sso_session = my-sso
keyrole_sso_account_id = 444455556666
keyrole_sso_role_name = ReadOnlyAccess
keyrole_role_arn = arn:aws:iam::444455556666:role/Deploy
`;
  const assignments = [
    { accountId: '444455556666', accountName: 'sandbox', roleName: 'ReadOnlyAccess' },
    { accountId: '111122223333', accountName: 'demo', roleName: 'ReadOnlyAccess' },
    { accountId: '111122223333', accountName: 'demo', roleName: 'AdministratorAccess' },
    { accountId: '777788889999', accountName: 'Team Prod (EU)', roleName: 'PowerUser' },
  ];

  test('keeps profiles that already point at a role (not ones that assume another role on top), skips names taken by others, adds the rest', () => {
    const plan = planPopulate(files(cfg), 'my-sso', assignments);
    assert.deepEqual(plan.map((i) => [i.action, i.profile]), [
      ['keep', 'mine'],
      ['skip', 'demo.ReadOnlyAccess'],
      ['add', 'sandbox.ReadOnlyAccess'],
      ['add', 'Team-Prod-EU.PowerUser'],
    ]);
    const prefixed = planPopulate(files(cfg), 'my-sso', assignments, { prefix: 'sso-' });
    assert.deepEqual(prefixed.filter((i) => i.action === 'add').map((i) => i.profile), ['sso-demo.ReadOnlyAccess', 'sso-sandbox.ReadOnlyAccess', 'sso-Team-Prod-EU.PowerUser']);
  });

  test('two accounts with one name get their ids in the profile name', () => {
    const plan = planPopulate(files(''), 's', [
      { accountId: '111111111111', accountName: 'dev', roleName: 'R' },
      { accountId: '222222222222', accountName: 'dev', roleName: 'R' },
    ]);
    assert.deepEqual(plan.map((i) => i.profile), ['dev-111111111111.R', 'dev-222222222222.R']);
  });

  test('renders profiles the config reader reads back as keyrole SSO profiles', () => {
    const plan = planPopulate(files(cfg), 'my-sso', assignments);
    const text = renderProfiles(plan, { session: 'my-sso', region: 'eu-west-1', command: '/opt/keyrole', date: new Date('2030-01-01T00:00:00Z') });
    assert.match(text, /^# Added by keyrole sso populate my-sso on 2030-01-01T00:00:00Z: 2 profile\(s\)\n\[profile sandbox\.ReadOnlyAccess\]\n/);
    const merged = files(appendText(cfg, text));
    const p = merged.config['Team-Prod-EU.PowerUser']!;
    assert.equal(p.credential_process, '/opt/keyrole process Team-Prod-EU.PowerUser');
    assert.equal(p.keyrole_sso_session, 'my-sso');
    assert.equal(p.keyrole_sso_account_id, '777788889999');
    assert.equal(p.keyrole_sso_role_name, 'PowerUser');
    assert.equal(p.region, 'eu-west-1');
    // Populating again adds nothing.
    assert.equal(planPopulate(merged, 'my-sso', assignments).filter((i) => i.action === 'add').length, 0);
    assert.equal(renderProfiles([], { session: 's', region: 'r', command: 'k' }), '');
  });

  test('names from the portal: account ids must be 12 digits and role names IAM role names, or the item is refused; account names only reach the profile name, in header-safe characters', () => {
    assert.equal(unsafeAssignment({ accountId: '111122223333', accountName: 'x', roleName: 'Admin+Ops=1,a.b@c-d_e' }), undefined);
    assert.match(unsafeAssignment({ accountId: '1111222233334', accountName: 'x', roleName: 'R' })!, /12 digits/);
    assert.match(unsafeAssignment({ accountId: '111122223333', accountName: 'x', roleName: 'R\n[default]' })!, /IAM role name/);
    assert.match(unsafeAssignment({ accountId: '111122223333', accountName: 'x', roleName: 'R'.repeat(65) })!, /IAM role name/);
    const plan = planPopulate(files(''), 's', [
      { accountId: '111122223333', accountName: 'ok', roleName: 'R\n[default]\ncredential_process = evil' },
      { accountId: '111122223333', accountName: 'a=b [default]\n\x1b[2J', roleName: 'R' },
      { accountId: '444455556666', accountName: 'sso-session', roleName: 'R' },
    ]);
    assert.deepEqual(plan.map((i) => [i.action, i.profile]), [['add', 'a-b-default-2J.R'], ['refuse', '-'], ['skip', 'sso-session.R']]);
  });

  test('the rendered config must read back as exactly the planned sections, or nothing is written', () => {
    const o = { session: 'my-sso', region: 'eu-west-1', command: '/opt/keyrole' };
    const good = planPopulate(files(cfg), 'my-sso', assignments);
    checkRendered(cfg, appendText(cfg, renderProfiles(good, o)), good, o);
    // An item that slipped past the plan's checks, or a --command with a line break, is caught here.
    const smuggled: PlanItem[] = [{ action: 'add', profile: 'p', assignment: { accountId: '111122223333', accountName: 'x', roleName: 'R\n[default]\ncredential_process = evil' } }];
    assert.throws(() => checkRendered(cfg, appendText(cfg, renderProfiles(smuggled, o)), smuggled, o), (e: KeyroleError) => e.code === 'PopulateCheckFailed' && /"default"/.test(e.message));
    const cmd = { ...o, command: '/opt/keyrole\n[profile mine]\nregion = x' };
    assert.throws(() => checkRendered(cfg, appendText(cfg, renderProfiles(good, cmd)), good, cmd), (e: KeyroleError) => e.code === 'PopulateCheckFailed');
  });

  test('appending keeps every existing byte, with one blank line between, CRLF files stay CRLF', () => {
    const add = '[profile x]\na = 1\n';
    assert.equal(appendText(cfg, add), `${cfg}\n${add}`);
    assert.equal(appendText('a = 1', add), `a = 1\n\n${add}`);
    assert.equal(appendText('a = 1\n\n', add), `a = 1\n\n${add}`);
    assert.equal(appendText('', add), add);
    assert.equal(appendText('[default]\r\nregion = x\r\n', add), '[default]\r\nregion = x\r\n\r\n[profile x]\r\na = 1\r\n');
    assert.equal(appendText(cfg, ''), cfg);
  });
});
