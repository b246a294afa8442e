// `keyrole login` for IAM Identity Center as AWS CLI 2.22+ signs in, end to end: the built
// keyrole, a real gnome-keyring, the emulator's strict /authorize. The browser sign-in with
// PKCE driven by Debian's headless Chromium (BROWSER), without a terminal; --no-browser
// printing the URL, followed by the test through the emulator's Allow page (and a forged
// redirect refused on the way); Deny; the timeout; --use-device-code; the device flow by
// itself over SSH, with the note; client registrations reused per grant and scopes.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { onPty, type PtyResult } from './support/pty.ts';
import { baseEnv, KEYROLE, ROOT, requireBuild } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { chromiumBrowser } from './support/chromium.ts';
import { until } from './support/until.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';

const START = 'https://keyrole-demo.awsapps.com/start';
// keyrole opens a page file that forwards to the sign-in URL (src/util/pagefile.ts); BROWSER scripts follow it with this.
const PAGE_URL = join(ROOT, 'test', 'fixtures', 'page-url.sh');

interface SsoStats { registerClient: number; startDeviceAuthorization: number; authorize: number; authorizeRefused: number; createToken: { deviceCode: number; authorizationCode: number; refreshToken: number } }

const config = (scopes: string) => `[sso-session my-sso]
sso_start_url = ${START}
sso_region = eu-west-1
${scopes ? `sso_registration_scopes = ${scopes}\n` : ''}
${keyroleProfile('sso-admin', { region: 'eu-west-1', keyrole_sso_session: 'my-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'AdministratorAccess' })}`;

