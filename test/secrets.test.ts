// Secrets and code injection. One world drives every command keyrole has (successes,
// failures, --debug, NODE_DEBUG, MFA through keyrole_mfa_process, an SSO login that opens a
// "browser", exec, export, doctor, rotate…), all under umask 000, and then scans everything
// they left: every stdout and stderr, every file under HOME (the encrypted keyring files
// aside), the environment and argv that each child program saw, and keyrole's own argv and
// environment as seen from /proc by those children.
//
//   - a long-term secret (the source's secret access key, before and after rotate) appears
//     nowhere: only the keychain holds it;
//   - a session secret or token appears only on the stdout of a command that prints
//     credentials (process, export), in the environment of `exec`'s command, and in the
//     0600 cache files of the file store when the profile asks for that store;
//   - an IAM Identity Center access token, refresh token or client secret appears nowhere.
//
// Then: file modes whatever the umask, symlinks refused, and the injection vectors of a Node
// program (NODE_OPTIONS, NODE_PATH, SIGUSR1, a planted addon) kept out of the executable.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { onPty } from './support/pty.ts';
import { baseEnv, KEYROLE, type RunResult } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';
import { Recorder, assertOneLine, normalise } from '../scripts/robustness-doc.ts';

const ROLE = (n: string) => `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/${n}`;
const START = 'https://keyrole-demo.awsapps.com/start';
const rec = new Recorder('secrets', 'test/secrets.test.ts');

interface Output { label: string; stdout: string; stderr: string; printsCredentials: boolean; code?: number | null }

