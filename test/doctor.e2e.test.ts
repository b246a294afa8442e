// `keyrole doctor` end to end: a healthy profile passes, and each problem it is meant to
// find is found, with its fix, a non-zero exit and one line on stderr. Real gnome-keyring,
// the emulator, the built executable.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { startKeyring, tempHome } from './support/keyring.ts';
import { keyrole, KEYROLE, run, type RunResult } from './support/run.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';
import { requireTool } from './support/tools.ts';

const ADMIN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;

interface Report { profile: string | null; ok: boolean; problems: number; warnings: number; checks: { name: string; status: string; message: string; fix?: string }[] }

/** A check line of a plain report (the first of that name, or of that status): status, text, and the fix line under it. */
function line(r: RunResult, name: string, status?: string): { status: string; text: string; fix?: string } {
  const lines = r.stdout.split('\n');
  const i = lines.findIndex((l) => new RegExp(`^(${status ?? 'ok|warning|problem|skipped'}) +${name}  `).test(l));
  assert.ok(i >= 0, `no ${name} line in:\n${r.stdout}`);
  const fix = /^ +fix: (.*)$/.exec(lines[i + 1] ?? '')?.[1];
  return { status: lines[i].split(/ +/)[0], text: lines[i], fix };
}

function assertProblem(r: RunResult, name: string, message: RegExp, fix?: RegExp) {
  assert.equal(r.code, 1, `doctor exits 1 on a problem:\n${r.stdout}\n${r.stderr}`);
  const l = line(r, name, 'problem');
  assert.match(l.text, message);
  if (fix) assert.match(l.fix ?? '', fix);
  const err = r.stderr.split('\n').filter(Boolean);
  assert.equal(err.length, 1, `one line on stderr:\n${r.stderr}`);
  assert.match(err[0], new RegExp(`^keyrole: doctor found \\d+ problems? \\(.*${name}.*\\); fix them`));
}

