// `keyrole console` end to end: the built keyrole, a real gnome-keyring, the emulator's STS,
// SSO portal and federation endpoint (KEYROLE_SIGNIN_URL), a BROWSER script that records
// what it was given, and Debian's headless Chromium following the sign-in to the stub
// console. Role, SSO and plain IAM-user profiles (GetFederationToken), the MFA refusal, a
// source whose policy denies GetFederationToken, refused credentials, no browser.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { run, type RunResult } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL } from './support/emulator.ts';
import { totp } from '../emulator/totp.ts';
import { tempDir } from './support/tmp.ts';

const ADMIN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const READONLY = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly`;
const MFA_ADMIN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/MfaAdmin`;
const START = 'https://keyrole-demo.awsapps.com/start';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface ConsoleSession { arn: string; kind: string; destination: string; sessionDurationSeconds?: number; permissions: string }
interface SigninStats { getSigninToken: number; refused: number; login: number; consoles: ConsoleSession[] }

const CONFIG = `[sso-session my-sso]
sso_start_url = ${START}
sso_region = eu-west-1

${keyroleProfile('admin', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ADMIN, keyrole_duration_seconds: 7200 })}
${keyroleProfile('user', { region: 'eu-west-1', keyrole_source: 'alice' })}
${keyroleProfile('user-mfa', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_mfa_serial: DEMO_MFA_SERIAL })}
${keyroleProfile('chained', { region: 'eu-west-1', keyrole_source_profile: 'admin', keyrole_role_arn: READONLY })}
${keyroleProfile('mfa-role', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_mfa_serial: DEMO_MFA_SERIAL, keyrole_role_arn: MFA_ADMIN })}
${keyroleProfile('mfa-long', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_mfa_serial: DEMO_MFA_SERIAL, keyrole_role_arn: MFA_ADMIN, keyrole_duration_seconds: 43200 })}
${keyroleProfile('denied', { region: 'eu-west-1', keyrole_source: 'carol' })}
${keyroleProfile('sso-admin', { region: 'eu-west-1', keyrole_sso_session: 'my-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'AdministratorAccess' })}
`;