/** keyrole without a terminal, its stderr readable while it runs. */
function started(args: string[], env: Record<string, string>) {
  const child = spawn(requireBuild(), args, { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { done, stderr: () => stderr, kill: () => child.kill('SIGKILL') };
}

describe('keyrole login: the browser sign-in with PKCE, and the device flow where it fits', () => {
  let w: World;
  let env: Record<string, string>;
  const stats = () => w.emu.control<SsoStats>('GET', 'sso/stats');

  /** `keyrole <args>` at a terminal with a BROWSER that records what it is given; the device code approved as soon as it is pending. */
  async function deviceLoginAtPty(args: string, extra: Record<string, string>): Promise<{ r: PtyResult; log: string }> {
    const log = join(w.home, `browser-${Date.now()}.log`);
    const script = `${log}.sh`;
    writeFileSync(script, `#!/bin/sh\necho "$1" >> "${log}"\n`);
    chmodSync(script, 0o755);
    const [r] = await Promise.all([
      onPty(`${KEYROLE} ${args}`, [], { ...env, BROWSER: script, ...extra }, 60_000),
      (async () => {
        const code = await until('a pending device code', async () => (await w.emu.control<{ userCode: string }[]>('GET', 'sso/pending'))[0]?.userCode);
        await w.emu.control('POST', 'sso/approve', { userCode: code });
      })(),
    ]);
    return { r, log };
  }

  before(async () => {
    w = await startWorld();
    w.writeConfig(config('sso:account:access'));
    env = { ...w.env, AWS_ENDPOINT_URL_SSO_OIDC: w.emu.url, AWS_ENDPOINT_URL_SSO: w.emu.url, DISPLAY: '', WAYLAND_DISPLAY: '' };
  });
  after(() => w?.stop());

  test('headless Chromium as BROWSER, no terminal: one browser sign-in, the page says it worked, messages on stderr, then process works', async () => {
    const rec = join(w.home, 'chromium');
    const script = chromiumBrowser(rec);
    await w.emu.control('POST', 'sso/behaviour', { autoAuthorize: true });
    try {
      const r = await w.keyrole(['login', 'my-sso'], { env: { ...env, BROWSER: script }, timeoutMs: 180_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '', 'stdout carries nothing');
      assert.match(r.stderr, /Sign in to AWS IAM Identity Center \(sso-session my-sso, https:\/\/keyrole-demo\.awsapps\.com\/start\) in the browser\.\n {2}A browser tab was opened; approve the request there\./);
      assert.match(r.stderr, /Signed in\. The token is in the keychain until \S+; keyrole renews it with its refresh token\./);
      assert.doesNotMatch(r.stderr, /device flow|Code:/);
      await until('Chromium to finish', () => (existsSync(join(rec, 'done')) ? true : undefined));
      assert.equal(readFileSync(join(rec, 'done'), 'utf8').trim(), '0');
      const dom = readFileSync(join(rec, 'dom'), 'utf8');
      assert.match(dom, /<h1>keyrole: Signed in<\/h1><p>Signed in to AWS IAM Identity Center\. You can close this tab\.<\/p>/);
      const opened = readFileSync(join(rec, 'opened'), 'utf8').trim().split('\n');
      assert.equal(opened.length, 1, 'one tab');
      assert.match(opened[0]!, /^file:\/\/\/\S+\.html$/, 'the browser is given a page file, not the URL');
      const u = new URL(readFileSync(join(rec, 'url'), 'utf8').trim());
      assert.equal(`${u.origin}${u.pathname}`, `${w.emu.url}/authorize`);
      assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
      assert.match(u.searchParams.get('redirect_uri')!, /^http:\/\/127\.0\.0\.1:\d+\/oauth\/callback$/);
      assert.match(u.searchParams.get('code_challenge')!, /^[\w-]{43}$/);
      assert.match(u.searchParams.get('state')!, /^[\w-]{43,}$/);
      const s = await stats();
      assert.deepEqual([s.registerClient, s.authorize, s.createToken.authorizationCode, s.startDeviceAuthorization], [1, 1, 1, 0]);
    } finally {
      await w.emu.control('POST', 'sso/behaviour', { autoAuthorize: false });
    }
    const p = await w.keyrole(['process', 'sso-admin'], { env });
    assert.equal(p.code, 0, p.stderr);
    assert.equal((JSON.parse(p.stdout) as { AccountId: string }).AccountId, DEMO_ACCOUNT_ID);
  });

  test('--no-browser prints the URL; the test follows it through the Allow page; a forged redirect is refused on the way; the registration is reused', async () => {
    const before = await stats();
    const k = started(['login', 'my-sso', '--no-browser'], { ...env, DISPLAY: ':99', BROWSER: '/nonexistent/browser' });
    try {
      const url = await until('the URL on stderr', () => /^ {2}(http:\/\/\S+\/authorize\?\S+)$/m.exec(k.stderr())?.[1]);
      assert.match(k.stderr(), /Open this URL in a browser on this machine \(it comes back to 127\.0\.0\.1\):/);
      const redirect = new URL(url).searchParams.get('redirect_uri')!;
      // Another page or process guessing at the listener: refused, and the sign-in goes on.
      const forged = await fetch(`${redirect}?code=stolen&state=guess`);
      assert.equal(forged.status, 400);
      assert.match(await forged.text(), /does not belong to the sign-in keyrole started/);
      const page = await fetch(url, { redirect: 'manual' });
      const request = /name="request" value="([^"]+)"/.exec(await page.text())![1]!;
      const allowed = await fetch(`${w.emu.url}/authorize`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ request, allow: '1' }) });
      const back = allowed.headers.get('location')!;
      assert.ok(back.startsWith(`${redirect}?`), back);
      const landed = await fetch(back);
      assert.equal(landed.status, 200);
      assert.match(await landed.text(), /You can close this tab/);
      // One code, then the listener is gone: the same redirect again finds nobody.
      await assert.rejects(fetch(back), /fetch failed/);
      const r = await k.done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '');
      assert.doesNotMatch(r.stderr, /A browser tab was opened/, '--no-browser opens nothing');
    } finally {
      k.kill();
    }
    const s = await stats();
    assert.equal(s.registerClient, before.registerClient, 'the browser registration was reused');
    assert.equal(s.createToken.authorizationCode, before.createToken.authorizationCode + 1);
  });

  test('Deny in the browser, and nobody coming back in time: each one line naming keyrole login', async () => {
    const k = started(['login', 'my-sso', '--no-browser'], env);
    try {
      const url = await until('the URL', () => /^ {2}(http:\/\/\S+\/authorize\?\S+)$/m.exec(k.stderr())?.[1]);
      const request = /name="request" value="([^"]+)"/.exec(await (await fetch(url)).text())![1]!;
      const denied = await fetch(`${w.emu.url}/authorize`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ request, deny: '1' }) });
      const page = await fetch(denied.headers.get('location')!);
      assert.match(await page.text(), /Sign-in failed/);
      const r = await k.done;
      assert.equal(r.code, 1);
      assert.match(r.stderr.trimEnd().split('\n').at(-1)!, /^keyrole: the sign-in request was denied \(.*\); run keyrole login my-sso again and choose Allow$/);
    } finally {
      k.kill();
    }
    const late = await w.keyrole(['login', 'my-sso', '--no-browser'], { env: { ...env, KEYROLE_SSO_LOGIN_TIMEOUT: '2' } });
    assert.equal(late.code, 1);
    assert.match(late.stderr.trimEnd().split('\n').at(-1)!, /^keyrole: the browser sign-in did not come back within 2 s; run keyrole login again .*--use-device-code/);
  });

  test('--use-device-code at a display: the device flow with the page opened, and a registration of its own', async () => {
    const before = await stats();
    const { r, log } = await deviceLoginAtPty('login my-sso --use-device-code', {});
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /Code: {2}[A-Z]{4}-[A-Z]{4}/);
    assert.doesNotMatch(r.screen, /SSH session|No browser can be opened/, 'asked for: no note');
    assert.match(readFileSync(log, 'utf8'), /\/device\?user_code=/);
    const s = await stats();
    assert.equal(s.registerClient, before.registerClient + 1, 'a device registration is not the browser one');
    assert.equal(s.startDeviceAuthorization, before.startDeviceAuthorization + 1);
    assert.equal(s.authorize, before.authorize);
  });

  test('over SSH the device flow is the default, and the terminal says so; no browser is opened', async () => {
    const before = await stats();
    const { r, log } = await deviceLoginAtPty('login sso-admin', { DISPLAY: ':99', SSH_CONNECTION: '192.0.2.1 50000 192.0.2.2 22' });
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /This is an SSH session \(SSH_CONNECTION is set\): signing in with a code you approve in any browser \(the device flow\)/);
    assert.match(r.screen, /Open the link in a browser on any device/);
    assert.ok(!existsSync(log), 'no browser on the remote machine');
    const s = await stats();
    assert.equal(s.registerClient, before.registerClient, 'the device registration was reused');
    assert.equal(s.startDeviceAuthorization, before.startDeviceAuthorization + 1);
  });

  test('regression (login handed the /authorize URL, state and port included, to the browser\'s argv, where any local user reads it): BROWSER is given a 0600 page file and nothing else', async () => {
    requireTool('curl');
    const log = join(w.home, 'argv.log');
    const browser = join(w.home, 'argv-browser.sh');
    // A real caller's view: every argument it was started with, and the page's mode.
    writeFileSync(browser, `#!/bin/sh\nfor a in "$@"; do echo "arg:$a" >> "${log}"; done\nstat -c 'mode:%a' "\${1#file://}" >> "${log}"\ncurl -sSL -o /dev/null "$(${PAGE_URL} "$1")"\n`);
    chmodSync(browser, 0o755);
    await w.emu.control('POST', 'sso/behaviour', { autoAuthorize: true });
    try {
      const r = await w.keyrole(['login', 'my-sso'], { env: { ...env, BROWSER: browser } });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await w.emu.control('POST', 'sso/behaviour', { autoAuthorize: false });
    }
    const seen = readFileSync(log, 'utf8').trim().split('\n');
    const args = seen.filter((l) => l.startsWith('arg:')).map((l) => l.slice(4));
    assert.equal(args.length, 1, seen.join('\n'));
    assert.match(args[0]!, /^file:\/\/\/\S+\/keyrole\/login\/signin-[0-9a-f]{24}\.html$/);
    assert.doesNotMatch(args[0]!, /state|authorize|127\.0\.0\.1|code_challenge/);
    assert.ok(seen.includes('mode:600'), seen.join('\n'));
    const page = readFileSync(new URL(args[0]!), 'utf8');
    assert.match(page, /\/authorize\?[^"]*state=/, 'the page holds the URL');
  });

  test('two keyrole login at once, no terminal: one browser tab, one sign-in; the other says it joined', async () => {
    const before = await stats();
    const log = join(w.home, 'parallel-login.log');
    const follow = join(w.home, 'parallel-follow.sh');
    writeFileSync(follow, `#!/bin/sh\necho "$1" >> "${log}"\ncurl -sSL -o /dev/null "$(${PAGE_URL} "$1")"\n`);
    chmodSync(follow, 0o755);
    requireTool('curl');
    await w.emu.control('POST', 'sso/behaviour', { autoAuthorize: true });
    try {
      const [a, b] = await Promise.all([0, 1].map(() => w.keyrole(['login', 'my-sso'], { env: { ...env, BROWSER: follow } })));
      assert.equal(a!.code, 0, a!.stderr);
      assert.equal(b!.code, 0, b!.stderr);
      assert.equal([a!, b!].filter((r) => /Another keyrole signed in to sso-session my-sso; the token is valid until/.test(r.stderr)).length, 1, `${a!.stderr}\n---\n${b!.stderr}`);
    } finally {
      await w.emu.control('POST', 'sso/behaviour', { autoAuthorize: false });
    }
    assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, 1, 'one browser tab');
    assert.equal((await stats()).createToken.authorizationCode, before.createToken.authorizationCode + 1);
  });

  test('registrations are per scopes too: other scopes register anew (and get no refresh token); the first scopes reuse theirs', async () => {
    await w.emu.control('POST', 'sso/behaviour', { autoAuthorize: true });
    const follow = join(w.home, 'follow.sh');
    writeFileSync(follow, `#!/bin/sh\ncurl -sSL -o /dev/null "$(${PAGE_URL} "$1")"\n`);
    chmodSync(follow, 0o755);
    requireTool('curl');
    try {
      const before = await stats();
      w.writeConfig(config(''));
      const other = await w.keyrole(['login', 'my-sso'], { env: { ...env, BROWSER: follow } });
      assert.equal(other.code, 0, other.stderr);
      assert.match(other.stderr, /add sso_registration_scopes = sso:account:access to the sso-session for refresh tokens/);
      assert.equal((await stats()).registerClient, before.registerClient + 1);
      w.writeConfig(config('sso:account:access'));
      const back = await w.keyrole(['login', 'my-sso'], { env: { ...env, BROWSER: follow } });
      assert.equal(back.code, 0, back.stderr);
      assert.match(back.stderr, /keyrole renews it with its refresh token/);
      const s = await stats();
      assert.equal(s.registerClient, before.registerClient + 1, 'the sso:account:access browser registration was reused');
      assert.equal(s.createToken.authorizationCode, before.createToken.authorizationCode + 2);
    } finally {
      w.writeConfig(config('sso:account:access'));
      await w.emu.control('POST', 'sso/behaviour', { autoAuthorize: false });
    }
  });
});