describe('secrets: nothing leaks, nothing foreign runs', () => {
  let w: World;
  let env: Record<string, string>;
  let capture: string;
  const outputs: Output[] = [];
  const longTerm: string[] = [];
  const sso: string[] = [];

  const secretTool = (args: string[]) => spawnSync(requireTool('secret-tool'), args, { env: baseEnv(w.env), encoding: 'utf8' });
  /** Every secret of every item of a keychain service, parsed. */
  const items = (service: string) => {
    const out = secretTool(['search', '--all', 'service', service]).stdout;
    return [...out.matchAll(/^secret = (.*)$/gm)].map((m) => { try { return JSON.parse(m[1]) as Record<string, unknown>; } catch { return {}; } });
  };

  /** keyrole under umask 000, its output kept for the scan. */
  async function kr(label: string, args: string[], o: { env?: Record<string, string>; input?: string; printsCredentials?: boolean } = {}): Promise<RunResult> {
    const r = await w.run('sh', ['-c', 'umask 000; exec "$@"', 'sh', KEYROLE, ...args], { env: { ...env, ...o.env }, input: o.input, timeoutMs: 60_000 });
    outputs.push({ label, stdout: r.stdout, stderr: r.stderr, printsCredentials: o.printsCredentials === true, code: r.code });
    return r;
  }

  /** A shell script that records its argv, its environment and its ancestors' argv and environment. */
  function recorder(name: string, then: string): string {
    const path = join(w.home, 'bin', name);
    fs.writeFileSync(path, `#!/bin/sh
out="${capture}/${name}.$$"
{ echo "argv: $0 $*"; env; p=$PPID; for i in 1 2 3; do [ -r /proc/$p/environ ] || break; echo "ancestor $p:"; tr '\\0' ' ' < /proc/$p/cmdline; echo; tr '\\0' '\\n' < /proc/$p/environ; p=$(awk '/^PPid:/ {print $2}' /proc/$p/status); done; } > "$out" 2>&1
${then}
`, { mode: 0o755 });
    return path;
  }

  before(async () => {
    w = await startWorld();
    capture = join(w.home, 'capture');
    fs.mkdirSync(capture);
    fs.mkdirSync(join(w.home, 'bin'));
    fs.mkdirSync(join(w.home, 'tmp'));
    env = {
      ...w.env,
      TMPDIR: join(w.home, 'tmp'),
      KEYROLE_NTP: 'off',
      AWS_ENDPOINT_URL_SSO_OIDC: w.emu.url,
      AWS_ENDPOINT_URL_SSO: w.emu.url,
      AWS_ENDPOINT_URL_IAM: w.emu.url,
      PATH: `${join(w.home, 'bin')}:${process.env.PATH}`,
      DISPLAY: ':99',
    };
  });
  after(() => w?.stop());

  test('every command, then a scan of everything they left', async (t) => {
    const user = await w.emu.addUser('secrets-user');
    longTerm.push(user.secretAccessKey);
    const dev = await w.emu.control<{ serial: string; secret: string }>('POST', 'mfa', { serial: `arn:aws:iam::${DEMO_ACCOUNT_ID}:mfa/secrets-user`, userName: 'secrets-user' });
    requireTool('oathtool');
    const mfaProcess = recorder('mfa-process', `oathtool --totp -b ${dev.secret}`);
    recorder('xdg-open', 'exit 0');
    const wrongSecret = 'W'.repeat(20) + 'rongSecret0000000000';
    longTerm.push(wrongSecret);
    w.writeConfig([
      `[sso-session corp]\nsso_start_url = ${START}\nsso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n`,
      keyroleProfile('prod', { keyrole_source: 'sec', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('filed', { keyrole_source: 'sec', keyrole_role_arn: ROLE('ReadOnly'), keyrole_cache: 'file' }),
      keyroleProfile('chained', { keyrole_source_profile: 'prod', keyrole_role_arn: ROLE('ReadOnly') }),
      keyroleProfile('mfa', { keyrole_source: 'sec', keyrole_role_arn: ROLE('MfaAdmin'), keyrole_mfa_serial: dev.serial, keyrole_mfa_process: mfaProcess }),
      keyroleProfile('session', { keyrole_source: 'sec' }),
      keyroleProfile('denied', { keyrole_source: 'sec', keyrole_role_arn: ROLE('DoesNotExist') }),
      keyroleProfile('wrong', { keyrole_source: 'wrong', keyrole_role_arn: ROLE('Admin') }),
      keyroleProfile('sso', { region: 'eu-west-1', keyrole_sso_session: 'corp', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'AdministratorAccess' }),
    ].join('\n'));
    const nodeDebug = { NODE_DEBUG: 'http,https,net,tls,fs,stream,child_process,module', KEYROLE_DEBUG: '1' };

    assert.equal((await kr('setup sec', ['setup', 'sec'], { input: `${user.accessKeyId}\n${user.secretAccessKey}\n` })).code, 0);
    assert.equal((await kr('setup wrong', ['setup', 'wrong', '--no-verify'], { input: `${user.accessKeyId}\n${wrongSecret}\n` })).code, 0);
    await kr('list', ['list']);
    for (const p of ['prod', 'filed', 'chained', 'session']) {
      assert.equal((await kr(`process ${p} (miss, --debug, NODE_DEBUG)`, ['process', p, '--debug'], { env: nodeDebug, printsCredentials: true })).code, 0);
      assert.equal((await kr(`process ${p} (hit, --debug)`, ['process', p, '--debug'], { printsCredentials: true })).code, 0);
    }
    const mfa = await kr('process mfa (keyrole_mfa_process)', ['process', 'mfa', '--debug'], { printsCredentials: true });
    assert.equal(mfa.code, 0, mfa.stderr);
    assert.ok(fs.readdirSync(capture).some((f) => f.startsWith('mfa-process.')), 'keyrole_mfa_process ran');
    // Failures, with everything switched on.
    await kr('process denied', ['process', 'denied', '--debug'], { env: nodeDebug });
    await kr('process wrong (SignatureDoesNotMatch)', ['process', 'wrong', '--debug'], { env: nodeDebug });
    await kr('process unreachable', ['process', 'session', '--debug', '--cache', 'none'], { env: { AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:1' } });
    await w.emu.behaviour({ faults: [{ action: '*', times: 3, kind: 'error', status: 500 }] });
    await kr('process 500', ['process', 'prod', '--debug', '--cache', 'none']);
    await w.emu.behaviour({ faults: [{ action: '*', times: 1, kind: 'badxml' }] });
    await kr('process bad XML', ['process', 'prod', '--debug', '--cache', 'none']);
    await w.emu.behaviour({ faults: [] });
    await kr('process unknown profile', ['process', 'nope', '--debug']);
    // Everyday commands.
    await kr('cache list', ['cache', 'list']);
    await kr('whoami', ['whoami', 'prod', '--debug']);
    await kr('doctor prod', ['doctor', 'prod', '--debug']);
    await kr('doctor', ['doctor']);
    for (const f of ['env', 'json', 'powershell', 'fish']) await kr(`export --format ${f}`, ['export', 'prod', '--format', f], { printsCredentials: true });
    const exec = await kr('exec', ['exec', 'prod', '--', 'sh', '-c', `env > "${capture}/exec-env.txt"`]);
    assert.equal(exec.code, 0, exec.stderr);
    await kr('configure', ['configure', 'extra', '--source', 'sec', '--role-arn', ROLE('ReadOnly'), '--duration', '3600']);
    await kr('completion', ['completion', 'bash']);
    // The console: a role's credentials and a GetFederationToken session made from the
    // long-term key, each opened through the xdg-open recorder (the sign-in token must not be on its argv).
    const signin = { KEYROLE_SIGNIN_URL: `${w.emu.url}/federation` };
    assert.equal((await kr('console prod (--debug, NODE_DEBUG)', ['console', 'prod', '--debug'], { env: { ...nodeDebug, ...signin } })).code, 0);
    assert.equal((await kr('console session (GetFederationToken, --debug)', ['console', 'session', '--debug'], { env: { ...nodeDebug, ...signin } })).code, 0);
    await kr('console session --url', ['console', 'session', '--url'], { env: signin });
    // IAM Identity Center: a device-flow login (asked for: a display is set) at a terminal that "opens a browser".
    const approve = (async () => {
      for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
        const pending = await w.emu.control<{ userCode: string }[]>('GET', 'sso/pending');
        if (pending.length) return w.emu.control('POST', 'sso/approve', { userCode: pending[0].userCode });
      }
      throw new Error('no device code was requested');
    })();
    const login = await onPty(`sh -c 'umask 000; exec ${KEYROLE} login corp --use-device-code'`, [], env, 60_000);
    await approve;
    outputs.push({ label: 'login corp (pty)', stdout: login.screen, stderr: '', printsCredentials: false });
    assert.equal(login.code, 0, login.screen);
    assert.ok(fs.readdirSync(capture).some((f) => f.startsWith('xdg-open.')), 'a browser was opened');
    assert.equal((await kr('process sso', ['process', 'sso', '--debug'], { env: nodeDebug, printsCredentials: true })).code, 0);
    for (const r of items('keyrole:sso')) for (const k of ['accessToken', 'refreshToken', 'clientSecret']) if (typeof r[k] === 'string') sso.push(r[k] as string);
    assert.ok(sso.length >= 2, 'the SSO tokens were found in the keychain');
    // Rotation: the new long-term key must not leak either.
    const sources = () => items('keyrole:source').map((x) => x.SecretAccessKey).filter((x): x is string => typeof x === 'string');
    assert.deepEqual(sources().sort(), [user.secretAccessKey, wrongSecret].sort(), 'both sources are in the keychain before rotate and remove');
    const rotated = await kr('rotate sec', ['rotate', 'sec', '--verify-timeout', '5', '--debug'], { env: nodeDebug });
    assert.equal(rotated.code, 0, `rotate: ${rotated.stderr}`);
    // Without a terminal, remove asks for --force rather than a confirmation.
    const removed = await kr('remove wrong', ['remove', 'wrong', '--force']);
    assert.equal(removed.code, 0, `remove: ${removed.stderr}`);
    const after = sources();
    assert.equal(after.length, 1, 'one source is left: remove took "wrong" away');
    assert.ok(!after.includes(user.secretAccessKey) && !after.includes(wrongSecret), 'rotate stored a new secret for "sec"');
    // The scan below looks for the new long-term secret too.
    longTerm.push(after[0]);

    // ---- the scan ----
    const session = new Set<string>();
    const addSession = (c: Record<string, unknown>) => { for (const k of ['SecretAccessKey', 'SessionToken']) if (typeof c[k] === 'string' && (c[k] as string).length > 8) session.add(c[k] as string); };
    for (const e of items('keyrole:cache')) addSession(e);
    for (const o of outputs) for (const m of o.stdout.matchAll(/\{"Version":1[^\n]*\}/g)) addSession(JSON.parse(m[0]) as Record<string, unknown>);
    const khome = join(w.home, '.aws', 'keyrole');
    const cacheFiles = fs.existsSync(join(khome, 'cache')) ? fs.readdirSync(join(khome, 'cache')).map((f) => join(khome, 'cache', f)) : [];
    for (const f of cacheFiles) addSession(JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>);
    assert.ok(session.size >= 10, `session secrets collected: ${session.size}`);
    assert.ok(longTerm.length >= 2);

    const leaks: string[] = [];
    const check = (where: string, text: string, allowSession: boolean) => {
      for (const s of longTerm) if (text.includes(s)) leaks.push(`${where}: a long-term secret`);
      for (const s of sso) if (text.includes(s)) leaks.push(`${where}: an IAM Identity Center token (…${text.slice(Math.max(0, text.indexOf(s) - 80), text.indexOf(s)).replace(/\s+/g, ' ')}⟨token⟩)`);
      if (!allowSession) {
        for (const s of session) {
          const i = text.indexOf(s);
          if (i >= 0) { leaks.push(`${where}: a session secret (…${text.slice(Math.max(0, i - 1500), i).replace(/\s+/g, ' ')}⟨secret⟩)`); break; }
        }
      }
    };
    for (const o of outputs) {
      check(`stdout of ${o.label}`, o.stdout, o.printsCredentials);
      check(`stderr of ${o.label}`, o.stderr, false);
    }
    const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = join(dir, e.name);
      if (e.isDirectory()) return p.endsWith(join('.local', 'share', 'keyrings')) ? [] : walk(p);
      return e.isFile() ? [p] : [];
    });
    const files = walk(w.home);
    for (const f of files) {
      const text = fs.readFileSync(f, 'latin1');
      const isCache = cacheFiles.includes(f);
      const isExecEnv = f === join(capture, 'exec-env.txt');
      check(f.slice(w.home.length + 1), text, isCache || isExecEnv);
    }
    // Sign-in tokens: in the console's 0600 pages and on --url's stdout, never on a browser's argv or in its environment.
    const consoleDir = join(khome, 'console');
    const tokens = (fs.existsSync(consoleDir) ? fs.readdirSync(consoleDir) : []).map((f) => /SigninToken=([\w-]+)/.exec(fs.readFileSync(join(consoleDir, f), 'utf8'))?.[1]).filter((x): x is string => !!x);
    assert.equal(tokens.length, 2, 'both console runs left their page');
    for (const f of fs.readdirSync(capture)) for (const tok of tokens) if (fs.readFileSync(join(capture, f), 'latin1').includes(tok)) leaks.push(`capture ${f}: a sign-in token`);
    t.diagnostic(outputs.map((o) => `${o.label}: exit ${o.code ?? '-'}`).join('; '));
    assert.deepEqual(leaks, []);
    // The exec child got what it asked for: the session credentials, and no long-term key.
    const execEnv = fs.readFileSync(join(capture, 'exec-env.txt'), 'utf8');
    assert.match(execEnv, /^AWS_SESSION_TOKEN=/m);
    assert.doesNotMatch(execEnv, /^AWS_PROFILE=/m);
    // Cache files of the file store are 0600 in 0700 directories, whatever the umask.
    for (const f of cacheFiles) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
    const counted = `${outputs.length} runs (${outputs.filter((o) => o.printsCredentials).length} printing credentials), ${files.length} files, ${fs.readdirSync(capture).filter((f) => !f.startsWith('exec')).length} child captures`;
    rec.add('every command, then a scan of everything they left', 'setup, list, process (miss and hit, file and keychain store, chained, MFA via keyrole_mfa_process, SSO after a device-flow login), failures (AccessDenied, wrong secret, unreachable, 500, bad XML, unknown profile) with --debug, KEYROLE_DEBUG and NODE_DEBUG, cache list, whoami, doctor, export in four formats, exec, configure, completion, console (a role, GetFederationToken, --url), rotate, remove; all under umask 000',
      'long-term secrets and SSO tokens nowhere; session secrets only on the stdout of process/export, in exec\'s child environment and in the file store\'s 0600 entries; console sign-in tokens never on a browser\'s argv or environment', `no leak found in ${counted.replace(/\d+/g, 'N')}`);
  });

  test('files are 0600 and directories 0700 whatever the umask', () => {
    const bad: string[] = [];
    const walk = (dir: string) => {
      const st = fs.lstatSync(dir);
      if ((st.mode & 0o777) !== 0o700) bad.push(`${dir} is ${(st.mode & 0o777).toString(8)}`);
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if ((fs.lstatSync(p).mode & 0o777) !== 0o600) bad.push(`${p} is ${(fs.lstatSync(p).mode & 0o777).toString(8)}`);
      }
    };
    walk(join(w.home, '.aws', 'keyrole'));
    assert.deepEqual(bad, []);
    rec.add('files are 0600 and directories 0700 whatever the umask', 'every file and directory keyrole made under ~/.aws/keyrole during the battery (umask 000)', 'files 0600, directories 0700', 'all files 0600, all directories 0700');
  });

  /** A symlink planted where keyrole keeps secrets: refused in one line; the target untouched. */
  async function refused(name: string, what: string, plant: (khome: string, target: string) => void, pattern: RegExp) {
    const khome = join(w.home, `links-${name.replace(/\W+/g, '-')}`);
    const target = join(w.home, `target-${name.replace(/\W+/g, '-')}`);
    fs.mkdirSync(target, { mode: 0o700 });
    fs.writeFileSync(join(target, 'victim'), 'untouched');
    plant(khome, target);
    const r = await w.keyrole(['process', 'prod', '--cache', 'file'], { env: { ...env, KEYROLE_HOME: khome } });
    assertOneLine(r, pattern);
    assert.equal(fs.readFileSync(join(target, 'victim'), 'utf8'), 'untouched');
    assert.deepEqual(fs.readdirSync(target), ['victim'], 'nothing written through the link');
    rec.add(name, what, 'refused in one line; nothing written through the link', `exit ${r.code}: ${normalise(r.stderr, [w.home])}`);
  }

  test('a symlinked keyrole home is refused', () => refused('a symlinked keyrole home is refused', 'KEYROLE_HOME is a symlink to another directory',
    (k, t) => fs.symlinkSync(t, k), /links-a-symlinked-keyrole-home-is-refused is a symbolic link, and keyrole keeps secrets only in a real directory/));

  test('a symlinked cache directory is refused', () => refused('a symlinked cache directory is refused', '<keyrole home>/cache is a symlink',
    (k, t) => { fs.mkdirSync(k, { mode: 0o700 }); fs.symlinkSync(t, join(k, 'cache')); }, /cache is a symbolic link/));

  test('a symlinked cache file is refused', async () => {
    const probe = await w.keyrole(['process', 'prod', '--cache', 'file'], { env: { ...env, KEYROLE_HOME: join(w.home, 'probe') } });
    assert.equal(probe.code, 0, probe.stderr);
    const [entry] = fs.readdirSync(join(w.home, 'probe', 'cache'));
    await refused('a symlinked cache file is refused', 'the cache entry is a symlink to a file elsewhere',
      (k, t) => { fs.mkdirSync(join(k, 'cache'), { recursive: true, mode: 0o700 }); fs.symlinkSync(join(t, 'victim'), join(k, 'cache', entry)); },
      /cache\/[0-9a-f]{16}\.json is a symbolic link; delete it: keyrole cache clear/);
  });

  // ---- injection ----

  const marker = () => join(w.home, 'tmp', 'foreign-code-ran');
  function evil(): string {
    const path = join(w.home, 'evil.cjs');
    fs.writeFileSync(path, `require('fs').writeFileSync(${JSON.stringify(marker())}, 'ran');\n`);
    return path;
  }

  for (const [name, extra] of [
    ['NODE_OPTIONS=--require', (p: string) => ({ NODE_OPTIONS: `--require ${p}` })],
    ['NODE_OPTIONS=--import', (p: string) => ({ NODE_OPTIONS: `--import ${p}` })],
    ['NODE_OPTIONS=--experimental-loader', (p: string) => ({ NODE_OPTIONS: `--experimental-loader ${p}` })],
    ['NODE_OPTIONS=--inspect-brk', () => ({ NODE_OPTIONS: '--inspect-brk=127.0.0.1:0' })],
  ] as const) {
    test(`${name} does not run code in the executable`, async () => {
      fs.rmSync(marker(), { force: true });
      const r = await w.keyrole(['process', 'prod'], { env: { ...env, ...extra(evil()) }, timeoutMs: 15_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'no debugger banner, no warning');
      assert.ok(!fs.existsSync(marker()), 'the foreign code did not run');
      rec.add(`${name} does not run code in the executable`, `\`${name} …\` in the environment of dist/keyrole`, 'ignored: the executable is built with execArgvExtension "none"', 'exit 0: credentials; the planted code did not run');
    });
  }

  test('the npm channel honours NODE_OPTIONS like any Node program', async () => {
    fs.rmSync(marker(), { force: true });
    const r = await w.run(process.execPath, [join(KEYROLE, '..', 'keyrole.cjs'), '--version'], { env: { ...env, NODE_OPTIONS: `--require ${evil()}` } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(marker()), 'node ran the --require hook, as documented');
    rec.add('the npm channel honours NODE_OPTIONS like any Node program', '`NODE_OPTIONS=--require …` with `node dist/keyrole.cjs`', 'runs it: documented (use the executable where that matters)', 'the planted code ran (documented behaviour of a Node program)');
  });

  test('NODE_PATH cannot replace the code the executable loads', async () => {
    const mods = join(w.home, 'evil-modules');
    // The STS client, the proxy agents, and the keychain addon.
    for (const pkg of ['@aws-sdk/client-sts', 'https-proxy-agent', 'proxy-from-env', '@napi-rs/keyring']) {
      fs.mkdirSync(join(mods, pkg), { recursive: true });
      fs.writeFileSync(join(mods, pkg, 'index.js'), `require('fs').writeFileSync(${JSON.stringify(marker())}, 'ran'); module.exports = {};\n`);
      fs.writeFileSync(join(mods, pkg, 'package.json'), '{"main":"index.js"}');
    }
    fs.rmSync(marker(), { force: true });
    const r = await w.keyrole(['process', 'session', '--cache', 'none'], { env: { ...env, NODE_PATH: mods } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!fs.existsSync(marker()), 'the planted modules were not loaded');
    rec.add('NODE_PATH cannot replace the code the executable loads', 'NODE_PATH pointing at a planted @aws-sdk/client-sts, https-proxy-agent, proxy-from-env and @napi-rs/keyring, on a cache miss', 'not loaded: the STS client comes from the executable\'s assets', 'exit 0: credentials; the planted modules did not load');
  });

  test('SIGUSR1 does not open the inspector', async () => {
    await w.emu.behaviour({ faults: [{ action: 'AssumeRole', times: 1, kind: 'hang' }] });
    await w.emu.resetStats();
    const child = spawn(KEYROLE, ['process', 'prod', '--cache', 'none'], { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('close', (c, s) => r([c, s])));
    for (const until = Date.now() + 60_000; !(await w.emu.stats()).requests.some((q) => q.action === 'AssumeRole');) {
      assert.ok(Date.now() < until);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGUSR1');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code, signal] = await closed;
    clearTimeout(timer);
    await w.emu.behaviour({ faults: [] });
    assert.doesNotMatch(stderr, /Debugger listening/);
    assert.equal(code, 0, `the signal was ignored and the call went on (code ${code}, signal ${signal}): ${stderr}`);
    const outcome = 'the signal ignored: the call went on (retried after 5 s) and printed credentials';
    rec.add('SIGUSR1 does not open the inspector', 'SIGUSR1 sent to a keyrole waiting for STS', 'no inspector on 127.0.0.1:9229 (built with --disable-sigusr1)', `no inspector; ${outcome}`);
  });

  test('NODE_DEBUG does not print request headers', async () => {
    await w.keyrole(['cache', 'clear']);
    const base = await w.keyrole(['process', 'prod'], { env });
    assert.equal(base.code, 0, base.stderr);
    const token = (JSON.parse(base.stdout) as { SessionToken: string }).SessionToken;
    // chained signs its AssumeRole with prod's session token: the header Node would print.
    const r = await w.keyrole(['process', 'chained', '--cache', 'none'], { env: { ...env, NODE_DEBUG: 'net,http,tls' } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stderr.includes(token), 'the session token is not on stderr');
    assert.doesNotMatch(r.stderr, /x-amz-security-token/i);
    rec.add('NODE_DEBUG does not print request headers', '`NODE_DEBUG=net,http,tls` on a call signed with a session token (before this suite: Node printed the headers, token included)', 'no header on stderr: the executable reruns itself without NODE_DEBUG', 'exit 0: credentials; no request header on stderr');
  });

  test('a planted keychain addon is not loaded', async () => {
    // A copy of the executable alone, without the addon beside it: it extracts its own into
    // $XDG_CACHE_HOME/keyrole, and must not load a file someone else put there.
    const lone = join(w.home, 'lone');
    fs.mkdirSync(lone);
    fs.copyFileSync(KEYROLE, join(lone, 'keyrole'));
    fs.chmodSync(join(lone, 'keyrole'), 0o755);
    const xdg = join(w.home, 'xdg');
    fs.mkdirSync(join(xdg, 'keyrole'), { recursive: true, mode: 0o700 });
    const hash = fs.readFileSync(join(KEYROLE, '..', 'keyring.sha256'), 'utf8').trim().slice(0, 16);
    const planted = join(xdg, 'keyrole', `keyring-${hash}.node`);
    fs.writeFileSync(planted, 'not an addon');
    fs.chmodSync(planted, 0o666);
    // `keyrole list` goes through the addon (a cache hit or a source read on a miss need not).
    const r = await w.run(join(lone, 'keyrole'), ['list'], { env: { ...env, XDG_CACHE_HOME: xdg } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\bsec\b/);
    assert.equal(fs.statSync(planted).mode & 0o777, 0o600, 'replaced by keyrole\'s own copy');
    assert.ok(fs.statSync(planted).size > 100_000);
    fs.rmSync(lone, { recursive: true });
    rec.add('a planted keychain addon is not loaded', 'a world-writable file where the executable extracts its addon', 'not loaded: replaced by the embedded addon (hash checked) before loading', 'exit 0: the sources listed; the planted file replaced by a 0600 copy of the embedded addon');
  });

  test('no secret on the argv or in the environment of keyrole or of any child', () => {
    // The scan above read every capture whole; here, that the captures saw what they should:
    // each child's argv and environment, and keyrole's own argv and environment (from /proc).
    const caps = fs.readdirSync(capture).filter((n) => !n.startsWith('exec')).map((f) => fs.readFileSync(join(capture, f), 'utf8'));
    assert.ok(caps.some((c) => /^argv: .*mfa-process/m.test(c) && /ancestor \d+:\n.*keyrole process mfa --debug/.test(c)), 'keyrole_mfa_process saw its own and keyrole\'s argv and environment');
    assert.ok(caps.some((c) => /^argv: .*xdg-open https?:\/\/\S+user_code=/m.test(c) && /ancestor \d+:\n.*keyrole login corp/.test(c)), 'the browser got the URL, nothing else');
    rec.add('no secret on the argv or in the environment of keyrole or of any child', 'argv and environment of keyrole_mfa_process, of the browser opened for SSO, and of keyrole itself (read from /proc by those children); keys reach setup on stdin', 'no secret in any of them', 'none found (part of the scan above)');
  });

  rec.docTest(15);
});