describe('keyrole console', () => {
  let w: World;
  let env: Record<string, string | undefined>;
  const temps: string[] = [];
  const temp = (prefix: string) => { const d = tempDir(prefix); temps.push(d); return d; };
  const signinStats = () => w.emu.control<SigninStats>('GET', 'signin/stats');
  const consoleDir = () => join(w.home, '.aws', 'keyrole', 'console');

  /** One line on stderr, nothing on stdout, exit 1. */
  function assertOneLineFailure(r: RunResult, pattern: RegExp) {
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  }

  /** Follows a printed sign-in URL as a browser would: login → 302 with a cookie → the stub console's text. */
  async function follow(url: string): Promise<string> {
    const login = await fetch(url, { redirect: 'manual' });
    assert.equal(login.status, 302, await login.text());
    const page = await fetch(new URL(login.headers.get('location')!, url), { headers: { cookie: login.headers.get('set-cookie')!.split(';')[0]! } });
    assert.equal(page.status, 200);
    return page.text();
  }

  async function signinUrl(args: string[], extra: Record<string, string | undefined> = {}): Promise<string> {
    const r = await w.keyrole(['console', ...args, '--url'], { env: { ...env, ...extra } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stdout);
    assert.match(lines[0]!, new RegExp(`^${w.emu.url}/federation\\?Action=login&Issuer=keyrole&Destination=[^&]+&SigninToken=[\\w-]{200,}$`));
    return lines[0]!;
  }

  /** Waits (without a deadline of its own: the test's timeout bounds it) for a file the BROWSER script writes last. */
  async function waitForFile(path: string): Promise<void> {
    while (!existsSync(path)) await new Promise((r) => setTimeout(r, 50));
  }

  before(async () => {
    w = await startWorld();
    w.writeConfig(CONFIG);
    env = {
      ...w.env, KEYROLE_SIGNIN_URL: `${w.emu.url}/federation`, AWS_ENDPOINT_URL_SSO_OIDC: w.emu.url, AWS_ENDPOINT_URL_SSO: w.emu.url,
      DISPLAY: '', WAYLAND_DISPLAY: '', BROWSER: undefined, KEYROLE_NO_BROWSER: undefined,
    };
    assert.equal((await w.setup('alice')).code, 0);
    const carol = await w.emu.control<{ accessKeyId: string; secretAccessKey: string }>('POST', 'users', { userName: 'carol', deny: ['sts:GetFederationToken'] });
    assert.equal((await w.setup('carol', carol.accessKeyId, carol.secretAccessKey)).code, 0);
  });
  after(async () => {
    await w?.stop();
    if (w) rmSync(w.home, { recursive: true, force: true });
    for (const d of temps) rmSync(d, { recursive: true, force: true });
  });

  test('a role profile: its own credentials, SessionDuration from the profile, the region\'s console home', async () => {
    await w.emu.control('POST', 'signin/reset-stats');
    const html = await follow(await signinUrl(['admin']));
    assert.match(html, new RegExp(`Signed in as arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/keyrole-alice-`));
    assert.match(html, /Destination https:\/\/eu-west-1\.console\.aws\.amazon\.com\/console\/home\?region=eu-west-1/);
    const s = await signinStats();
    assert.equal(s.consoles.at(-1)!.sessionDurationSeconds, 7200);
    // The cache serves the credentials, as for keyrole process: a second sign-in makes no STS call.
    await w.emu.resetStats();
    await signinUrl(['admin', '--duration', '900', '--destination', 'ec2/home#Instances:', '--region', 'us-west-2']).then(follow);
    assert.equal((await w.emu.stats()).requests.length, 0, 'no STS call: the role credentials came from the cache');
    const last = (await signinStats()).consoles.at(-1)!;
    assert.equal(last.sessionDurationSeconds, 900);
    assert.equal(last.destination, 'https://us-west-2.console.aws.amazon.com/ec2/home?region=us-west-2#Instances:');
  });

  test('a profile without a role: a GetFederationToken session with the user\'s own permissions, never GetSessionToken', async () => {
    await w.emu.resetStats();
    const html = await follow(await signinUrl(['user', '--destination', 's3']));
    assert.match(html, new RegExp(`Signed in as arn:aws:sts::${DEMO_ACCOUNT_ID}:federated-user/alice`));
    assert.match(html, /Permissions: the user(&#39;|')s own/);
    assert.match(html, /Destination https:\/\/eu-west-1\.console\.aws\.amazon\.com\/s3\/home\?region=eu-west-1/);
    const actions = (await w.emu.stats()).requests.map((q) => `${q.action}:${q.ok}`);
    assert.deepEqual(actions, ['GetFederationToken:true']);
    assert.equal((await signinStats()).consoles.at(-1)!.sessionDurationSeconds, undefined, 'no SessionDuration for federation credentials');
  });

  test('the console refuses GetSessionToken credentials, which is why keyrole never sends them', async () => {
    const blob = JSON.parse((await w.keyrole(['process', 'user'], { env })).stdout) as { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };
    const q = new URLSearchParams({ Action: 'getSigninToken', Session: JSON.stringify({ sessionId: blob.AccessKeyId, sessionKey: blob.SecretAccessKey, sessionToken: blob.SessionToken }) });
    const res = await fetch(`${w.emu.url}/federation?${q}`);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /Invalid credentials parameter/);
  });

  test('an MFA source without a role is refused before any call, in one line naming both ways out; --no-mfa signs in without MFA', async () => {
    await w.emu.resetStats();
    assertOneLineFailure(await w.keyrole(['console', 'user-mfa'], { env }), /^keyrole: profile user-mfa has no role, and GetFederationToken .* takes no MFA code.*keyrole_role_arn.*--no-mfa/);
    assert.equal((await w.emu.stats()).requests.length, 0);
    const html = await follow(await signinUrl(['user-mfa', '--no-mfa']));
    assert.match(html, /federated-user\/alice/);
  });

  test('a source whose policy denies GetFederationToken: one line with the cause and the fix', async () => {
    assertOneLineFailure(await w.keyrole(['console', 'denied', '--url'], { env }), /^keyrole: STS denied GetFederationToken carol .*explicit deny.*; the source user's policy must allow sts:GetFederationToken/);
  });

  test('a chained role gets no SessionDuration, and --duration is refused for it', async () => {
    await w.emu.control('POST', 'signin/reset-stats');
    assert.match(await follow(await signinUrl(['chained'])), /assumed-role\/ReadOnly\//);
    assert.equal((await signinStats()).consoles.at(-1)!.sessionDurationSeconds, undefined);
    assertOneLineFailure(await w.keyrole(['console', 'chained', '--duration', '3600'], { env }), /^keyrole: profile chained's role is assumed with temporary credentials .*role chaining.*leave out --duration/);
  });

  // AWS's 1-hour rule (src/credentials/assume.ts): a role assumed with the MFA session is
  // role chaining for AWS, so its console session takes no SessionDuration; an MFA role over
  // an hour is assumed with the long-term key (the code sent with it) and takes one.
  test('an MFA role: chained (no SessionDuration) when the MFA session assumes it, its own duration when the code goes with AssumeRole', async () => {
    await w.emu.control('POST', 'signin/reset-stats');
    // Two codes of the one device, a step apart (STS takes each code once).
    const code = (step: number) => totp(DEMO_MFA_SECRET, Date.now(), step);
    assert.match(await follow(await signinUrl(['mfa-role'], { KEYROLE_MFA_TOKEN: code(0) })), /assumed-role\/MfaAdmin\//);
    assert.equal((await signinStats()).consoles.at(-1)!.sessionDurationSeconds, undefined);
    assert.match(await follow(await signinUrl(['mfa-long'], { KEYROLE_MFA_TOKEN: code(1) })), /assumed-role\/MfaAdmin\//);
    assert.equal((await signinStats()).consoles.at(-1)!.sessionDurationSeconds, 43200);
  });

  test('credentials the federation endpoint refuses (revoked) are one line naming cache clear', async () => {
    await signinUrl(['admin']);
    const cached = JSON.parse((await w.keyrole(['process', 'admin'], { env })).stdout) as { AccessKeyId: string };
    await w.emu.control('POST', 'expire', { accessKeyId: cached.AccessKeyId });
    assertOneLineFailure(await w.keyrole(['console', 'admin', '--url'], { env }),
      /^keyrole: the federation endpoint at 127\.0\.0\.1:\d+ refused the sign-in \(HTTP 400: HTTP Status 400 - Invalid credentials parameter\);.*keyrole cache clear/);
    assert.equal((await w.keyrole(['cache', 'clear', 'admin'], { env })).code, 0);
  });

  test('bad input is refused before any call: region, destination, KEYROLE_SIGNIN_URL', async () => {
    assertOneLineFailure(await w.keyrole(['console', 'admin', '--region', 'x@evil.com#'], { env }), /^keyrole: region .* is not a region name/);
    assertOneLineFailure(await w.keyrole(['console', 'admin', '--destination', 'https://evil.example.com/'], { env }), /^keyrole: --destination .* is not on the aws console/);
    assertOneLineFailure(await w.keyrole(['console', 'admin'], { env: { ...env, KEYROLE_SIGNIN_URL: 'http://signin.example.com/federation' } }), /^keyrole: KEYROLE_SIGNIN_URL .* is not an https URL/);
  });

  test('an IAM Identity Center profile signs in with its role credentials', async () => {
    const minted = await w.emu.control<Record<string, string>>('POST', 'sso/token', { startUrl: START });
    const dir = join(w.home, '.aws', 'sso', 'cache');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, `${createHash('sha1').update('my-sso').digest('hex')}.json`), JSON.stringify({
      startUrl: START, region: 'eu-west-1', accessToken: minted.accessToken, expiresAt: minted.expiresAt,
      clientId: minted.clientId, clientSecret: minted.clientSecret, registrationExpiresAt: minted.registrationExpiresAt,
    }), { mode: 0o600 });
    await w.emu.control('POST', 'signin/reset-stats');
    const html = await follow(await signinUrl(['sso-admin']));
    assert.match(html, new RegExp(`Signed in as arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/AWSReservedSSO_AdministratorAccess_[0-9a-f]+/`));
    assert.equal((await signinStats()).consoles.at(-1)!.sessionDurationSeconds, 3600);
  });

  test('BROWSER is given a 0600 page in the 0700 private directory, never the token; lapsed pages are removed', async () => {
    const rec = temp('keyrole-browser-');
    const script = join(rec, 'browser.sh');
    writeFileSync(script, `#!/bin/sh
printf '%s\\n' "$@" > "${rec}/argv"
for a; do last=$a; done
page=$(printf '%s' "$last" | sed 's|^file://||')
stat -c %a "$page" > "${rec}/mode"
stat -c %a "$(dirname "$page")" > "${rec}/dirmode"
cp "$page" "${rec}/page.html"
touch "${rec}/done"
`);
    chmodSync(script, 0o755);
    mkdirSync(consoleDir(), { recursive: true, mode: 0o700 });
    const old = join(consoleDir(), `signin-${'0'.repeat(24)}.html`);
    writeFileSync(old, 'lapsed', { mode: 0o600 });
    const twentyMinutesAgo = new Date(Date.now() - 20 * 60 * 1000);
    utimesSync(old, twentyMinutesAgo, twentyMinutesAgo);

    const r = await w.keyrole(['console', 'admin'], { env: { ...env, BROWSER: `${script} --new-window %s` } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '', 'nothing on stdout when the browser opens');
    assert.match(r.stderr, /^keyrole: opening the AWS console for profile admin \(eu-west-1\) in your browser; the sign-in is good once, for 15 minutes\n$/);
    await waitForFile(join(rec, 'done'));
    const argv = readFileSync(join(rec, 'argv'), 'utf8').trimEnd().split('\n');
    assert.equal(argv[0], '--new-window', 'BROWSER\'s own arguments are kept');
    assert.match(argv[1]!, new RegExp(`^file://${consoleDir()}/signin-[0-9a-f]{24}\\.html$`));
    assert.equal(argv.length, 2);
    assert.equal(readFileSync(join(rec, 'mode'), 'utf8').trim(), '600');
    assert.equal(readFileSync(join(rec, 'dirmode'), 'utf8').trim(), '700');
    const page = readFileSync(join(rec, 'page.html'), 'utf8');
    const url = /location\.replace\("([^"]+)"\)/.exec(page)![1]!;
    const token = new URL(url).searchParams.get('SigninToken')!;
    assert.ok(token.length > 200);
    assert.ok(!argv.join(' ').includes(token), 'the token is not on the browser\'s argv');
    assert.ok(!r.stderr.includes(token));
    assert.equal(existsSync(old), false, 'a page whose token has lapsed is removed');
    assert.match(await follow(url), /assumed-role\/Admin\//);
  });

  test('regression: KEYROLE_NO_BROWSER=0 or off leaves the browser on (any value used to turn it off)', async () => {
    for (const value of ['0', 'off']) {
      const rec = temp('keyrole-browser-on-');
      const script = join(rec, 'browser.sh');
      writeFileSync(script, `#!/bin/sh\ntouch "${rec}/done"\n`);
      chmodSync(script, 0o755);
      const r = await w.keyrole(['console', 'admin'], { env: { ...env, BROWSER: script, KEYROLE_NO_BROWSER: value } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '', `KEYROLE_NO_BROWSER=${value}: no URL on stdout, the browser was started`);
      assert.match(r.stderr, /in your browser/);
      await waitForFile(join(rec, 'done'));
    }
  });

  test('no browser: a warning line on stderr, the URL on stdout, no page left behind', async () => {
    rmSync(consoleDir(), { recursive: true, force: true });
    for (const extra of [{}, { BROWSER: '/nonexistent/browser' }, { DISPLAY: ':0', KEYROLE_NO_BROWSER: '1' }]) {
      const r = await w.keyrole(['console', 'admin'], { env: { ...env, ...extra } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^keyrole: no browser could be opened \(set BROWSER, or run where there is a display\); the sign-in URL follows on stdout: a secret, good once for 15 minutes\n$/);
      assert.equal(r.stdout.trimEnd().split('\n').length, 1);
      assert.match(await follow(r.stdout.trim()), /assumed-role\/Admin\//);
      assert.deepEqual(readdirSync(consoleDir()), [], JSON.stringify(extra));
    }
  });

  test("headless Chromium follows the printed URL to the stub console", async () => {
    const chromium = requireTool('chromium');
    const profileDir = temp('keyrole-chromium-');
    const url = await signinUrl(['user', '--destination', 'iam']);
    const r = await run(chromium, [...CHROMIUM_FLAGS, `--user-data-dir=${profileDir}`, '--dump-dom', url], { timeoutMs: 180_000, env: { HOME: profileDir } });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.match(r.stdout, /<title>AWS Management Console \(keyrole emulator\)<\/title>/);
    assert.match(r.stdout, new RegExp(`Signed in as arn:aws:sts::${DEMO_ACCOUNT_ID}:federated-user/alice`));
    assert.match(r.stdout, /Destination https:\/\/eu-west-1\.console\.aws\.amazon\.com\/iam\/home\?region=eu-west-1/);
    rmSync(profileDir, { recursive: true, force: true });
  });

  test('headless Chromium as BROWSER: the local page forwards it to the signed-in console', async () => {
    const chromium = requireTool('chromium');
    const rec = temp('keyrole-chromium-browser-');
    const profileDir = join(rec, 'profile');
    const script = join(rec, 'browser.sh');
    // --virtual-time-budget lets the page's redirect finish before the DOM is dumped.
    writeFileSync(script, `#!/bin/sh
HOME="${rec}" "${chromium}" ${CHROMIUM_FLAGS.join(' ')} --user-data-dir="${profileDir}" --virtual-time-budget=20000 --dump-dom "$1" > "${rec}/dom" 2>/dev/null
echo $? > "${rec}/done"
`);
    chmodSync(script, 0o755);
    const r = await w.keyrole(['console', 'admin', '--destination', 's3'], { env: { ...env, BROWSER: script } });
    assert.equal(r.code, 0, r.stderr);
    await waitForFile(join(rec, 'done'));
    assert.equal(readFileSync(join(rec, 'done'), 'utf8').trim(), '0');
    const dom = readFileSync(join(rec, 'dom'), 'utf8');
    assert.match(dom, new RegExp(`Signed in as arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/`));
    assert.match(dom, /Destination https:\/\/eu-west-1\.console\.aws\.amazon\.com\/s3\/home\?region=eu-west-1/);
  });
});
