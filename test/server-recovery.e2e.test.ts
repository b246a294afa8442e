// A long-lived keyrole recovers (issue 23), and every client shows why the endpoint said no
// (issue 24): `serve` under real faults with real parts. gnome-keyring stopped (SIGSTOP) and
// continued under a running serve; a shared libfaketime clock that is 20 minutes off and then
// right again; the endpoint's memory of its last answer; serve killed with SIGKILL and its
// token file; and boto3, the AWS CLI v1 and v2, the JS SDK v3 and the Go SDK v2 run with
// exactly the lines serve prints, evaluated by a real sh, first served and then refused,
// each showing keyrole's reason.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { sessionBusPath } from '../src/keychain/dbus.ts';
import { existsSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { keyroleProfile, resetWorld, worldWithSource, type World } from './support/world.ts';
import { KEYROLE, ROOT } from './support/run.ts';
import { get, serve } from './support/server.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';
import { requireTool } from './support/tools.ts';
import { keyringPid, whileStopped } from './support/keyring.ts';
import { tempDir } from './support/tmp.ts';
import { Recorder } from '../scripts/robustness-doc.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const NODE24 = join(ROOT, 'node_modules', '.bin', 'node');
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/** Waits for a condition no event announces (a file another process removes); polls with a generous bound. */
async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}


/**
 * A session bus in front of the world's: it forwards every connection to the real bus until
 * told to go silent, after which new connections are accepted and never answered (a daemon
 * that hangs for whoever connects next), while connections made before keep working.
 */
async function busInFront(w: World): Promise<{ address: string; silent(on: boolean): void; close(): void }> {
  const real = sessionBusPath(w.env.DBUS_SESSION_BUS_ADDRESS);
  const path = join(tempDir('bus-front-'), 'bus');
  const socks = new Set<Socket>();
  let quiet = false;
  const server = createServer((client) => {
    socks.add(client);
    client.on('error', () => client.destroy()).on('close', () => socks.delete(client));
    if (quiet) { client.resume(); return; }
    const up = netConnect(real);
    socks.add(up);
    up.on('error', () => { up.destroy(); client.destroy(); }).on('close', () => { socks.delete(up); client.destroy(); });
    client.on('close', () => up.destroy());
    client.pipe(up).pipe(client);
  });
  await new Promise<void>((ok) => server.listen(path, ok));
  return {
    address: `unix:path=${path}`,
    silent(on) { quiet = on; },
    close() { for (const x of socks) x.destroy(); server.close(); },
  };
}

const SRV = keyroleProfile('srv', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_duration_seconds: 900 });