describe('keyrole doctor', () => {
  let w: World;
  const doctor = (args: string[], env?: Record<string, string | undefined>) => w.keyrole(['doctor', ...args], { env: { KEYROLE_NTP: 'off', ...env } });

  before(async () => {
    w = await startWorld();
    w.writeConfig([
      keyroleProfile('prod', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ADMIN }),
      keyroleProfile('shadowed', { keyrole_source: 'alice', keyrole_role_arn: ADMIN, role_arn: ADMIN, source_profile: 'prod' }),
      '[profile noline]\nkeyrole_source = alice\n',
      '[profile tilde]\ncredential_process = ~/bin/keyrole process tilde\nkeyrole_source = alice\n',
      '[profile missingexe]\ncredential_process = /nonexistent/keyrole process missingexe\nkeyrole_source = alice\n',
      keyroleProfile('ghost', { keyrole_source: 'ghost', keyrole_role_arn: ADMIN }),
      `[profile crossed]\ncredential_process = ${KEYROLE} process prod\nkeyrole_source = alice\nkeyrole_role_arn = ${ADMIN}\n`,
      keyroleProfile('badduration', { keyrole_source: 'alice', keyrole_duration_seconds: 'soon' }),
    ].join('\n'));
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  test('a healthy profile: every check ok, the identity shown, exit 0, nothing on stderr', async () => {
    const r = await doctor(['prod']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^keyrole doctor: profile prod \(/);
    for (const name of ['clock', 'environment', 'profile', 'profile keys', 'file syntax', 'plaintext keys', 'keychain', 'source', 'cache', 'process line', 'identity']) {
      assert.equal(line(r, name).status, 'ok', line(r, name).text);
    }
    // regression: the region's source is named.
    assert.match(line(r, 'profile').text, /region eu-west-1 \(from region in profile prod\)/);
    assert.match(line(r, 'clock').text, /STS Date header [+-]\d+\.\d{3} s/);
    assert.match(line(r, 'process line').text, /runs without a shell as botocore runs it/);
    assert.match(line(r, 'identity').text, new RegExp(`arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/keyrole-alice-.* \\(account ${DEMO_ACCOUNT_ID}\\), expire in`));
    assert.match(r.stdout, /No problems found\.\n$/);
    assert.ok(!r.stdout.includes('\x1b['), 'plain text when piped');
  });

  test('the cache line reports what is cached and the time left (doctor inspects it before filling it)', async () => {
    await w.keyrole(['cache', 'clear']);
    const first = await doctor(['prod']);
    assert.match(line(first, 'cache').text, /nothing cached in the keychain store/);
    const second = await doctor(['prod']);
    assert.match(line(second, 'cache').text, /cached in the keychain store, (59|60) min left \(until .*Z\)/);
  });

  test('--json for machines, colour with FORCE_COLOR, AWS_PROFILE or the only keyrole profile as default', async () => {
    const j = await doctor(['prod', '--json']);
    assert.equal(j.code, 0, j.stderr);
    const report = JSON.parse(j.stdout) as Report;
    assert.equal(report.ok, true);
    assert.equal(report.profile, 'prod');
    assert.ok(report.checks.some((c) => c.name === 'identity' && c.status === 'ok'));
    const c = await doctor(['prod'], { FORCE_COLOR: '1' });
    assert.ok(c.stdout.includes('\x1b[32mok'), 'ok in green');
    const viaEnv = await doctor([], { AWS_PROFILE: 'prod' });
    assert.match(viaEnv.stdout, /^keyrole doctor: profile prod/);
  });

  test('environment variables holding credentials shadow the profile', async () => {
    const r = await doctor(['prod'], { AWS_ACCESS_KEY_ID: 'AKIAENVIRONMENT00001', AWS_SECRET_ACCESS_KEY: 'x'.repeat(40) });
    assertProblem(r, 'environment', /AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY are set: the AWS CLI and boto3 use them for every command without an explicit --profile \(AWS_PROFILE does not override them\), the JS SDK unless AWS_PROFILE or a profile is given, so profile prod's credential_process is not run for those.*STS does not accept them \(InvalidClientTokenId\)/, /^unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY$/);
    assert.ok(!r.stdout.includes('x'.repeat(40)), 'no secret in the report');
  });

  test('environment variables holding expired credentials are called that', async () => {
    const blob = JSON.parse((await w.keyrole(['export', 'prod', '--format', 'json'])).stdout) as { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };
    await w.emu.control('POST', 'expire', { accessKeyId: blob.AccessKeyId });
    const r = await doctor(['prod'], { AWS_ACCESS_KEY_ID: blob.AccessKeyId, AWS_SECRET_ACCESS_KEY: blob.SecretAccessKey, AWS_SESSION_TOKEN: blob.SessionToken });
    assertProblem(r, 'environment', /environment variables hold expired credentials \(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN are set; STS refuses them as expired \(ExpiredToken\)\).*ExpiredToken/, /^unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN$/);
    assert.ok(!r.stdout.includes(blob.SecretAccessKey) && !r.stdout.includes(blob.SessionToken));
    // regression: refused by STS while AWS_CREDENTIAL_EXPIRATION is still to come: not "expired <a future time>".
    const future = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const f = await doctor(['prod'], { AWS_ACCESS_KEY_ID: blob.AccessKeyId, AWS_SECRET_ACCESS_KEY: blob.SecretAccessKey, AWS_SESSION_TOKEN: blob.SessionToken, AWS_CREDENTIAL_EXPIRATION: future });
    const fl = line(f, 'environment', 'problem');
    assert.match(fl.text, new RegExp(`STS refuses them as expired \\(ExpiredToken\\), although AWS_CREDENTIAL_EXPIRATION says ${future}`));
    assert.doesNotMatch(fl.text, new RegExp(`expired ${future}`));
    await w.keyrole(['cache', 'clear']);
  });

  test('inside keyrole exec the credentials are expected: a warning, not a problem', async () => {
    const r = await w.keyrole(['exec', 'prod', '--', KEYROLE, 'doctor', 'prod'], { env: { KEYROLE_NTP: 'off' } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const l = line(r, 'environment');
    assert.equal(l.status, 'warning');
    assert.match(l.text, /inside keyrole exec for profile prod: .* until .*Z \(in (59|60) min\)/);
  });

  test('AWS_PROFILE naming another profile is a warning; naming a missing one is a problem', async () => {
    const other = await doctor(['prod'], { AWS_PROFILE: 'noline' });
    assert.ok(other.stdout.split('\n').some((l) => /^warning +environment +AWS_PROFILE=noline: AWS commands without --profile use profile noline, not prod/.test(l)), other.stdout);
    const missing = await doctor(['prod'], { AWS_PROFILE: 'nope' });
    assertProblem(missing, 'environment', /AWS_PROFILE=nope names a profile that is not in .*ProfileNotFound/, /unset AWS_PROFILE/);
  });

  test('regression: a config line without = is flagged as the AWS CLI\'s ConfigParseError (the SDKs skip it)', async () => {
    const cfg = join(w.home, 'syntax-config');
    writeFileSync(cfg, `${keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: ADMIN })}region eu-west-1\n`, { mode: 0o600 });
    const r = await doctor(['prod', '--no-network'], { AWS_CONFIG_FILE: cfg });
    assertProblem(r, 'file syntax', /line 5 of .*syntax-config has no '=': "region eu-west-1": the AWS CLI refuses the whole file \(ConfigParseError/, /key = value/);
    requireTool('aws');
    const cli = await w.run('aws', ['configure', 'list', '--profile', 'prod'], { env: { AWS_CONFIG_FILE: cfg } });
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /Unable to parse config file/);
  });

  test('regression: the AWS CLI cache check reads role_arn of a profile keyrole cannot use (not "assumes no role")', async () => {
    const cfg = join(w.home, 'native-config');
    writeFileSync(cfg, `[profile native]\nrole_arn = ${ADMIN}\nsource_profile = base\n[profile base]\nregion = eu-west-1\n`, { mode: 0o600 });
    const r = await doctor(['native', '--no-network'], { AWS_CONFIG_FILE: cfg });
    const l = line(r, 'AWS CLI cache');
    assert.doesNotMatch(l.text, /assumes no role/);
    assert.match(l.text, /no AWS CLI cache/);
  });

  test('profile keys that make the CLI bypass credential_process', async () => {
    const r = await doctor(['shadowed']);
    assertProblem(r, 'profile keys', /\[profile shadowed\] also sets role_arn, source_profile: the AWS CLI and SDKs use them before credential_process/, /remove those lines/);
  });

  test('no credential_process line', async () => {
    const r = await doctor(['noline']);
    assertProblem(r, 'process line', /profile noline has no credential_process line/, /credential_process = keyrole process noline/);
  });

  test('a credential_process line that needs a shell (~) is found, with the expanded path as fix', async () => {
    const r = await doctor(['tilde']);
    assertProblem(r, 'process line', /relies on ~ \(home\), but botocore runs it without a shell/, new RegExp(`${w.home}/bin/keyrole`));
  });

  test('a credential_process line pointing at a missing executable', async () => {
    assertProblem(await doctor(['missingexe']), 'process line', /runs \/nonexistent\/keyrole, which does not exist/);
  });

  test('a credential_process line that names another profile is a warning', async () => {
    const r = await doctor(['crossed']);
    const l = r.stdout.split('\n').find((x) => /^warning +process line +profile crossed runs keyrole process prod/.test(x));
    assert.ok(l, r.stdout);
  });

  test('a source missing from the keychain: the source check and the process line both say so', async () => {
    const r = await doctor(['ghost']);
    assertProblem(r, 'source', /source "ghost" is not in the Secret Service keychain/, /keyrole setup ghost/);
    const p = line(r, 'process line');
    assert.equal(p.status, 'problem');
    assert.match(p.text, /credential_process fails when run as botocore runs it \(exit 1\): source "ghost" is not in/);
    assert.match(p.fix ?? '', /keyrole setup ghost/);
    assert.equal(line(r, 'identity').status, 'problem');
  });

  test('an invalid profile setting is a problem with the setting named', async () => {
    assertProblem(await doctor(['badduration']), 'profile', /keyrole_duration_seconds in profile badduration = "soon"/);
  });

  test('an unknown profile', async () => {
    assertProblem(await doctor(['nope']), 'profile', /profile "nope" is not in/, /keyrole configure nope/);
  });

  test("a stale AWS CLI cache entry for the profile's role", async () => {
    const dir = join(w.home, '.aws', 'cli', 'cache');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, '0123456789abcdef0123456789abcdef01234567.json');
    writeFileSync(file, JSON.stringify({ Credentials: { AccessKeyId: 'ASIAOLD', SecretAccessKey: 's', SessionToken: 't', Expiration: '2020-01-01T00:00:00Z' }, AssumedRoleUser: { AssumedRoleId: 'AROA:x', Arn: `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/botocore-session-1` } }));
    const r = await doctor(['prod']);
    assert.equal(r.code, 0, 'a warning is not a problem');
    const l = line(r, 'AWS CLI cache');
    assert.equal(l.status, 'warning');
    assert.match(l.text, /the AWS CLI's own cache holds expired credentials for role Admin/);
    assert.equal(l.fix, `delete it: rm ${file}`);
  });

  test('a clock AWS would reject: measured from the STS Date header', async () => {
    await w.emu.behaviour({ clockOffsetMs: 20 * 60_000 });
    try {
      const r = await doctor(['prod']);
      assertProblem(r, 'clock', /this machine's clock is 20 min \d+ s behind: AWS rejects signatures more than 15 minutes off.*STS Date header \+1[12]\d\d\.\d{3} s/, /timedatectl set-ntp true/);
    } finally {
      await w.emu.behaviour({ clockOffsetMs: 0 });
    }
  });

  test('a clock a few minutes off is a warning', async () => {
    await w.emu.behaviour({ clockOffsetMs: -3 * 60_000 });
    try {
      const r = await doctor(['prod']);
      const l = line(r, 'clock');
      assert.equal(l.status, 'warning', l.text);
      // The Date header counts whole seconds, and the request takes its time: 180 s, give or
      // take a few (a busy machine read "2 min 59 s").
      const m = /(\d+) min (\d+) s ahead/.exec(l.text);
      assert.ok(m, l.text);
      const ahead = Number(m[1]) * 60 + Number(m[2]);
      assert.ok(ahead >= 170 && ahead <= 190, l.text);
    } finally {
      await w.emu.behaviour({ clockOffsetMs: 0 });
    }
  });

  test('an NTP server that does not answer is reported, and the Date header still decides', async () => {
    const r = await doctor(['prod'], { KEYROLE_NTP: undefined, KEYROLE_NTP_SERVERS: '127.0.0.1:9' });
    const l = line(r, 'clock');
    assert.equal(l.status, 'ok', l.text);
    assert.match(l.text, /NTP not answering/);
  });

  test('STS unreachable: identity is a problem with the endpoint named', async () => {
    const r = await doctor(['prod', '--json'], { AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9' });
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.ok, false);
    const id = report.checks.find((c) => c.name === 'identity')!;
    assert.equal(id.status, 'problem');
    assert.match(id.message, /cannot reach STS at http:\/\/127\.0\.0\.1:9/);
    assert.equal(report.checks.find((c) => c.name === 'clock')!.status, 'warning');
  });

  test('--no-network skips the checks that talk to AWS', async () => {
    const r = await doctor(['prod', '--no-network']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const name of ['clock', 'identity']) assert.equal(line(r, name).status, 'skipped');
    assert.doesNotMatch(r.stdout, /runs without a shell/);
  });
});

describe('keyrole doctor and the keychain', () => {
  test('a locked keychain is a problem, with how to unlock it', async () => {
    const home = tempHome();
    const first = await startKeyring({ home, password: 'right' });
    assert.equal((await keyrole(['setup', 'alice', '--force', '--no-verify'], { env: first.env, input: 'AKIAKEYROLEDEMO00001\nkeyroleDemoSecret/DoNotUse+0000000000000\n' })).code, 0);
    await first.stop();
    const second = await startKeyring({ home, password: 'wrong' });
    try {
      mkdirSync(join(home, '.aws'), { recursive: true });
      writeFileSync(join(home, '.aws', 'config'), keyroleProfile('prod', { keyrole_source: 'alice' }));
      chmodSync(join(home, '.aws', 'config'), 0o600);
      const r = await keyrole(['doctor', 'prod', '--no-network'], { env: second.env });
      assertProblem(r, 'keychain', /Secret Service keychain is locked/, /unlock it/);
      // regression: the fix offered works from a shell (it used to be gnome-keyring-daemon
      // --unlock, which waits silently on stdin and starts a second daemon). Run it as given,
      // the password typed on its stdin.
      const fix = line(r, 'keychain', 'problem').fix ?? '';
      const cmd = / from this shell run (.*) \(KeePassXC/.exec(fix)?.[1];
      assert.ok(cmd, fix);
      const unlocked = await run('bash', ['-c', cmd], { env: second.env, input: 'right\n', timeoutMs: 30_000 });
      assert.equal(unlocked.code, 0, unlocked.stderr);
      const list = await keyrole(['list'], { env: second.env });
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^alice +AKIA…0001/m);
    } finally {
      await second.stop();
    }
  });

  test('no D-Bus session: the encrypted file store is chosen by itself, and doctor says so and how to create it', async () => {
    const home = tempHome();
    const r = await keyrole(['doctor', '--no-network'], { env: { HOME: home } });
    const l = line(r, 'keychain', 'warning');
    assert.match(l.text, /keyrole's file store \(chosen by itself: no D-Bus session\) is not created yet/);
    assert.match(l.fix ?? '', /keyrole setup <source>/);
  });

  test('a D-Bus address with no bus behind it is a problem, with the alternatives (a bus where nobody owns the name: test/autoselect.e2e.test.ts)', async () => {
    const home = tempHome();
    const r = await keyrole(['doctor', '--no-network'], { env: { HOME: home, DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(home, 'no-bus')}` } });
    assertProblem(r, 'keychain', /no Secret Service is running: no Secret Service answers on this D-Bus session/, /KEYROLE_KEYCHAIN=file/);
  });
});
