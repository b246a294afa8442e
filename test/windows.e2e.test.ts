// The Windows lane: every command a person or the AWS CLI uses on Windows, end to end, on
// Windows Node with the real Credential Manager, against the emulator. On Linux x64 it is
// Windows Node under Wine (test/support/wine.ts; scripts/prepare.sh installs it), on Node 22
// and on the oldest Node the npm channel claims that Wine starts; on a Windows host (the
// cross-platform workflow) the same tests run keyrole natively. The clients of `serve` and
// `exec --server` are Linux programs (the AWS CLI) here, as a container or WSL would be.
//
// What the lane found, each pinned by a test named after it: prompts at a Windows console
// said there was no terminal (bare CONIN$); Credential Manager listings were empty (a
// `*.<service>` filter); doctor named node.exe as "the full path to keyrole"; eight
// parallel cold calls made seven AssumeRoles under Wine (two servers on one pipe).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEmulatorProcess, DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL, DEMO_SECRET_ACCESS_KEY, type EmulatorProcess } from './support/emulator.ts';
import { run } from './support/run.ts';
import { tempDir } from './support/tmp.ts';
import { requireTool } from './support/tools.ts';
import { CJS, KEYROLE_DIR, laneProblem, NATIVE, startWine, stopWine, winPath, WINDOWS_NODES, windowsUser, type WindowsUser } from './support/wine.ts';

const ADMIN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const WINDOWS = process.platform !== 'darwin';
// The console harness is util-linux's script (test/support/pty.ts): Linux, so Wine, only.
const ON_CONSOLE = NATIVE ? 'no console harness on this host (ConPTY, BSD script); the Wine lane types at a console' : false;