describe('SSO is visible: cache list, cache clear, doctor and status name the profile, the role and the sign-in in the same words', () => {
  let w: World;
  let env: Record<string, string>;
  const SIGNIN = /IAM Identity Center sign-in \(my-sso\): (59|60) min( \d+ s)? left \(until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\), refreshes by itself/;

  before(async () => {
    w = await startWorld();
    w.writeConfig(config('sso:account:access'));
    env = { ...w.env, AWS_ENDPOINT_URL_SSO_OIDC: w.emu.url, AWS_ENDPOINT_URL_SSO: w.emu.url, DISPLAY: '', WAYLAND_DISPLAY: '' };
    await w.emu.control('POST', 'sso/behaviour', { autoAuthorize: true });
    const follow = join(w.home, 'follow.sh');
    writeFileSync(follow, `#!/bin/sh\ncurl -sSL -o /dev/null "$(${PAGE_URL} "$1")"\n`);
    chmodSync(follow, 0o755);
    const r = await w.keyrole(['login', 'my-sso'], { env: { ...env, BROWSER: follow } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await w.keyrole(['process', 'sso-admin'], { env })).code, 0);
  });
  after(() => w?.stop());

  test('signed in', async () => {
    const list = await w.keyrole(['cache', 'list'], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^sso-admin +IAM Identity Center role AdministratorAccess in ${DEMO_ACCOUNT_ID} +\\d+ min`, 'm'));
    assert.match(list.stdout, new RegExp(`${SIGNIN.source}; used by sso-admin$`, 'm'));
    const status = await w.keyrole(['status', 'sso-admin'], { env });
    assert.match(status.stdout, new RegExp(`^sso-admin: IAM Identity Center role AdministratorAccess in ${DEMO_ACCOUNT_ID}: `, 'm'));
    assert.match(status.stdout, SIGNIN);
    const doctor = await w.keyrole(['doctor', 'sso-admin', '--no-network'], { env });
    assert.match(doctor.stdout, new RegExp(`^ok +sso +${SIGNIN.source}`, 'm'), doctor.stdout);
    // regression: the profile line said "source sso:https://…/AdministratorAccess, no role (GetSessionToken)".
    const profileLine = doctor.stdout.split('\n').find((l) => /^ok +profile /.test(l));
    assert.match(profileLine ?? '', new RegExp(`: IAM Identity Center role AdministratorAccess in ${DEMO_ACCOUNT_ID} \\(sso-session my-sso, ${START}\\), region eu-west-1 \\(from region in profile sso-admin\\)$`), doctor.stdout);
    assert.doesNotMatch(doctor.stdout, /GetSessionToken/);
    const clear = await w.keyrole(['cache', 'clear', 'sso-admin'], { env });
    assert.match(clear.stdout, new RegExp(`^Cleared the cached credentials of profile sso-admin: IAM Identity Center role AdministratorAccess in ${DEMO_ACCOUNT_ID} \\(keychain store\\)\\.$`, 'm'));
    assert.match(clear.stdout, new RegExp(`^Kept the ${SIGNIN.source}; keyrole sso logout my-sso ends it\\.$`, 'm'));
    const all = await w.keyrole(['cache', 'clear'], { env });
    assert.match(all.stdout, new RegExp(`^Kept the ${SIGNIN.source} \\(used by sso-admin\\); keyrole sso logout my-sso ends it\\.$`, 'm'));
  });

  test('signed out: doctor warns and names keyrole login; status and cache list say there is none', async () => {
    assert.equal((await w.keyrole(['sso', 'logout', 'my-sso'], { env })).code, 0);
    const doctor = await w.keyrole(['doctor', 'sso-admin', '--no-network'], { env });
    assert.match(doctor.stdout, /^warning +sso +IAM Identity Center sign-in \(my-sso\): none; keyrole login my-sso signs in\n +fix: keyrole login my-sso$/m, doctor.stdout);
    assert.match((await w.keyrole(['status', 'sso-admin'], { env })).stdout, /IAM Identity Center sign-in \(my-sso\): none; keyrole login my-sso signs in/);
    const list = await w.keyrole(['cache', 'list'], { env });
    assert.match(list.stdout, /^The cache is empty\.\n\nIAM Identity Center sign-in \(my-sso\): none; keyrole login my-sso signs in; used by sso-admin\n$/);
  });
});
