// One planner, one cache key (issue: `cache clear <chained profile>` said "Nothing cached"
// and left the entry; `doctor` said "nothing cached" for an SSO profile that `process
// --debug` served from the cache). For every kind of profile, through the real commands:
// what `process` caches, `doctor` sees, `cache list` names by profile, and `cache clear`
// removes, leaving the layers under it unless asked.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL } from './support/emulator.ts';
import { requireTool } from './support/tools.ts';

const ROLE = (name: string) => `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/${name}`;
const START = 'https://planner-test.awsapps.com/start';

describe('one planner: process, doctor, cache list and cache clear agree for every kind of profile', () => {
  let w: World;
  let env: Record<string, string>;
  let config: string;

  before(async () => {
    requireTool('oathtool');
    w = await startWorld();
    config = [
      `[sso-session plan-sso]\nsso_start_url = ${START}\nsso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n`,
      keyroleProfile('plain', { keyrole_source: 'alice' }),
      keyroleProfile('role', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('chained', { keyrole_source_profile: 'role', keyrole_role_arn: ROLE('ReadOnly') }),
      keyroleProfile('mfa-role', { keyrole_source: 'alice', keyrole_mfa_serial: DEMO_MFA_SERIAL, keyrole_mfa_process: `oathtool --totp -b ${DEMO_MFA_SECRET}`, keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('sso', { region: 'eu-west-1', keyrole_sso_session: 'plan-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'AdministratorAccess' }),
      keyroleProfile('sso.chained', { region: 'eu-west-1', keyrole_sso_session: 'plan-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'AdministratorAccess', keyrole_role_arn: ROLE('ReadOnly') }),
    ].join('\n');
    w.writeConfig(config);
    assert.equal((await w.setup('alice')).code, 0);
    env = { ...w.env, AWS_ENDPOINT_URL_SSO_OIDC: w.emu.url, AWS_ENDPOINT_URL_SSO: w.emu.url, DISPLAY: '', WAYLAND_DISPLAY: '' };
    // A token as `aws sso login` leaves it, so no sign-in is needed.
    const minted = await w.emu.control<Record<string, string>>('POST', 'sso/token', { startUrl: START, scopes: ['sso:account:access'] });
    const dir = join(w.home, '.aws', 'sso', 'cache');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, `${createHash('sha1').update('plan-sso').digest('hex')}.json`), JSON.stringify({
      startUrl: START, region: 'eu-west-1', accessToken: minted.accessToken, expiresAt: minted.expiresAt, clientId: minted.clientId,
      clientSecret: minted.clientSecret, registrationExpiresAt: minted.registrationExpiresAt, refreshToken: minted.refreshToken,
    }), { mode: 0o600 });
  });
  after(() => w?.stop());

  const kr = async (args: string[]) => w.keyrole(args, { env });

  // [profile, the label of its own layer, the labels of the layers under it]
  const kinds: [string, RegExp, RegExp[]][] = [
    ['plain', /a session of source "alice"/, []],
    ['role', /role arn:aws:iam::\d+:role\/Admin/, []],
    ['chained', /role arn:aws:iam::\d+:role\/ReadOnly \(via profile role\)/, [/role arn:aws:iam::\d+:role\/Admin/]],
    ['mfa-role', /role arn:aws:iam::\d+:role\/Admin/, [/the MFA session of source "alice"/]],
    ['sso', /IAM Identity Center role AdministratorAccess/, []],
    ['sso.chained', /role arn:aws:iam::\d+:role\/ReadOnly \(via IAM Identity Center\)/, [/IAM Identity Center role AdministratorAccess/]],
  ];

  for (const [profile, own, under] of kinds) {
    test(`regression (cache clear said "Nothing cached"; doctor said "nothing cached"): ${profile}`, async () => {
      const first = await kr(['process', profile]);
      assert.equal(first.code, 0, first.stderr);

      const hit = await kr(['process', profile, '--debug']);
      assert.equal(hit.code, 0, hit.stderr);
      assert.match(hit.stderr, new RegExp(`cache hit for ${own.source}`), 'the second call is a hit on the profile\'s own layer');

      const doctor = await kr(['doctor', profile, '--no-network']);
      assert.match(doctor.stdout, /cache\s.*cached in the keychain store, \d/, doctor.stdout);

      const list = await kr(['cache', 'list']);
      assert.equal(list.code, 0, list.stderr);
      const row = list.stdout.split('\n').find((l) => l.startsWith(`${profile} `) || l.startsWith(`${profile},`) || l.includes(`, ${profile} `));
      assert.ok(row, `cache list names ${profile}:\n${list.stdout}`);
      assert.match(row, own);
      for (const u of under) assert.match(list.stdout, u, 'the layer under it is listed too');

      const clear = await kr(['cache', 'clear', profile]);
      assert.equal(clear.code, 0, clear.stderr);
      assert.match(clear.stdout, new RegExp(`^Cleared the cached credentials of profile ${profile.replace('.', '\\.')}`));
      if (under.length) assert.match(clear.stdout, /Kept .* --all-layers/);

      const doctorAfter = await kr(['doctor', profile, '--no-network']);
      assert.match(doctorAfter.stdout, /nothing cached in the keychain store/, doctorAfter.stdout);

      // The entry is gone: the next call misses on the profile's own layer and hits the layers under it.
      const again = await kr(['process', profile, '--debug']);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, new RegExp(`cache miss for ${own.source}`));
      for (const u of under) assert.match(again.stderr, new RegExp(`cache hit for ${u.source}`));

      if (under.length && !profile.startsWith('mfa')) {
        const all = await kr(['cache', 'clear', profile, '--all-layers']);
        assert.equal(all.code, 0, all.stderr);
        assert.match(all.stdout, /Cleared .*, under it\./);
        const cold = await kr(['process', profile, '--debug']);
        for (const u of under) assert.match(cold.stderr, new RegExp(`cache miss for ${u.source}`));
      }
    });
  }

  test('sso logout removes the role credentials obtained with the token, found through the planner (sso, sso.chained)', async () => {
    for (const p of ['sso', 'sso.chained']) assert.equal((await kr(['process', p])).code, 0);
    const out = await kr(['sso', 'logout', 'plan-sso']);
    assert.equal(out.code, 0, out.stderr);
    // The SSO role (shared by both profiles) and the role chained on it.
    assert.match(out.stdout, /2 cached role credentials obtained with it are removed/, out.stdout);
    const list = await kr(['cache', 'list']);
    assert.doesNotMatch(list.stdout, /IAM Identity Center role/, list.stdout);
    // The token `aws sso login` left is the AWS CLI's (aws sso logout ends it): still shown, as the sign-in keyrole would use.
    assert.match(list.stdout, /^IAM Identity Center sign-in \(plan-sso, the token aws sso login left\): \d+ min left .*; used by sso, sso\.chained$/m);
    const after = await kr(['process', 'sso', '--debug']);
    assert.match(after.stderr, /cache miss for IAM Identity Center role AdministratorAccess/);
  });

  test('regression (sso logout stopped after removing the token when a profile had a bad keyrole_cache): the role credentials are removed all the same', async () => {
    // First in the file, so the planner meets it before the profiles whose entries are removed.
    w.writeConfig(`${keyroleProfile('sso.badcache', { region: 'eu-west-1', keyrole_sso_session: 'plan-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'ReadOnly', keyrole_cache: 'bogus' })}\n${config}`);
    try {
      assert.equal((await kr(['process', 'sso'])).code, 0);
      const out = await kr(['sso', 'logout', 'plan-sso']);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /1 cached role credential obtained with it is removed/, out.stdout);
      const after = await kr(['process', 'sso', '--debug']);
      assert.match(after.stderr, /cache miss for IAM Identity Center role AdministratorAccess/);
    } finally {
      w.writeConfig(config);
    }
  });
});