const recovers = () => describe('a long-lived keyrole recovers: serve under a stopped keychain, a wrong clock, a SIGKILL', { concurrency: 1 }, () => {
  const rec = new Recorder('server', 'test/server-recovery.e2e.test.ts');
  // The hung keychain call waits out keyrole's 30-second bound, and it leaves its world's
  // collection locked: it runs in a world of its own, beside the other cases (one world, one
  // case after another). The rows of docs/robustness.md keep their order: the hung case
  // records its row once the others have recorded theirs.
  let othersDone!: () => void;
  const othersRecorded = new Promise<void>((r) => { othersDone = r; });
  before(() => requireTool('dbus-send'));

  describe('side by side', { concurrency: true }, () => {
    describe('one world, one fault after another', { concurrency: 1 }, () => {
      let w: World;
      const calls = async (action: string) => (await w.emu.stats()).calls[action] ?? 0;

      before(async () => {
        w = await worldWithSource(SRV);
      });
      after(async () => {
        othersDone();
        await w?.stop();
      });
      beforeEach(() => resetWorld(w));

      test('regression (one stalled Secret Service call failed every later request until serve restarted): gnome-keyring stopped and continued under serve, which answers afterwards', async () => {
        // 12-second credentials are never fresh enough to keep: every request reads the keychain.
        await w.emu.behaviour({ credentialLifetimeSeconds: 12 });
        const s = await serve(w, ['srv'], { KEYROLE_NTP: 'off' });
        const pid = keyringPid(w);
        try {
          assert.equal((await s.ask()).status, 200);
          const stalled = await whileStopped(pid, () => s.ask());
          assert.equal(stalled.status, 424, stalled.body);
          assert.match((JSON.parse(stalled.body) as { Message: string }).Message, /^keyrole: the Secret Service did not answer/);
          const after = await s.ask();
          assert.equal(after.status, 200, `after SIGCONT: ${after.body}\n${s.stderr()}`);
          assert.match((JSON.parse(after.body) as { AccessKeyId: string }).AccessKeyId, /^ASIA/);
          assert.equal(s.child.exitCode, null, 'serve still runs');
          rec.add('regression (one stalled Secret Service call failed every later request until serve restarted): gnome-keyring stopped and continued under serve, which answers afterwards',
            'gnome-keyring stopped (SIGSTOP) while serve needs a keychain read, then continued (SIGCONT)', 'the request made while it is stopped fails after 5 s with keyrole\'s line; the next one is served (a new D-Bus connection)',
            `while stopped: ${stalled.status} ${JSON.parse(stalled.body).Code}; after SIGCONT: ${after.status}, credentials; serve still running`);
        } finally {
          await s.stop();
        }
      });

      test('the endpoint memoizes its answer: while it is fresh, a request needs no keychain (answered with gnome-keyring stopped) and no STS call', async () => {
        const s = await serve(w, ['srv'], { KEYROLE_NTP: 'off' });
        const pid = keyringPid(w);
        try {
          const first = await s.ask();
          assert.equal(first.status, 200);
          const assumed = await calls('AssumeRole');
          const second = await whileStopped(pid, () => s.ask());
          assert.equal(second.status, 200, second.body);
          assert.equal(second.body, first.body, 'the same answer, from memory');
          assert.equal(await calls('AssumeRole'), assumed);
          rec.add('the endpoint memoizes its answer: while it is fresh, a request needs no keychain (answered with gnome-keyring stopped) and no STS call',
            'gnome-keyring stopped while serve\'s last answer is still fresh', 'answered from memory: no keychain read, no STS call', `${second.status}, the same credentials; no AssumeRole`);
        } finally {
          await s.stop();
        }
      });

      test('regression (a failed clock check was kept for the life of the process): serve on a shared libfaketime clock fails while it is 20 minutes off, and serves again once it is right', async () => {
        requireTool('faketime');
        assert.ok(existsSync(LIBFAKETIME), LIBFAKETIME);
        await w.emu.behaviour({ credentialLifetimeSeconds: 12 });
        const dir = tempDir('faketime-');
        const clock = join(dir, 'offset');
        writeFileSync(clock, '+0\n');
        const s = await serve(w, ['srv'], {
          KEYROLE_NTP: 'off', LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: clock, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1',
        });
        try {
          assert.equal((await s.ask()).status, 200);
          writeFileSync(clock, '+1200\n');
          const off = await s.ask();
          assert.equal(off.status, 424, off.body);
          assert.match((JSON.parse(off.body) as { Code: string; Message: string }).Message, /clock/i);
          writeFileSync(clock, '+0\n');
          const back = await s.ask();
          assert.equal(back.status, 200, `${back.body}\n${s.stderr()}`);
          rec.add('regression (a failed clock check was kept for the life of the process): serve on a shared libfaketime clock fails while it is 20 minutes off, and serves again once it is right',
            'serve\'s clock moved 20 minutes ahead, then back (libfaketime, one shared offset file)', 'refused with the clock\'s line while wrong; served once right (the check is made per request)',
            `while off: ${off.status} ${JSON.parse(off.body).Code}; once right: ${back.status}, credentials`);
        } finally {
          await s.stop();
        }
      });

      test('regression (a serve killed with SIGKILL left serve-PORT.token for whoever listens on the port next): the token file is gone however serve ends', async () => {
        const s = await serve(w, ['srv'], { KEYROLE_NTP: 'off' });
        assert.equal(statSync(s.tokenFile).mode & 0o777, 0o600);
        s.child.kill('SIGKILL');
        await s.stop();
        await until('the token file to go', () => !existsSync(s.tokenFile));
        rec.add('regression (a serve killed with SIGKILL left serve-PORT.token for whoever listens on the port next): the token file is gone however serve ends',
          'serve killed with SIGKILL', 'its token file is removed at once (a guard process waits on a pipe only serve holds), so an SDK that reads the file sends no request to the port', 'the file is gone');
      });

      test('a refused request gets 403 with keyrole\'s reason as Code/Message, and keyrole says on its stderr why', async () => {
        const s = await serve(w, ['srv'], { KEYROLE_NTP: 'off' });
        try {
          const host = new URL(s.url).host;
          for (const [headers, why] of [
            [{ host }, /without an Authorization header/],
            [{ host, authorization: `${s.token.slice(0, -1)}x` }, /Authorization header is not this endpoint's token/],
            [{ host: `evil.example:${new URL(s.url).port}`, authorization: s.token }, /Host header "evil\.example:\d+"/],
          ] as [Record<string, string>, RegExp][]) {
            const r = await get(s.url, headers);
            assert.equal(r.status, 403);
            const body = JSON.parse(r.body) as { Code: string; Message: string };
            assert.equal(body.Code, 'EndpointRefused');
            assert.match(body.Message, why);
            await until(`serve's stderr to say ${why}`, () => why.test(s.stderr()));
          }
          const other = await get(`${s.url}other`, { host, authorization: s.token });
          assert.equal(other.status, 404);
          assert.match(other.body, /serves credentials at \/ only/);
          assert.equal(await calls('AssumeRole'), 1, 'refused requests reach no STS (the one call was serve\'s own, before serving)');
          rec.add('a refused request gets 403 with keyrole\'s reason as Code/Message, and keyrole says on its stderr why',
            'requests without the token, with a wrong one, with a rebound Host header, for another path', '403 (404 for the path) with {"Code", "Message"}: keyrole\'s one line, which botocore, the JS SDK\'s fromHttp and the Go SDK show; the same line on serve\'s stderr; no STS call',
            '403 EndpointRefused ×3, 404; each reason on serve\'s stderr');
        } finally {
          await s.stop();
        }
      });
    });

    test('regression (an unanswered keychain call tripped the addon\'s watchdog, which SIGKILLed the whole server): the call that hangs fails its request; serve lives and answers the next', async (t) => {
      const w = await worldWithSource(SRV);
      t.after(() => w.stop());
      await w.emu.behaviour({ credentialLifetimeSeconds: 12 });
      const front = await busInFront(w);
      const s = await serve(w, ['srv'], { KEYROLE_NTP: 'off', DBUS_SESSION_BUS_ADDRESS: front.address });
      const env = { ...process.env, ...w.env };
      const lock = (member: 'Lock' | 'Unlock') => execFileSync('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.secrets', '/org/freedesktop/secrets', `org.freedesktop.Secret.Service.${member}`, 'array:objpath:/org/freedesktop/secrets/collection/login'], { env, encoding: 'utf8' });
      try {
        assert.equal((await s.ask()).status, 200);
        // A locked collection sends keyrole's read to the keychain addon, which opens a
        // connection of its own: to a bus that now says nothing.
        lock('Lock');
        front.silent(true);
        const hung = await s.ask();
        assert.equal(hung.status, 424, hung.body);
        assert.match((JSON.parse(hung.body) as { Message: string }).Message, /^keyrole: the Secret Service did not answer within 30 s/);
        assert.equal(s.child.exitCode, null, 'serve still runs');
        front.silent(false);
        const next = await s.ask();
        assert.equal(next.status, 424, next.body);
        assert.match((JSON.parse(next.body) as { Code: string }).Code, /^KeychainLocked$/, 'the next request is answered, with the keychain\'s own state');
        await othersRecorded;
        rec.add('regression (an unanswered keychain call tripped the addon\'s watchdog, which SIGKILLed the whole server): the call that hangs fails its request; serve lives and answers the next',
          'the collection locked, so the read goes to the keychain addon, whose new connection meets a bus that says nothing', 'that request fails after 30 s with keyrole\'s line (the call ran in a child, which its watchdog ended); serve keeps running and answers the next request',
          `${hung.status} ${JSON.parse(hung.body).Code}; serve running; the next request: ${next.status} ${JSON.parse(next.body).Code}`);
      } finally {
        await s.stop();
        front.close();
      }
    });
    });
  rec.docTest(6);
});