/** Waits (without a deadline of its own: the test's timeout bounds it) until `f` returns something. */
async function until<T>(f: () => T | undefined | Promise<T | undefined>): Promise<T> {
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function totp(): string {
  return execFileSync(requireTool('oathtool'), ['--totp', '-b', DEMO_MFA_SECRET], { encoding: 'utf8' }).trim();
}

/** A Windows path keyrole printed, as a path this side can open. */
function hostPath(p: string): string {
  return NATIVE ? p : p.replace(/^Z:/i, '').replaceAll('\\', '/');
}

before(() => {
  const problem = laneProblem();
  assert.equal(problem, undefined, problem);
  startWine();
});
after(() => stopWine());

for (const version of WINDOWS_NODES) {
  describe(`${WINDOWS ? 'Windows' : 'macOS'}: keyrole's npm channel on ${NATIVE ? 'this host\'s' : 'Windows'} Node ${version}${NATIVE ? '' : ' under Wine'}`, () => {
    let emu: EmulatorProcess;
    let user: WindowsUser;
    let config: string;
    // Credential Manager is one per Windows user, shared by both Nodes' worlds: names of their own.
    const tag = version.split('.')[0];
    const alice = `alice${tag}`;
    // Every command on the newest Node; on the oldest, what depends on the Node (its console,
    // the SDK bundles, the lock's pipe, doctor's spawning, exec and serve's servers), which
    // keeps the lane to a few minutes. Tests not for this Node are not registered at all.
    const newest = version === WINDOWS_NODES[0] ? test : () => undefined;
    const calls = async (action: string) => (await emu.stats()).calls[action] ?? 0;
    const keyrole = (args: string[], o?: Parameters<WindowsUser['keyrole']>[1]) => user.keyrole(args, o);
    const ok = async (args: string[], o?: Parameters<WindowsUser['keyrole']>[1]) => {
      const r = await keyrole(args, o);
      assert.equal(r.code, 0, `keyrole ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      return r;
    };
    const profileText = (name: string, lines: Record<string, string>) =>
      `[profile ${name}]\n${Object.entries(lines).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;

    before(async () => {
      emu = await startEmulatorProcess();
      const profile = tempDir(`win${tag}-`);
      mkdirSync(join(profile, '.aws'), { recursive: true });
      config = join(profile, '.aws', 'config');
      user = windowsUser(version, profile, {
        AWS_ENDPOINT_URL_STS: emu.url, AWS_ENDPOINT_URL_IAM: emu.url, AWS_ENDPOINT_URL_SSO_OIDC: emu.url, AWS_ENDPOINT_URL_SSO: emu.url,
        KEYROLE_SIGNIN_URL: `${emu.url}/federation`, KEYROLE_NO_BROWSER: '1',
      });
    });
    after(async () => {
      // What this world stored stays out of the other Node's.
      for (const s of [alice, `bob${tag}`, `mfa${tag}`]) await keyrole(['remove', s, '--force']).catch(() => undefined);
      await emu?.stop();
    });

    test('the Node is the version the lane names', async () => {
      const r = await run(user.command(['--version']).file, NATIVE ? ['--version'] : [user.node, '--version'], { env: user.env() });
      assert.equal(r.stdout.trim(), `v${version}`);
    });

    test('setup typed at a console (regression: a bare CONIN$ became \\\\?\\<cwd>\\CONIN$, so every prompt said there was no terminal)', { skip: ON_CONSOLE }, async () => {
      const r = await user.atConsole(['setup', alice], [
        [/AWS access key id:/, `${DEMO_ACCESS_KEY_ID}\r`],
        [/AWS secret access key \(not shown\):/, `${DEMO_SECRET_ACCESS_KEY}\r`],
      ]);
      assert.equal(r.code, 0, r.screen);
      assert.match(r.screen, new RegExp(`Stored source "${alice}" \\(AKIA…0001\\)`));
      assert.ok(!r.screen.includes(DEMO_SECRET_ACCESS_KEY), 'the secret is not echoed');
    });

    test('setup piped', async () => {
      const bob = await emu.addUser('bob');
      const r = await ok(['setup', `bob${tag}`, '--force'], { input: `${bob.accessKeyId}\n${bob.secretAccessKey}\n` });
      assert.match(r.stdout + r.stderr, new RegExp(`Stored source "bob${tag}"`));
      // alice again, piped: the tests below do not depend on the console's.
      await ok(['setup', alice, '--force'], { input: `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n` });
    });

    test('list shows what Credential Manager holds (regression: the addon\'s `*.<service>` filter listed nothing)', async () => {
      const r = await ok(['list']);
      assert.match(r.stdout, new RegExp(`^${alice} .*AKIA…0001`, 'm'));
      assert.match(r.stdout, new RegExp(`^bob${tag} `, 'm'));
    });

    test('configure writes a credential_process line Windows\' botocore can run: "node.exe" "keyrole.cjs"', async () => {
      await ok(['configure', 'prod', '--source', alice, '--role-arn', ADMIN, '--region', 'eu-west-1']);
      const text = readFileSync(config, 'utf8');
      const line = /^credential_process = (.*)$/m.exec(text)?.[1];
      assert.ok(line, text);
      // Windows starts a .cjs only through Node; elsewhere the bundle's shebang does.
      assert.match(line, WINDOWS ? /^"?\S*node(\.exe)?"? "?\S*keyrole\.cjs"? process prod$/i : /^'?\S*keyrole\.cjs'? process prod$/);
      assert.ok(line.includes(winPath(CJS)), `${line} names ${winPath(CJS)}`);
      writeFileSync(config, `${text}\n${profileText('filed', { region: 'eu-west-1', keyrole_source: alice, keyrole_role_arn: ADMIN, keyrole_cache: 'file', credential_process: line.replace(/process prod$/, 'process filed') })}`);
    });

    test('process through Credential Manager: a cold miss calls STS once, then a warm hit from the keychain', async () => {
      const before = await calls('AssumeRole');
      const cold = await ok(['process', 'prod', '--debug']);
      assert.match(cold.stderr, /cache miss/);
      const blob = JSON.parse(cold.stdout) as { Version: number; AccessKeyId: string; Expiration: string };
      assert.equal(blob.Version, 1);
      assert.match(blob.AccessKeyId, /^ASIA/);
      const warm = await ok(['process', 'prod', '--debug']);
      assert.match(warm.stderr, /cache hit/);
      assert.equal((JSON.parse(warm.stdout) as { AccessKeyId: string }).AccessKeyId, blob.AccessKeyId);
      assert.equal(await calls('AssumeRole'), before + 1);
    });

    test('process through the file cache, cold then warm, in %LOCALAPPDATA%\\keyrole', async () => {
      const before = await calls('AssumeRole');
      const cold = await ok(['process', 'filed', '--debug']);
      assert.match(cold.stderr, /cache miss/);
      const warm = await ok(['process', 'filed', '--debug']);
      assert.match(warm.stderr, /cache hit/);
      assert.equal(await calls('AssumeRole'), before + 1);
      const dir = join(user.profile, ...KEYROLE_DIR, 'cache');
      assert.equal(readdirSync(dir).filter((f) => f.endsWith('.json')).length, 1, `one entry in ${dir}`);
    });

    test('cache list and cache clear see the Credential Manager entries (regression: they saw nothing)', async () => {
      const listed = await ok(['cache', 'list']);
      assert.match(listed.stdout, /\bprod\b/);
      assert.match(listed.stdout, /\bfiled\b/);
      await ok(['cache', 'clear']);
      const after = await ok(['cache', 'list']);
      assert.doesNotMatch(after.stdout, /\bprod\b/);
      const again = await ok(['process', 'prod', '--debug']);
      assert.match(again.stderr, /cache miss/, 'the cleared entry is gone from Credential Manager');
    });

    test('single flight: 8 parallel cold calls make one AssumeRole (regression: Wine let a second server listen on the lock\'s pipe, 7 calls)', async () => {
      await ok(['cache', 'clear']);
      const before = await calls('AssumeRole');
      const rs = await Promise.all(Array.from({ length: 8 }, () => keyrole(['process', 'prod'])));
      const ids = new Set(rs.map((r) => {
        assert.equal(r.code, 0, r.stderr);
        return (JSON.parse(r.stdout) as { AccessKeyId: string }).AccessKeyId;
      }));
      assert.equal(ids.size, 1, 'all eight callers got the same credentials');
      assert.equal(await calls('AssumeRole'), before + 1);
    });

    test('a SIGKILLed lock holder leaves its claim behind; the next call finds it stale, takes over and calls STS', async () => {
      await ok(['cache', 'clear']);
      const home = join(user.profile, ...KEYROLE_DIR);
      const claims = () => (existsSync(home) ? readdirSync(home).filter((f) => f.endsWith('.lock')) : []);
      assert.deepEqual(claims(), []);
      // STS answers only after a long while: the holder is killed while it waits.
      await emu.behaviour({ latencyMs: 600_000 });
      const holder = startServer(['process', 'prod']);
      try {
        await holder.whileRunning(() => (claims().length ? true : undefined));
        process.kill(-holder.child.pid!, 'SIGKILL');
        await holder.exited;
      } finally {
        try { process.kill(-holder.child.pid!, 'SIGKILL'); } catch { /* gone */ }
        await emu.behaviour({ latencyMs: 0 });
      }
      assert.equal(claims().length, 1, 'the dead holder\'s claim is still there');
      const before = await calls('AssumeRole');
      const next = await ok(['process', 'prod', '--debug']);
      assert.match(next.stderr, /removed the lock of a keyrole that died/);
      assert.equal(await calls('AssumeRole'), before + 1);
      assert.deepEqual(claims(), [], 'released');
    });

    test('doctor counts the stored sources (regression: it saw none) and finds nothing wrong with the profile', async () => {
      const r = await keyrole(['doctor', 'prod', '--no-network']);
      // alice and bob: doctor counts what the listing finds (it found none before the fix).
      assert.match(r.stdout, /keychain +.* reachable and unlocked \(2 sources\)/, r.stdout);
      assert.doesNotMatch(r.stdout, /no sources|not in Windows Credential Manager/i, r.stdout);
      assert.doesNotMatch(r.stdout, /process line.*(problem|✗)/i, r.stdout);
    });

    newest('doctor\'s fix for a credential_process not on PATH is the whole command (regression: it named node.exe as "the full path to keyrole")', async () => {
      const text = readFileSync(config, 'utf8');
      writeFileSync(config, `${text}\n${profileText('bare', { region: 'eu-west-1', keyrole_source: alice, credential_process: 'keyrole process bare' })}`);
      const r = await keyrole(['doctor', 'bare', '--no-network']);
      const fix = r.stdout.split('\n').find((l) => /credential_process = .*process bare, or put keyrole on PATH/.test(l));
      assert.ok(fix, r.stdout);
      assert.ok(fix.includes(winPath(CJS)), `the fix names keyrole.cjs: ${fix}`);
      assert.ok(!/full path to keyrole \(\S*node(\.exe)?\)/i.test(r.stdout), r.stdout);
    });

    newest('whoami and status', async () => {
      const who = await ok(['whoami', 'prod']);
      assert.match(who.stdout, /assumed-role\/Admin\//);
      const st = await ok(['status', 'prod']);
      assert.match(st.stdout, /prod/);
    });

    newest('export --format powershell: one well-formed statement a line, the keys in single quotes', async () => {
      const r = await ok(['export', 'prod', '--format', 'powershell']);
      const lines = r.stdout.trimEnd().split(/\r?\n/);
      for (const l of lines) assert.match(l, /^(Remove-Item Env:AWS_\w+ -ErrorAction SilentlyContinue|\$Env:AWS_\w+ = '[^'\r\n]*')$/, l);
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) assert.ok(lines.some((l) => l.startsWith(`$Env:${k} = '`)), k);
    });

    test('exec runs a Windows program with the credentials in its environment and passes its exit status on', async () => {
      const r = await keyrole(['exec', 'prod', '--', user.node.endsWith('.exe') ? winPath(user.node) : user.node, '-e', 'console.log(process.env.AWS_ACCESS_KEY_ID); process.exit(7)']);
      assert.equal(r.code, 7, r.stderr);
      assert.match(r.stdout.trim(), /^ASIA\w+$/);
    });

    /** Starts keyrole with stdio on files, in the background. */
    function startServer(args: string[]) {
      const io = tempDir('serve-');
      const out = join(io, 'out');
      const err = join(io, 'err');
      const fds = [openSync('/dev/null', 'r'), openSync(out, 'w'), openSync(err, 'w')];
      const { file, args: argv } = user.command(args);
      const child = spawn(file, argv, { env: user.env(), cwd: user.profile, stdio: fds, detached: true });
      for (const fd of fds) closeSync(fd);
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');
      /** Waits until `f` returns something, failing if keyrole exits first. */
      const whileRunning = <T>(f: () => T | undefined) => until(() => {
        const v = f();
        if (v === undefined && child.exitCode !== null) throw new Error(`keyrole ${args.join(' ')} exited with ${child.exitCode}: ${read(err)}`);
        return v;
      });
      return { child, exited, out: () => read(out), err: () => read(err), whileRunning };
    }

    /** The AWS CLI on Linux, given only a container credential endpoint. */
    async function linuxClient(url: string, token: string) {
      requireTool('aws');
      return run('aws', ['sts', 'get-caller-identity', '--output', 'json'], {
        env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: url, AWS_CONTAINER_AUTHORIZATION_TOKEN: token, AWS_ENDPOINT_URL_STS: emu.url, AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-west-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
      });
    }

    newest('exec --server: the endpoint answers a Linux client (the AWS CLI) while the command runs', async () => {
      const io = tempDir('exec-server-');
      const info = join(io, 'info.json');
      const done = join(io, 'done');
      const script = join(io, 'child.cjs');
      writeFileSync(script, `const fs = require('fs');
fs.writeFileSync(${JSON.stringify(winPath(`${info}.tmp`))}, JSON.stringify({ url: process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, tokenFile: process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, token: process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN, keys: process.env.AWS_ACCESS_KEY_ID || null }));
fs.renameSync(${JSON.stringify(winPath(`${info}.tmp`))}, ${JSON.stringify(winPath(info))});
const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(winPath(done))})) { clearInterval(t); process.exit(0); } }, 50);
`);
      const s = startServer(['exec', 'prod', '--server', '--', NATIVE ? user.node : winPath(user.node), winPath(script)]);
      try {
        const got = await s.whileRunning(() => (existsSync(info) ? JSON.parse(readFileSync(info, 'utf8')) as { url: string; tokenFile?: string; token?: string; keys: string | null } : undefined));
        assert.equal(got.keys, null, 'no frozen keys in the child');
        const token = got.token ?? readFileSync(hostPath(got.tokenFile!), 'utf8');
        const r = await linuxClient(got.url, token);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /assumed-role\/Admin/);
        writeFileSync(done, '');
        assert.equal(await s.exited, 0, s.err());
      } finally {
        writeFileSync(done, '');
        try { process.kill(-s.child.pid!, 'SIGKILL'); } catch { /* gone */ }
      }
    });

    test('serve: the endpoint answers a Linux client (the AWS CLI), and refuses one without the token', async () => {
      const s = startServer(['serve', 'prod']);
      try {
        await s.whileRunning(() => (/serving prod at/.test(s.err()) ? true : undefined));
        const url = /AWS_CONTAINER_CREDENTIALS_FULL_URI\s*=\s*'?([^'\s;]+)/.exec(s.out())?.[1];
        const tokenFile = /AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE\s*=\s*'?([^'\n;]+?)'?\s*;?$/m.exec(s.out())?.[1];
        assert.ok(url && tokenFile, s.out());
        const token = readFileSync(hostPath(tokenFile), 'utf8');
        const r = await linuxClient(url, token);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /assumed-role\/Admin/);
        const refused = await linuxClient(url, 'not-the-token');
        assert.notEqual(refused.code, 0);
      } finally {
        try { process.kill(-s.child.pid!, 'SIGKILL'); } catch { /* gone */ }
      }
    });

    newest('console --url: a sign-in URL on stdout alone', async () => {
      const r = await ok(['console', 'prod', '--url']);
      assert.equal(r.stderr, '');
      assert.match(r.stdout.trim(), new RegExp(`^${emu.url}/federation\\?Action=login&Issuer=keyrole&Destination=[^&]+&SigninToken=[\\w-]{200,}$`));
    });

    newest('import moves plaintext keys from %USERPROFILE%\\.aws\\credentials into Credential Manager', async () => {
      const cred = join(user.profile, '.aws', 'credentials');
      writeFileSync(cred, `[imp${tag}]\naws_access_key_id = ${DEMO_ACCESS_KEY_ID}\naws_secret_access_key = ${DEMO_SECRET_ACCESS_KEY}\n`);
      const r = await ok(['import', '--yes']);
      assert.match(r.stdout, /Imported 1 key/);
      assert.doesNotMatch(readFileSync(cred, 'utf8'), new RegExp(DEMO_SECRET_ACCESS_KEY.replace(/[+/]/g, '\\$&')));
      assert.match((await ok(['list'])).stdout, new RegExp(`^imp${tag} `, 'm'));
      await ok(['remove', `imp${tag}`, '--force']);
    });

    newest('rotate: a new key from IAM, checked, stored in Credential Manager, the old one deleted', async () => {
      const old = /^\S+ .*(AKIA…\w{4})/m.exec((await ok(['list'])).stdout.split('\n').find((l) => l.startsWith(`bob${tag} `)) ?? '')?.[1];
      assert.ok(old);
      const r = await ok(['rotate', `bob${tag}`]);
      const m = new RegExp(`Rotated source "bob${tag}": (AKIA…\\w{4}) → (AKIA…\\w{4})`).exec(r.stdout);
      assert.ok(m, r.stdout);
      assert.equal(m[1], old);
      assert.match((await ok(['list'])).stdout, new RegExp(`^bob${tag} .*${m[2]}`, 'm'));
    });

    newest('MFA typed at a console', { skip: ON_CONSOLE }, async () => {
      const text = readFileSync(config, 'utf8');
      writeFileSync(config, `${text}\n${profileText('mfa', { region: 'eu-west-1', keyrole_source: alice, keyrole_role_arn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/MfaAdmin`, keyrole_mfa_serial: DEMO_MFA_SERIAL })}`);
      const r = await user.atConsole(['login', 'mfa'], [[/MFA code for [^\n]*:/, `${totp()}\r`]]);
      assert.equal(r.code, 0, r.screen);
      const p = await ok(['process', 'mfa', '--debug']);
      assert.match(p.stderr, /cache hit/);
    });

    newest('the IAM Identity Center device flow, then process with the role\'s credentials', async () => {
      const text = readFileSync(config, 'utf8');
      writeFileSync(config, `${text}\n[sso-session corp]\nsso_start_url = https://keyrole-demo.awsapps.com/start\nsso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n\n${profileText('sso', { region: 'eu-west-1', keyrole_sso_session: 'corp', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'AdministratorAccess' })}`);
      const [login] = await Promise.all([
        keyrole(['login', 'sso', '--use-device-code']),
        (async () => {
          const code = await until(async () => (await emu.control<{ userCode: string }[]>('GET', 'sso/pending'))[0]?.userCode);
          await emu.control('POST', 'sso/approve', { userCode: code });
        })(),
      ]);
      assert.equal(login.code, 0, login.stderr);
      const p = await ok(['process', 'sso']);
      assert.match((JSON.parse(p.stdout) as { AccessKeyId: string }).AccessKeyId, /^ASIA/);
    });

    newest('remove at a console asks first; --force does not', { skip: ON_CONSOLE }, async () => {
      const r = await user.atConsole(['remove', `bob${tag}`], [[/Remove source .* from the keychain\?.*/, 'y\r']]);
      assert.equal(r.code, 0, r.screen);
      assert.doesNotMatch((await ok(['list'])).stdout, new RegExp(`^bob${tag} `, 'm'));
      await ok(['setup', `bob${tag}`, '--force'], { input: `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n` });
      await ok(['remove', `bob${tag}`, '--force']);
      assert.doesNotMatch((await ok(['list'])).stdout, new RegExp(`^bob${tag} `, 'm'));
    });
  });
}
