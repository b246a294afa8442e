// AWS Sign-In sessions (`aws login`) through keyrole, end to end: the built keyrole, a real
// gnome-keyring, the emulator's strict AWS Sign-In (emulator/login.ts). `keyrole login`
// for a profile that does not exist yet, with headless Chromium as BROWSER and no terminal
// (the profile written, comments and other sections kept); the cross-device flow (--remote)
// at a terminal, the verification text pasted; the real AWS CLI, boto3 and the JS SDK on
// the profile and on a role on top of it (the 1-hour rule refused in one line); 16 parallel
// cold callers make one refresh; an ended session is one line naming keyrole login; logout;
// no plaintext refresh token or DPoP key anywhere under HOME.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { baseEnv, KEYROLE, ROOT } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { chromiumBrowser } from './support/chromium.ts';
import { until } from './support/until.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';

const ALICE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:user/alice`;
const ADMIN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;

interface LoginStats { authorize: number; createOAuth2Token: number; codeGrants: number; refreshGrants: number; refused: Record<string, number> }

/** Every file under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      let st;
      try { st = statSync(p); } catch { continue; }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size < 50_000_000 && readFileSync(p).includes(needle)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

describe('keyrole login with AWS Sign-In, and the session in the keychain', () => {
  let w: World;
  let env: Record<string, string>;
  const stats = () => w.emu.control<LoginStats>('GET', 'login/stats');

  before(async () => {
    w = await startWorld();
    w.writeConfig(`# my settings, kept as they are\n[profile other]\nregion = us-east-1 ; a comment\n\n${keyroleProfile('admin', { keyrole_source_profile: 'dev', keyrole_role_arn: ADMIN, region: 'eu-west-1' })}`);
    env = { ...w.env, AWS_ENDPOINT_URL_SIGNIN: w.emu.url, DISPLAY: '', WAYLAND_DISPLAY: '' };
  });
  after(() => w?.stop());

  test('a new profile: headless Chromium as BROWSER, no terminal; the profile is written, the session kept, process serves a hit', async () => {
    const rec = join(w.home, 'chromium');
    const script = chromiumBrowser(rec);
    await w.emu.control('POST', 'login/behaviour', { autoAuthorize: true });
    try {
      const r = await w.keyrole(['login', 'dev', '--region', 'eu-west-1'], { env: { ...env, BROWSER: script }, timeoutMs: 180_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '', 'stdout carries nothing');
      assert.match(r.stderr, /Sign in to AWS \(profile dev\) in the browser\.\n {2}A browser tab was opened; sign in there\./);
      assert.match(r.stderr, new RegExp(`signed in as ${ALICE.replace(/[/]/g, '\\/')}; the session is in the keychain until \\S+ at the latest`));
      await until('Chromium to finish', () => (existsSync(join(rec, 'done')) ? true : undefined));
      assert.match(readFileSync(join(rec, 'dom'), 'utf8'), /Signed in to AWS\. You can close this tab\./);
      assert.match(readFileSync(join(rec, 'opened'), 'utf8').trim(), /^file:\/\/\/\S+\.html$/, 'the browser is given a page file, not the URL with its state and port');
      const u = new URL(readFileSync(join(rec, 'url'), 'utf8').trim());
      assert.equal(`${u.origin}${u.pathname}`, `${w.emu.url}/v1/authorize`);
      assert.equal(u.searchParams.get('client_id'), 'arn:aws:signin:::devtools/same-device');
      assert.equal(u.searchParams.get('code_challenge_method'), 'SHA-256');
      assert.equal(u.searchParams.get('scope'), 'openid');
      assert.match(u.searchParams.get('redirect_uri')!, /^http:\/\/127\.0\.0\.1:\d+\/oauth\/callback$/);
    } finally {
      await w.emu.control('POST', 'login/behaviour', { autoAuthorize: false });
    }
    const config = readFileSync(w.configPath, 'utf8');
    assert.ok(config.startsWith('# my settings, kept as they are\n[profile other]\nregion = us-east-1 ; a comment\n'), config);
    assert.match(config, new RegExp(`\\[profile dev\\]\\ncredential_process = ${KEYROLE.replace(/[/.]/g, '\\$&')} process dev\\nkeyrole_login_session = ${ALICE.replace(/[/]/g, '\\/')}\\nregion = eu-west-1\\n`));
    const before = await stats();
    const p = await w.keyrole(['process', 'dev'], { env });
    assert.equal(p.code, 0, p.stderr);
    const blob = JSON.parse(p.stdout) as { AccessKeyId: string; Expiration: string };
    assert.match(blob.AccessKeyId, /^ASIA/);
    assert.equal((await stats()).createOAuth2Token, before.createOAuth2Token, 'the sign-in\'s credentials are served from the cache');
  });

  test('the real AWS CLI, boto3 and the JS SDK run the profile and a role on top of it', async () => {
    const cli = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'dev', '--query', 'Arn', '--output', 'text'], { env });
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout.trim(), ALICE);
    const role = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'admin', '--query', 'Arn', '--output', 'text'], { env });
    assert.equal(role.code, 0, role.stderr);
    assert.match(role.stdout.trim(), new RegExp(`^arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/`));
    const py = await w.run('python3', ['-c', "import boto3; print(boto3.Session(profile_name='admin').client('sts').get_caller_identity()['Arn'])"], { env });
    assert.equal(py.code, 0, py.stderr);
    assert.match(py.stdout.trim(), /assumed-role\/Admin\//);
    const js = `const { STSClient, GetCallerIdentityCommand } = require(${JSON.stringify(join(process.cwd(), 'node_modules/@aws-sdk/client-sts'))});
new STSClient({ profile: 'dev', region: 'eu-west-1' }).send(new GetCallerIdentityCommand({})).then((r) => console.log(r.Arn), (e) => { console.error(e.message); process.exit(1); });`;
    const node = await w.run(process.execPath, ['-e', js], { env });
    assert.equal(node.code, 0, node.stderr);
    assert.equal(node.stdout.trim(), ALICE);
  });

  test('a role over an hour on a login session is refused in one line before AWS is asked (the 1-hour rule)', async () => {
    w.writeConfig(`${readFileSync(w.configPath, 'utf8')}\n${keyroleProfile('long', { keyrole_source_profile: 'dev', keyrole_role_arn: ADMIN, keyrole_duration_seconds: 7200 })}`);
    const r = await w.keyrole(['process', 'long'], { env });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^keyrole: profile long asks for a 7200 s role, but the role is assumed with profile dev's credentials, which are temporary.*\n$/);
  });

  test('16 parallel cold callers make exactly one refresh (the refresh token rotates)', async () => {
    const clear = await w.keyrole(['cache', 'clear', 'dev'], { env });
    assert.equal(clear.code, 0, clear.stderr);
    const before = await stats();
    const runs = await Promise.all(Array.from({ length: 16 }, () => w.keyrole(['process', 'dev'], { env, timeoutMs: 180_000 })));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const keys = new Set(runs.map((r) => (JSON.parse(r.stdout) as { AccessKeyId: string }).AccessKeyId));
    assert.equal(keys.size, 1, 'every caller got the one refresh\'s credentials');
    const after = await stats();
    assert.equal(after.refreshGrants - before.refreshGrants, 1);
    assert.equal(after.createOAuth2Token - before.createOAuth2Token, 1);
    // The rotated refresh token was kept: the next cold call refreshes again, with no
    // grace for a spent token (a retry of the same one would otherwise get the same answer).
    await w.emu.control('POST', 'login/behaviour', { replaySeconds: 0 });
    try {
      await w.keyrole(['cache', 'clear', 'dev'], { env });
      const again = await w.keyrole(['process', 'dev'], { env });
      assert.equal(again.code, 0, again.stderr);
      assert.equal((await stats()).refreshGrants - after.refreshGrants, 1);
    } finally {
      await w.emu.control('POST', 'login/behaviour', { replaySeconds: 10 });
    }
  });

  test('no plaintext refresh token or DPoP key anywhere under HOME', () => {
    assert.deepEqual(filesContaining(w.home, 'aws_login_'), []);
    assert.deepEqual(filesContaining(w.home, 'PRIVATE KEY'), []);
  });

  test('--remote at a terminal: the cross-device flow, the verification text pasted', async () => {
    requireTool('script');
    const before = await stats();
    const child = spawn('script', ['-qec', `${KEYROLE} login dev --remote`, '/dev/null'], { env: baseEnv(env), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => { screen += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { screen += d.toString('utf8'); });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const url = await until('the URL on the terminal', () => /(http:\/\/127\.0\.0\.1:\d+\/v1\/authorize\?\S+)/.exec(screen)?.[1]);
      await until('the prompt', () => (/Verification code: /.test(screen) ? true : undefined));
      const u = new URL(url);
      assert.equal(u.searchParams.get('client_id'), 'arn:aws:signin:::devtools/cross-device');
      assert.equal(u.searchParams.get('redirect_uri'), `${w.emu.url}/v1/sessions/confirmation`);
      // The person's browser: the Allow page, its button, then the confirmation page.
      const page = await (await fetch(url)).text();
      const id = /name="request" value="([^"]+)"/.exec(page)![1]!;
      const res = await fetch(`${w.emu.url}/v1/authorize`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ request: id, allow: '1' }) });
      const shown = /id="verification">([^<]+)</.exec(await (await fetch(res.headers.get('location')!)).text())![1]!;
      child.stdin.write(`${shown}\r`);
      assert.equal(await closed, 0, screen);
    } finally {
      child.kill('SIGKILL');
    }
    assert.match(screen, /signed in as arn:aws:iam::\d{12}:user\/alice/);
    const after = await stats();
    assert.equal(after.codeGrants - before.codeGrants, 1);
  });

  test('status, cache list, doctor, whoami and exec --server know the session', async () => {
    const st = await w.keyrole(['status', 'admin'], { env });
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`AWS Sign-In session \\(${ALICE.replace(/[/]/g, '\\/')}\\): refreshes by itself for \\S.* \\(until \\S+Z\\); then keyrole login dev`));
    const js = JSON.parse((await w.keyrole(['status', 'dev', '--json'], { env })).stdout) as { Login: { Session: string; InKeychain: boolean } };
    assert.deepEqual([js.Login.Session, js.Login.InKeychain], [ALICE, true]);
    const list = await w.keyrole(['cache', 'list'], { env });
    assert.match(list.stdout, /AWS Sign-In session \(arn:aws:iam::\d{12}:user\/alice\): refreshes by itself.*; used by (admin, dev|dev, admin)/);
    const who = await w.keyrole(['whoami', 'dev'], { env });
    assert.equal(who.code, 0, who.stderr);
    assert.match(who.stdout, /user\/alice/);
    // exec --server: the AWS CLI gets the role on top through the endpoint, never through the environment's keys.
    const served = await w.keyrole(['exec', '--server', 'admin', '--', 'aws', 'sts', 'get-caller-identity', '--query', 'Arn', '--output', 'text'], { env });
    assert.equal(served.code, 0, served.stderr);
    assert.match(served.stdout.trim(), /assumed-role\/Admin\//);
    const doc = await w.keyrole(['doctor', 'dev'], { env });
    assert.match(doc.stdout, /AWS Sign-In session \(arn:aws:iam::\d{12}:user\/alice\): refreshes by itself.*refreshed at http:\/\/127\.0\.0\.1:\d+ \(AWS_ENDPOINT_URL_SIGNIN\)/);
  });

  test('console: a role on top of the session opens the console; the session itself is refused in one line that says what works', async () => {
    const consoleEnv = { ...env, KEYROLE_SIGNIN_URL: `${w.emu.url}/federation` };
    const role = await w.keyrole(['console', 'admin', '--url'], { env: consoleEnv });
    assert.equal(role.code, 0, role.stderr);
    assert.match(role.stdout.trim(), new RegExp(`^${w.emu.url}/federation\\?Action=login&Issuer=keyrole&Destination=[^&]+&SigninToken=[\\w-]{200,}$`));
    const own = await w.keyrole(['console', 'dev', '--url'], { env: consoleEnv });
    assert.equal(own.code, 1);
    assert.equal(own.stdout, '');
    assert.match(own.stderr, /^keyrole: profile dev is an AWS Sign-In session: .*neither; sign in to the console in the browser .* keyrole_source_profile = dev and keyrole_role_arn.*\n$/);
    assert.equal(own.stderr.split('\n').length, 2, 'one line');
  });

  test('an ended session: a cold call without a terminal fails in one line naming keyrole login', async () => {
    await w.emu.control('POST', 'login/end-sessions');
    await w.keyrole(['cache', 'clear', 'dev'], { env });
    const r = await w.keyrole(['process', 'dev'], { env });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^keyrole: the AWS Sign-In session of profile dev has ended \(sessions last at most 12 hours\)\W+run: keyrole login dev\n$/);
  });

  test('logout ends the session and every credential cached on it; then a call names keyrole login', async () => {
    await w.emu.control('POST', 'login/behaviour', { autoAuthorize: true });
    const script = join(w.home, 'fetch-browser.sh');
    // A browser that only follows keyrole's page file and the redirects: the loopback gets its code.
    writeFileSync(script, `#!/bin/sh\ncurl -sL -o /dev/null "$(${join(ROOT, 'test', 'fixtures', 'page-url.sh')} "$1")"\n`);
    chmodSync(script, 0o755);
    try {
      const again = await w.keyrole(['login', 'admin'], { env: { ...env, BROWSER: script }, timeoutMs: 120_000 });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /profile dev uses it/, 'a role on top signs in its base profile');
    } finally {
      await w.emu.control('POST', 'login/behaviour', { autoAuthorize: false });
    }
    assert.equal((await w.keyrole(['process', 'admin'], { env })).code, 0);
    const out = await w.keyrole(['logout', 'dev'], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^Signed out of arn:aws:iam::\d{12}:user\/alice \(profile dev\): the AWS Sign-In session is removed from the keychain and [2-9] cached credentials resting on it are removed\.\n$/);
    const r = await w.keyrole(['process', 'admin'], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^keyrole: there is no AWS Sign-In session for profile dev in the keychain\W+run: keyrole login dev\n$/);
  });

  test('import moves a session aws login left (its cache format) into the keychain; one that cannot refresh is left alone', async () => {
    const minted = await w.emu.control<{ loginSession: string; token: { refreshToken: string } }>('POST', 'login/cli-session', {});
    const dir = join(w.home, '.aws', 'login', 'cache');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${createHash('sha256').update(minted.loginSession).digest('hex')}.json`);
    writeFileSync(file, JSON.stringify(minted.token, null, 2));
    w.writeConfig(`${readFileSync(w.configPath, 'utf8')}\n[profile cli]\nlogin_session = ${minted.loginSession} # from aws login\nregion = eu-west-1\n`);
    const dry = await w.keyrole(['import', '--dry-run'], { env });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`AWS Sign-In sessions \\(aws login\\) to move into the keychain:\\n  profile cli: ${ALICE.replace(/[/]/g, '\\/')} from ${file.replace(/[/.]/g, '\\$&')}; the profile then runs keyrole\\n`));
    assert.ok(existsSync(file));
    await w.emu.control('POST', 'login/behaviour', { refusal: 'INSUFFICIENT_PERMISSIONS' });
    try {
      const refused = await w.keyrole(['import', '--yes'], { env });
      assert.equal(refused.code, 0, refused.stderr);
      assert.match(refused.stdout, /profile cli left as it is: the session could not be refreshed \(AWS Sign-In refused to refresh profile cli: the identity may not call signin:CreateOAuth2Token\); \S+ is kept/);
      assert.ok(existsSync(file), 'the file stays');
      assert.match(readFileSync(w.configPath, 'utf8'), /\nlogin_session = /);
    } finally {
      await w.emu.control('POST', 'login/behaviour', { refusal: null });
    }
    const before = await stats();
    const r = await w.keyrole(['import', '--yes'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Moved 1 AWS Sign-In session \(cli\) into the keychain, removed the plaintext file, and rewrote /);
    assert.equal((await stats()).refreshGrants - before.refreshGrants, 1, 'refreshed once on the way in');
    assert.ok(!existsSync(file), 'the plaintext session is gone');
    const config = readFileSync(w.configPath, 'utf8');
    assert.match(config, new RegExp(`\\[profile cli\\]\\nkeyrole_login_session = ${ALICE.replace(/[/]/g, '\\/')} # from aws login\\nregion = eu-west-1\\ncredential_process = \\S+ process cli\\n`));
    const p = await w.keyrole(['process', 'cli'], { env });
    assert.equal(p.code, 0, p.stderr);
    const cli = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'cli', '--query', 'Arn', '--output', 'text'], { env });
    assert.equal(cli.stdout.trim(), ALICE, cli.stderr);
    assert.deepEqual(filesContaining(w.home, minted.token.refreshToken), []);
    assert.deepEqual(filesContaining(w.home, 'PRIVATE KEY'), []);
  });
});