const everyClient = () => describe('serve prints what every client reads, and every client shows why a request was refused', { concurrency: 1 }, () => {
  let w: World;
  let dir: string;
  let goSts: string;

  before(async () => {
    for (const t of ['python3', 'aws', '/usr/bin/aws', 'strace', 'go']) requireTool(t);
    w = await worldWithSource(keyroleProfile('srv', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ROLE }));
    dir = tempDir('serve-clients-');
    // Debian's Go SDK v2 (GOPATH mode: Debian ships its sources under /usr/share/gocode).
    goSts = join(dir, 'go-sts');
    execFileSync('go', ['build', '-o', goSts, join(ROOT, 'test', 'fixtures', 'go-sts.go')], { env: { ...process.env, GOPATH: '/usr/share/gocode', GO111MODULE: 'off', GOFLAGS: '' }, stdio: ['ignore', 'ignore', 'inherit'], timeout: 540_000 });
  });
  after(() => w?.stop());

  /** Each client, run in a real sh that has run serve's lines (and then `extra`): exit status, stdout, stderr. */
  const clients = (): [string, string[]][] => [
    ['boto3', ['python3', '-c', 'import boto3; print(boto3.client("sts").get_caller_identity()["Arn"])']],
    ['AWS CLI v1', ['aws', 'sts', 'get-caller-identity', '--query', 'Arn', '--output', 'text']],
    ['AWS CLI v2.9 (Debian)', ['sh', '-c', '/usr/bin/aws sts get-caller-identity --endpoint-url "$AWS_ENDPOINT_URL_STS" --query Arn --output text']],
    // The JS SDK's default chain hides why any container endpoint failed ("Could not load
    // credentials from any providers"); a program that names fromHttp gets keyrole's Code and
    // Message. Both are run: the chain for credentials, fromHttp for the reason.
    ['JS SDK v3 (default chain)', [NODE24, join(ROOT, 'test', 'fixtures', 'jssdk-once.mjs')]],
    ['JS SDK v3 (fromHttp)', [NODE24, join(ROOT, 'test', 'fixtures', 'jssdk-once.mjs'), 'fromHttp']],
    ['Go SDK v2 (Debian)', [goSts]],
  ];
  async function inServeShell(linesFile: string, extra: string, argv: string[]) {
    return w.run('sh', ['-c', `. "$1"\n${extra}\nshift; exec "$@"`, 'sh', linesFile, ...argv], { env: { KR_ROOT: ROOT }, timeoutMs: 120_000 });
  }
  /** serve, and the lines it printed in a file, as a user saves them to evaluate in a shell. */
  async function serveWithLines() {
    const s = await serve(w, ['srv'], { KEYROLE_NTP: 'off' });
    const linesFile = join(dir, 'lines.sh');
    writeFileSync(linesFile, s.lines);
    return { s, linesFile };
  }
  /**
   * Every client at once, each in its own shell (independent programs, as on a developer's
   * machine; one after another they cost a start of Python, Node or Go each, on two cores).
   */
  async function eachClient(linesFile: string, extra: string) {
    const list = clients();
    const results = await Promise.all(list.map(([, argv]) => inServeShell(linesFile, extra, argv)));
    return list.map(([name], i) => [name, results[i]] as const);
  }

  test('boto3, the AWS CLI v1 and v2.9, the JS SDK v3 and the Go SDK v2 get credentials with exactly the lines serve prints; the token is on no argv', async () => {
    const { s, linesFile } = await serveWithLines();
    try {
      assert.ok(!s.lines.includes(s.token), 'the lines name the token file, never the token');
      for (const [name, r] of await eachClient(linesFile, '')) {
        assert.equal(r.code, 0, `${name}: ${r.stderr}`);
        assert.match(r.stdout.trim(), /^arn:aws:sts::\d{12}:assumed-role\/Admin\//, name);
      }
      // Every program the lines start, with its argv: the token is on none of them.
      const trace = join(dir, 'execve');
      const t = await w.run('strace', ['-f', '-qq', '-s', '4096', '-e', 'trace=execve', '-o', trace, 'sh', '-c', '. "$1"; test -n "$AWS_CONTAINER_AUTHORIZATION_TOKEN"', 'sh', linesFile]);
      assert.equal(t.code, 0, t.stderr);
      const execs = readFileSync(trace, 'utf8');
      assert.match(execs, /execve\("[^"]*\/cat", \["cat", "[^"]+serve-\d+\.token"\]/, 'the shell reads the token with cat FILE');
      assert.ok(!execs.includes(s.token), `the token on an argv:\n${execs}`);
    } finally {
      await s.stop();
    }
  });

  test('a refused request: each client shows keyrole\'s one-line reason, and keyrole\'s stderr says it too', async () => {
    const { s, linesFile } = await serveWithLines();
    try {
      const wrong = join(dir, 'wrong.token');
      writeFileSync(wrong, 'not-the-token', { mode: 0o600 });
      // A token of an earlier run: in the variable and in the file.
      const stale = `export AWS_CONTAINER_AUTHORIZATION_TOKEN=not-the-token AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=${wrong}`;
      for (const [name, r] of await eachClient(linesFile, stale)) {
        assert.notEqual(r.code, 0, name);
        if (/default chain/.test(name)) { assert.match(r.stderr, /Could not load credentials from any providers/); continue; }
        assert.match(r.stderr, /keyrole: refused a request whose Authorization header is not this endpoint's token/, `${name} shows keyrole's reason:\n${r.stderr}`);
      }
      assert.match(s.stderr(), /^keyrole: refused a request whose Authorization header is not this endpoint's token/m);
      // A failure behind the endpoint (STS refuses the role): every client shows keyrole's line.
      await w.keyrole(['cache', 'clear']);
      await w.emu.behaviour({ faults: [{ action: 'AssumeRole', kind: 'error', code: 'AccessDenied', status: 403, message: 'User is not authorized to perform: sts:AssumeRole', times: 1000 }] });
      try {
        for (const [name, r] of await eachClient(linesFile, '')) {
          assert.notEqual(r.code, 0, name);
          if (/default chain/.test(name)) continue;
          assert.match(r.stderr, /keyrole: .*AssumeRole/, `${name} shows keyrole's reason:\n${r.stderr}`);
        }
      } finally {
        await w.emu.behaviour({ faults: [] });
      }
    } finally {
      await s.stop();
    }
  });
  test('doctor in the client\'s environment says which token variable its client needs, and asks the endpoint as an SDK would', async () => {
    const { s, linesFile } = await serveWithLines();
    try {
      const fileOnly = await inServeShell(linesFile, 'unset AWS_CONTAINER_AUTHORIZATION_TOKEN', [KEYROLE, 'doctor', '--no-network']);
      assert.match(fileOnly.stdout, /^warning +credential endpoint +only AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is set; clients that read only AWS_CONTAINER_AUTHORIZATION_TOKEN get 403: boto3\/botocore before 1\.34\.41, .*AWS CLI v2 before 2\.15\.0, .*Go SDK v2 before/m, fileOnly.stdout);
      assert.match(fileOnly.stdout, /fix: for those, also: export AWS_CONTAINER_AUTHORIZATION_TOKEN="\$\(cat \S+serve-\d+\.token\)"/);
      const both = await inServeShell(linesFile, '', [KEYROLE, 'doctor']);
      assert.match(both.stdout, /^ok +credential endpoint +http:\/\/127\.0\.0\.1:\d+\/ with AWS_CONTAINER_AUTHORIZATION_TOKEN and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, which every SDK reads; it answered with credentials$/m, both.stdout);
      const wrong = await inServeShell(linesFile, 'export AWS_CONTAINER_AUTHORIZATION_TOKEN=old; unset AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', [KEYROLE, 'doctor']);
      assert.match(wrong.stdout, /^problem +credential endpoint +http:\/\/127\.0\.0\.1:\d+\/ refused doctor's request: it answered 403: keyrole: refused a request whose Authorization header is not this endpoint's token/m, wrong.stdout);
    } finally {
      await s.stop();
    }
    const gone = await inServeShell(join(dir, 'lines.sh'), '', [KEYROLE, 'doctor', '--no-network']);
    assert.match(gone.stdout, /^problem +credential endpoint +AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE names \S+, which cannot be read \(ENOENT\): the keyrole serve that wrote it has stopped/m, gone.stdout);
  });
});

// The two suites share nothing (each its worlds), so they run side by side.
describe('serve recovers, and every client reads it', { concurrency: true }, () => {
  recovers();
  everyClient();
});
