// Names and listings (issue 18): `keyrole list` shows every keyrole profile (keychain,
// SSO, chained, dotted names) in aligned columns; `cache list --json`; `cache list` names
// the region where two entries differ only by it; `keyrole cache` alone is a usage line.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROLE = (name: string) => `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/${name}`;

/** The column each header starts at, and that every row's cell starts there too. */
function assertAligned(block: string[]): void {
  const header = block[0];
  const starts = [...header.matchAll(/(?:^|\s{2})(\S)/g)].map((m) => m.index + m[0].length - 1);
  for (const row of block.slice(1)) {
    for (const at of starts.slice(1)) assert.ok(row[at - 1] === ' ' && row[at] !== ' ', `row not aligned with the header at ${at}:\n${header}\n${row}`);
  }
}

describe('list and cache list', () => {
  let w: World;
  before(async () => {
    w = await startWorld();
    w.writeConfig([
      '[sso-session corp]\nsso_start_url = https://names.awsapps.com/start\nsso_region = eu-west-1\n',
      keyroleProfile('plain', { keyrole_source: 'alice' }),
      keyroleProfile('admin-eu', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin'), region: 'eu-west-1' }),
      keyroleProfile('admin-us', { keyrole_source: 'alice', keyrole_role_arn: ROLE('Admin'), region: 'us-east-1' }),
      keyroleProfile('chained', { keyrole_source_profile: 'admin-eu', keyrole_role_arn: ROLE('ReadOnly') }),
      keyroleProfile('111122223333.AdministratorAccess', { keyrole_sso_session: 'corp', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'AdministratorAccess' }),
      '[profile notkeyrole]\nregion = eu-west-1\n',
    ].join('\n'));
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  test('regression: list shows every keyrole profile (keychain, SSO, chained, dotted) in aligned columns', async () => {
    const r = await w.keyrole(['list']);
    assert.equal(r.code, 0, r.stderr);
    const [sources, profiles] = r.stdout.trimEnd().split('\n\n').map((b) => b.split('\n'));
    assert.match(sources[0], /^SOURCE +ACCESS KEY +PROFILES$/);
    assert.match(sources[1], /^alice +AKIA…0001 +admin-eu, admin-us, plain$/);
    assertAligned(sources);
    assert.match(profiles[0], /^PROFILE +USES +ROLE$/);
    const row = (p: string) => profiles.find((l) => l.startsWith(`${p} `)) ?? '';
    assert.match(row('111122223333.AdministratorAccess'), /IAM Identity Center corp 111122223333\/AdministratorAccess/);
    assert.match(row('chained'), /profile admin-eu +arn:aws:iam::111122223333:role\/ReadOnly$/);
    assert.match(row('plain'), /source alice +\(no role: GetSessionToken\)$/);
    assert.equal(row('notkeyrole'), '');
    assertAligned(profiles);
  });

  test('regression: cache list names the region where two entries differ only by it, and --json gives the rows', async () => {
    for (const p of ['admin-eu', 'admin-us']) assert.equal((await w.keyrole(['process', p])).code, 0);
    const r = await w.keyrole(['cache', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^admin-eu +role arn:aws:iam::111122223333:role\/Admin in eu-west-1 /m);
    assert.match(r.stdout, /^admin-us +role arn:aws:iam::111122223333:role\/Admin in us-east-1 /m);
    // The table, then (after a blank line) the IAM Identity Center sign-ins behind the profiles.
    assertAligned(r.stdout.trimEnd().split('\n\n')[0].split('\n'));
    const j = await w.keyrole(['cache', 'list', '--json']);
    assert.equal(j.code, 0, j.stderr);
    // regression: cache list --json said profile/expiresIn while status --json and whoami --json say Profile/ExpiresInSeconds.
    const rows = JSON.parse(j.stdout) as Record<string, unknown>[];
    for (const x of rows) assert.deepEqual(Object.keys(x), ['Profile', 'Role', 'Region', 'Expiration', 'ExpiresInSeconds', 'Store']);
    assert.deepEqual(rows.map((x) => [x.Profile, x.Region, x.Store]).sort(), [['admin-eu', 'eu-west-1', 'keychain'], ['admin-us', 'us-east-1', 'keychain']]);
    assert.ok(rows.every((x) => Date.parse(x.Expiration as string) > Date.now()));
    assert.ok(rows.every((x) => typeof x.ExpiresInSeconds === 'number' && x.ExpiresInSeconds > 900 && x.ExpiresInSeconds <= 43200), j.stdout);
    const status = JSON.parse((await w.keyrole(['status', 'admin-eu', '--json'])).stdout) as Record<string, unknown>;
    assert.ok('Profile' in status && 'Layers' in status, 'status --json names its fields the same way');
  });

  test('regression: keyrole cache alone prints a usage line, not unknown cache command ""', async () => {
    const r = await w.keyrole(['cache']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'keyrole: cache needs a subcommand; keyrole cache list [--json] | keyrole cache clear [profile] [--all-layers]\n');
  });

  test('regression: the top-level help lists sso logout and import, its descriptions in one column', async () => {
    const r = await w.keyrole(['--help']);
    assert.equal(r.code, 0);
    const lines = r.stdout.split('\n');
    const cmds = lines.slice(lines.indexOf('Commands:') + 1, lines.indexOf('', lines.indexOf('Commands:')));
    assert.ok(cmds.some((l) => /^ {2}sso logout <session> +sign out/.test(l)), r.stdout);
    assert.ok(cmds.some((l) => /^ {2}import +move plaintext keys/.test(l)), r.stdout);
    const cols = new Set(cmds.map((l) => /^ {2}\S.*?\S {2,}(?=\S)/.exec(l)![0].length));
    assert.equal(cols.size, 1, `descriptions start at different columns:\n${cmds.join('\n')}`);
  });

  test('regression: doctor finds a dotted keyrole profile (what sso populate writes) as the only one', async () => {
    const cfg = join(w.home, 'dotted-config');
    writeFileSync(cfg, `[sso-session corp]\nsso_start_url = https://names.awsapps.com/start\nsso_region = eu-west-1\n${keyroleProfile('111122223333.ReadOnly', { keyrole_sso_session: 'corp', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'ReadOnly' })}[profile plain]\nregion = eu-west-1\n`, { mode: 0o600 });
    const r = await w.keyrole(['doctor', '--no-network'], { env: { AWS_CONFIG_FILE: cfg } });
    assert.match(r.stdout, /^keyrole doctor: profile 111122223333\.ReadOnly /);
  });
});
