// Network and service faults on a cache refresh: the emulator's fault injection and hostile
// local servers. keyrole ends within its documented bound (12 s for an STS exchange), says
// what happened in one line, and leaves the cache entry byte for byte as it was.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer as createTlsServer } from 'node:tls';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';
import type { RunResult } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { Recorder, assertOneLine, normalise } from '../scripts/robustness-doc.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const rec = new Recorder('network', 'test/robustness.network.test.ts');
// The STS exchange's design bound (src/aws/sts.ts, TOTAL_TIMEOUT_MS). A run may take that plus
// what a run costs on this machine right now (process start, the keychain read, the SDK load,
// the error path, exit): measured around each case, not guessed, as the slower of a cache-miss
// run that succeeds (before the case) and a run that fails at once on a refused connection
// (after it, the same paths as a failure without the wait).
const STS_BOUND_MS = 12_000;

interface Hostile { url: string; close(): void }

// A listener whose accept queue is full and never drained (backlog 0, filled by connections of
// its own): the kernel drops further SYNs, so a connection there never completes, as with a
// blackholed address or a firewall that drops. Python: Node's servers always accept.
const BLACKHOLE = String.raw`
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(4):
    c = socket.socket(); c.setblocking(False); c.connect_ex(('127.0.0.1', port)); fill.append(c)
print(port, flush=True)
sys.stdin.read()
`;

/** The blackhole above; closing its stdin ends it. */
async function blackhole(): Promise<Hostile> {
  const child = spawn(requireTool('python3'), ['-c', BLACKHOLE], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; if (out.includes('\n')) resolve(out.trim()); });
    child.once('exit', (code) => reject(new Error(`the blackhole exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, close: () => child.stdin.end() };
}

/** A TCP server that answers each connection with `handler`. */
function hostile(handler: (s: Socket) => void): Promise<Hostile> {
  const socks = new Set<Socket>();
  const srv = createServer((s) => {
    socks.add(s);
    s.on('error', () => { /* the client went away */ });
    s.on('close', () => socks.delete(s));
    s.once('data', () => handler(s));
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`,
    close() { for (const s of socks) s.destroy(); srv.close(); },
  })));
}

const stsFaults = () => describe('robustness: network and service faults', { concurrency: 1 }, () => {
  let w: World;
  let entry: string;
  let before_: Buffer;
  let baselineMs = 0;
  // The design bound, plus what this machine takes right now for a whole run (start, config,
  // keychain, exit: measured beside each case), twice: once for the run under test's own
  // start and exit, once for how late its deadline timer fires on a loaded machine (seen:
  // 242 ms past 12 s with a 230 ms run; the lateness grows with the load the run measures).
  const bound = () => STS_BOUND_MS + 2 * baselineMs;
  const cacheDir = () => join(w.home, '.aws', 'keyrole', 'cache');

  before(async () => {
    w = await startWorld();
    w.writeConfig(keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_cache: 'file' }));
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  // Each case starts from a cache entry that is due for a refresh and too close to expiry to
  // be served when the refresh fails (5 minutes left: inside the JS SDK's expiry window), so
  // the run must call STS and, failing, must leave the entry alone. (With more than 6
  // minutes left a failed refresh serves the entry: test/cache.e2e.test.ts.)
  beforeEach(async () => {
    await w.emu.behaviour({ latencyMs: 0, faults: [], credentialLifetimeSeconds: 5 * 60, errorShape: 'aws' });
    fs.rmSync(cacheDir(), { recursive: true, force: true });
    const r = await proc();
    assert.equal(r.code, 0, r.stderr);
    baselineMs = r.ms;
    const files = fs.readdirSync(cacheDir()).filter((f) => f.endsWith('.json'));
    assert.equal(files.length, 1);
    entry = join(cacheDir(), files[0]);
    before_ = fs.readFileSync(entry);
    await w.emu.behaviour({ credentialLifetimeSeconds: null });
    await w.emu.resetStats();
  });

  const proc = (env: Record<string, string> = {}) => w.keyrole(['process', 'prod'], { env: { KEYROLE_NTP: 'off', ...env }, timeoutMs: 40_000 });
  /** A run that fails at once (nothing listens on port 1): what a failure costs here now, without any wait. */
  async function measureFailingRun() {
    const r = await proc({ AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:1' });
    assert.notEqual(r.code, 0);
    baselineMs = Math.max(baselineMs, r.ms);
  }
  const attempts = async () => (await w.emu.stats()).requests.filter((q) => q.action === 'AssumeRole').length;

  function assertCacheUntouched() {
    assert.deepEqual(fs.readFileSync(entry), before_, 'the cache entry is byte for byte what it was');
    assert.deepEqual(fs.readdirSync(cacheDir()).filter((f) => f !== entry.split('/').pop()), [], 'no temp file left behind');
  }

  /** A fault that must end in one line, within the bound, with the cache untouched. */
  function failing(name: string, what: string, expected: string, pattern: RegExp, make: () => Promise<RunResult>, o: { attempts?: number; minMs?: number } = {}) {
    test(name, async (t) => {
      const r = await make();
      assertOneLine(r, pattern);
      if (o.minMs !== undefined) assert.ok(r.ms >= o.minMs, `ended after ${r.ms.toFixed(0)} ms, expected at least ${o.minMs} (backoff)`);
      if (o.attempts !== undefined) assert.equal(await attempts(), o.attempts, 'attempts made');
      assertCacheUntouched();
      await measureFailingRun();
      assert.ok(r.ms < bound(), `ended after ${r.ms.toFixed(0)} ms; the bound is ${STS_BOUND_MS} ms plus twice this machine's ${baselineMs.toFixed(0)} ms for a whole run`);
      t.diagnostic(`ended after ${r.ms.toFixed(0)} ms`);
      rec.add(name, what, expected, `exit ${r.code}: ${normalise(r.stderr, [w.home])}; cache entry unchanged`);
    });
  }

  /** A transient fault that a retry gets past: new credentials, stored. */
  function recovering(name: string, what: string, expected: string, make: () => Promise<RunResult>, o: { attempts?: number; minMs?: number } = {}) {
    test(name, async (t) => {
      const r = await make();
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.ok(r.ms < bound(), `ended after ${r.ms.toFixed(0)} ms; the bound is ${STS_BOUND_MS} ms plus twice this machine's ${baselineMs.toFixed(0)} ms for a whole run`);
      if (o.minMs !== undefined) assert.ok(r.ms >= o.minMs, `ended after ${r.ms.toFixed(0)} ms, expected at least ${o.minMs}`);
      if (o.attempts !== undefined) assert.equal(await attempts(), o.attempts, 'attempts made');
      assert.notDeepEqual(fs.readFileSync(entry), before_, 'the refreshed entry was stored');
      t.diagnostic(`ended after ${r.ms.toFixed(0)} ms`);
      rec.add(name, what, expected, `exit 0: new credentials on stdout and in the cache${o.attempts ? ` after ${o.attempts} attempt${o.attempts > 1 ? 's' : ''}` : ''}`);
    });
  }

  const fault = (f: Record<string, unknown>) => w.emu.behaviour({ faults: [{ action: 'AssumeRole', times: 10, ...f }] });

  failing('HTTP 500 on every attempt', 'InternalFailure (500) on every attempt', '3 attempts, then one line with the status',
    /STS AssumeRole .* failed: InternalFailure \(HTTP 500\): An internal error has occurred; retry later/,
    async () => { await fault({ kind: 'error', status: 500 }); return proc(); }, { attempts: 3 });

  failing('HTTP 503 on every attempt', 'ServiceUnavailable (503) on every attempt', '3 attempts, then one line',
    /failed: ServiceUnavailable \(HTTP 503\)/, async () => { await fault({ kind: 'error', status: 503, code: 'ServiceUnavailable', message: 'Service unavailable' }); return proc(); }, { attempts: 3 });

  recovering('HTTP 500 twice, then an answer', 'InternalFailure on the first 2 attempts', 'retried: credentials on the 3rd attempt',
    async () => { await fault({ kind: 'error', status: 500, times: 2 }); return proc(); }, { attempts: 3 });

  failing('throttling on every attempt', 'Throttling (400, Rate exceeded) on every attempt', '3 attempts with backoff, then one line saying so',
    /STS is throttling AssumeRole .* \(Rate exceeded\); keyrole tried 3 times, backing off between them; wait a minute and retry/,
    async () => { await fault({ kind: 'error', code: 'Throttling' }); return proc(); }, { attempts: 3 });

  recovering('throttling twice, then an answer', 'Throttling on the first 2 attempts', 'retried with backoff: credentials on the 3rd attempt',
    async () => { await fault({ kind: 'error', code: 'Throttling', times: 2 }); return proc(); }, { attempts: 3 });

  failing('connection reset on every attempt', 'the server resets the connection (RST) each time', '3 attempts, then one line naming ECONNRESET',
    /cannot reach STS at http:\/\/127\.0\.0\.1:\d+ \(ECONNRESET: read ECONNRESET\); check the network/,
    async () => { await fault({ kind: 'reset' }); return proc(); }, { attempts: 3 });

  recovering('one connection reset, then an answer', 'a single reset', 'retried: credentials on the 2nd attempt',
    async () => { await fault({ kind: 'reset', times: 1 }); return proc(); }, { attempts: 2 });

  failing('no answer at all', 'the server accepts the request and never answers', 'each attempt given up after 5 s, the whole at 12 s: one line',
    /cannot reach STS at http:\/\/127\.0\.0\.1:\d+ \(no (complete )?answer within .*12 s.*\)/,
    async () => { await fault({ kind: 'hang' }); return proc(); }, { minMs: 10_000 });

  recovering('one unanswered attempt, then an answer', 'the first attempt hangs', 'that attempt given up after 5 s, the next one answers',
    async () => { await fault({ kind: 'hang', times: 1 }); return proc(); }, { attempts: 2, minMs: 5000 });

  failing('an answer slower than the per-attempt bound', 'every answer takes 6 s', 'given up at 12 s: one line',
    /cannot reach STS at .* \(no (complete )?answer within .*12 s.*\)/,
    async () => { await w.emu.behaviour({ latencyMs: 6000 }); return proc(); }, { minMs: 10_000 });

  recovering('a slow answer within the bound', 'every answer takes 3 s', 'credentials, no retry', async () => {
    await w.emu.behaviour({ latencyMs: 3000 });
    return proc();
  }, { attempts: 1, minMs: 3000 });

  failing('truncated XML', 'a 200 whose XML stops mid-element', 'one line: the answer is unreadable; not retried',
    /STS at http:\/\/127\.0\.0\.1:\d+ sent an answer keyrole cannot read \(XML parse error: .*\); retry; if it persists/,
    async () => { await fault({ kind: 'badxml' }); return proc(); }, { attempts: 1 });

  failing('a wrong Content-Type', 'a 200 text/html page (a captive portal)', 'one line naming the content type; not retried',
    /http:\/\/127\.0\.0\.1:\d+ answered with "text\/html" instead of STS's XML \(a captive portal, a proxy or a wrong endpoint\)/,
    async () => { await fault({ kind: 'wrongContentType' }); return proc(); }, { attempts: 1 });

  failing('a response that never ends', 'headers, then one byte every 500 ms, forever', 'given up at 12 s: one line', /cannot reach STS at .* \(no complete answer within 12 s\)/, async () => {
    const srv = await hostile((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n<AssumeRoleResponse>');
      const timer = setInterval(() => (s.destroyed ? clearInterval(timer) : s.write(' ')), 500);
    });
    try { return await proc({ AWS_ENDPOINT_URL_STS: srv.url }); } finally { srv.close(); }
  }, { minMs: 11_000 });

  failing('an endless flood', 'a chunked 200 that streams megabytes as fast as it can', 'stopped at 256 KB: one line, no memory blow-up', /sent an answer larger than 256 KB, which no STS answer is/, async () => {
    const srv = await hostile((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = Buffer.alloc(1 << 20, 0x41);
      const pump = () => {
        while (!s.destroyed) {
          s.write(`${chunk.length.toString(16)}\r\n`);
          s.write(chunk);
          if (!s.write('\r\n')) { s.once('drain', pump); return; }
        }
      };
      pump();
    });
    try { return await proc({ AWS_ENDPOINT_URL_STS: srv.url }); } finally { srv.close(); }
  });

  failing('a Content-Length beyond reason', 'a 200 announcing 10 GB', 'refused before reading: one line', /sent an answer larger than 256 KB/, async () => {
    const srv = await hostile((s) => s.write('HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 10000000000\r\n\r\n<'));
    try { return await proc({ AWS_ENDPOINT_URL_STS: srv.url }); } finally { srv.close(); }
  });

  failing('a server that does not speak HTTP', 'an SSH banner instead of HTTP', 'one line saying so', /the server there did not answer in HTTP \(Parse Error: Expected HTTP\//, async () => {
    const srv = await hostile((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n'));
    try { return await proc({ AWS_ENDPOINT_URL_STS: srv.url }); } finally { srv.close(); }
  });

  failing('endless response headers', 'a status line, then headers forever', 'one line (header overflow)', /did not answer in HTTP \(Parse Error: Header overflow\)/, async () => {
    const srv = await hostile((s) => {
      s.write('HTTP/1.1 200 OK\r\n');
      const timer = setInterval(() => (s.destroyed ? clearInterval(timer) : s.write(`X-Pad: ${'a'.repeat(4096)}\r\n`)), 1);
    });
    try { return await proc({ AWS_ENDPOINT_URL_STS: srv.url }); } finally { srv.close(); }
  });

  failing('a connection that never completes', 'the endpoint drops the connection attempt (its accept queue is full: as a blackholed address or a dropping firewall)',
    'each attempt given up after 3 s without a connection: one line saying so',
    /cannot reach STS at http:\/\/127\.0\.0\.1:\d+ \(no connection within 3 s\); check the network/, async () => {
      const bh = await blackhole();
      try { return await proc({ AWS_ENDPOINT_URL_STS: bh.url }); } finally { bh.close(); }
    }, { minMs: 3000 });

  failing('connection refused', 'nothing listens on the endpoint', 'one line at once', /cannot reach STS at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED/,
    () => proc({ AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:1' }));

  // Issue 20: a refusal is a refusal. The entry here has 10 minutes left: due for a refresh,
  // and long enough to be served if the refresh fails for a transient reason. The 503 half
  // shows that it would be; the AccessDenied half, in the error shape of other STS
  // implementations (moto, LocalStack: <Errors><Error>, X-Amzn-ErrorType), that a refusal
  // is never answered with the cached credentials.
  for (const shape of ['errors', 'header'] as const) {
    test(`an AccessDenied in the '${shape}' shape after the permission was removed is not answered from the cache`, async () => {
      fs.rmSync(cacheDir(), { recursive: true, force: true });
      await w.emu.behaviour({ credentialLifetimeSeconds: 10 * 60, errorShape: shape });
      const warm = await proc();
      assert.equal(warm.code, 0, warm.stderr);
      const cachedKey = JSON.parse(warm.stdout).AccessKeyId as string;
      await w.emu.behaviour({ credentialLifetimeSeconds: null });
      await fault({ kind: 'error', status: 503, code: 'ServiceUnavailable', message: 'Service unavailable' });
      const outage = await proc();
      assert.equal(outage.code, 0, `a 503 serves the cached entry: ${outage.stderr}`);
      assert.equal(JSON.parse(outage.stdout).AccessKeyId, cachedKey);
      await fault({ kind: 'error', status: 403, code: 'AccessDenied', message: 'User: arn:aws:iam::111122223333:user/alice is not authorized to perform: sts:AssumeRole' });
      const r = await proc();
      assertOneLine(r, shape === 'errors' ? /STS denied AssumeRole .*: AccessDenied: User: arn:aws:iam::111122223333:user\/alice is not authorized/ : /STS denied AssumeRole .*: AccessDenied: no message;/);
      assert.equal(r.stdout, '', 'no credentials on stdout');
      rec.add(`an AccessDenied in the '${shape}' shape after the permission was removed is not answered from the cache`,
        `a cached entry with 10 min left (served during a 503); then STS answers AccessDenied ${shape === 'errors' ? 'as moto and LocalStack do (`<ErrorResponse><Errors><Error>`, X-Amzn-ErrorType)' : 'named only by its X-Amzn-ErrorType header'}`,
        'the refusal named by its code, never the cached credentials', `exit ${r.code}: ${normalise(r.stderr, [w.home])}`);
    });
  }

  test('a region that is not a host label is refused before any request', async () => {
    // Without the check, https://sts.<region>.amazonaws.com has the host 127.0.0.1:<port>.
    let connections = 0;
    const trap = createServer((s) => { connections++; s.destroy(); });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    const region = `x@127.0.0.1:${(trap.address() as { port: number }).port}#`;
    try {
      const r = await proc({ AWS_REGION: region, AWS_ENDPOINT_URL_STS: '' });
      assertOneLine(r, /region "x@127\.0\.0\.1:\d+#" \(from AWS_REGION\) is not a region name; set it to a region such as eu-west-1/);
      assert.equal(connections, 0, 'nothing connected to the host hidden in the region');
      assert.equal(await attempts(), 0);
      rec.add('a region that is not a host label is refused before any request', "`AWS_REGION='x@127.0.0.1:PORT#'` (the regional endpoint URL would have the host 127.0.0.1:PORT)", 'one line naming the region and where it came from; no connection anywhere', `exit ${r.code}: ${normalise(r.stderr, [w.home]).replace(/:\d+#/g, ':PORT#')}; no connection`);
    } finally {
      trap.close();
    }
  });

});

// `keyrole console` against a hostile or broken federation endpoint (KEYROLE_SIGNIN_URL):
// one line, within the 12 s bound, nothing printed from the answer unchecked, no page left.
const federation = () => describe('robustness: a hostile federation endpoint', { concurrency: 1 }, () => {
  let w: World;
  // The sign-in call's design bound (src/aws/federation.ts, SIGNIN_TIMEOUT_MS), plus what a
  // whole `console --url` run costs on this machine now: the slower of a successful one and
  // one that fails at once (nothing listening), measured beside each case.
  const SIGNIN_BOUND_MS = 12_000;
  let baselineMs = 0;
  const consoleUrl = (url: string) => w.keyrole(['console', 'prod', '--url'], { env: { KEYROLE_SIGNIN_URL: `${url}/federation` }, timeoutMs: 40_000 });
  async function measureRuns() {
    const ok = await consoleUrl(w.emu.url);
    assert.equal(ok.code, 0, ok.stderr);
    const refused = await consoleUrl('http://127.0.0.1:1');
    assert.notEqual(refused.code, 0);
    baselineMs = Math.max(ok.ms, refused.ms);
  }

  before(async () => {
    w = await startWorld();
    w.writeConfig(keyroleProfile('prod', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ROLE }));
    assert.equal((await w.setup('alice')).code, 0);
    // Warm the cache, so every case below talks to the hostile endpoint alone.
    assert.equal((await w.keyrole(['process', 'prod'])).code, 0);
  });
  after(async () => {
    await w?.stop();
    if (w) fs.rmSync(w.home, { recursive: true, force: true });
  });

  function hostileSignin(name: string, what: string, expected: string, pattern: RegExp, handler: ((s: Socket) => void) | 'closed') {
    test(`console: ${name}`, async (t) => {
      let srv: Hostile | undefined;
      let url: string;
      if (handler === 'closed') {
        // A port that was just free: nothing listens there.
        const tmp = await hostile(() => undefined);
        url = tmp.url;
        tmp.close();
      } else {
        srv = await hostile(handler);
        url = srv.url;
      }
      try {
        const r = await consoleUrl(url);
        const line = assertOneLine(r, pattern);
        await measureRuns();
        assert.ok(r.ms < SIGNIN_BOUND_MS + baselineMs, `ended after ${r.ms.toFixed(0)} ms; the bound is ${SIGNIN_BOUND_MS} ms plus this machine's ${baselineMs.toFixed(0)} ms for a whole run`);
        // eslint-disable-next-line no-control-regex
        assert.doesNotMatch(line, /[\x00-\x1f\x7f-\x9f\u202a-\u202e]/, 'no control character from the answer');
        const consoleDir = join(w.home, '.aws', 'keyrole', 'console');
        assert.deepEqual(fs.existsSync(consoleDir) ? fs.readdirSync(consoleDir) : [], [], 'no page written');
        t.diagnostic(`ended after ${r.ms.toFixed(0)} ms`);
        rec.add(`console: ${name}`, what, expected, `exit ${r.code}: ${normalise(r.stderr, [w.home])}`);
      } finally {
        srv?.close();
      }
    });
  }

  const answer = (status: string, type: string, body: string) => (s: Socket) =>
    s.end(`HTTP/1.1 ${status}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);

  hostileSignin('a captive portal\'s page instead of JSON', 'HTTP 200 with an HTML sign-in page', 'one line: no usable sign-in token; nothing of the page printed',
    /answered without a sign-in token keyrole can use; retry/, answer('200 OK', 'text/html', '<html><title>Sign in to the network</title></html>'));
  hostileSignin('a token with escape sequences', 'HTTP 200, {"SigninToken": "<40 letters>\\u001b]0;pwned\\u0007"}', 'refused: the token is checked for shape before it is used or printed',
    /answered without a sign-in token keyrole can use/, answer('200 OK', 'application/json', JSON.stringify({ SigninToken: `${'A'.repeat(40)}\u001b]0;pwned\u0007` })));
  hostileSignin('a refusal page full of escape sequences', 'HTTP 400 whose title is 5000 characters of escape sequences, bidi overrides and text', 'one printable line, the quote cut at 200 characters',
    /refused the sign-in \(HTTP 400: x{200}\); the credentials may have been revoked or have expired: run keyrole cache clear prod and retry$/, answer('400 Bad Request', 'text/html', `<html><title>${'\u001b[31mx\u202e'.repeat(1000)}</title></html>`));
  hostileSignin('a redirect elsewhere', 'HTTP 302 to another host', 'not followed (the credentials are not sent on): one line with the status',
    /refused the sign-in \(HTTP 302: /, answer('302 Found', 'text/plain', 'moved'));
  hostileSignin('an endless answer', 'HTTP 200 announcing 10 GB and sending 1 MB', 'stops reading at 64 KB: one line',
    /cannot reach the federation endpoint at 127\.0\.0\.1:\d+ \(an answer over 64 KB\)/, (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{"SigninToken":"');
      s.write('A'.repeat(1024 * 1024));
    });
  hostileSignin('silence', 'a server that accepts the request and never answers', 'one line after 12 s',
    /cannot reach the federation endpoint at 127\.0\.0\.1:\d+ \(no answer within 12 s\)/, () => undefined);
  hostileSignin('nothing listening', 'connection refused', 'one line at once',
    /cannot reach the federation endpoint at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/, 'closed');

  // The section's rows: the 22 cases of the STS block above and these 7.
  rec.docTest(30);
});

/** A CA and a certificate for localhost and 127.0.0.1, made with openssl in `dir`. */
function makeCerts(dir: string): { ca: string; key: string; cert: string; otherCa: string } {
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=keyrole test CA');
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=another CA');
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ossl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext');
  return { ca: join(dir, 'ca.pem'), key: join(dir, 'srv.key'), cert: join(dir, 'srv.pem'), otherCa: join(dir, 'other.pem') };
}

interface Listening { port: number; close(): void }

/** HTTPS in front of the emulator: TLS ends here and the bytes go on unchanged (the Host header the request was signed with included). */
async function tlsFront(key: string, cert: string, emulatorUrl: string): Promise<Listening> {
  const up = new URL(emulatorUrl);
  const socks = new Set<Socket>();
  const srv = createTlsServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (s) => {
    const u = netConnect(Number(up.port), up.hostname);
    for (const x of [s, u]) { socks.add(x); x.on('error', () => x.destroy()); x.on('close', () => socks.delete(x)); }
    s.pipe(u).pipe(s);
  });
  srv.on('tlsClientError', () => { /* the client refused our certificate: what some tests expect */ });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as { port: number }).port, close() { for (const x of socks) x.destroy(); srv.close(); } };
}

/** A forward proxy as corporate networks have: CONNECT tunnels and absolute-URI HTTP requests, counted. */
async function countingProxy(): Promise<Listening & { connects: string[]; requests: string[] }> {
  const connects: string[] = [];
  const requests: string[] = [];
  const socks = new Set<Socket>();
  const srv = createHttpServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '');
    const fwd = httpRequest({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    fwd.on('error', () => { res.statusCode = 502; res.end(); });
    req.pipe(fwd);
  });
  srv.on('connect', (req, client: Socket) => {
    connects.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const up = netConnect(Number(port), host === 'localhost' ? '127.0.0.1' : host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.pipe(client).pipe(up);
    });
    for (const x of [client, up]) { socks.add(x); x.on('error', () => x.destroy()); x.on('close', () => socks.delete(x)); }
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as { port: number }).port, connects, requests, close() { for (const x of socks) x.destroy(); srv.closeAllConnections(); srv.close(); } };
}

const proxies = () => describe('robustness: proxies and TLS trust (issue 14: network like the AWS CLI)', { concurrency: 1 }, () => {
  const tls = new Recorder('endpoint', 'test/robustness.network.test.ts');
  let w: World;
  let dir: string;
  let certs: ReturnType<typeof makeCerts>;
  let front: Listening;
  let proxy: Awaited<ReturnType<typeof countingProxy>>;
  let httpsUrl: string;

  before(async () => {
    dir = fs.mkdtempSync(join(tmpdir(), 'keyrole-tls-'));
    certs = makeCerts(dir);
    w = await startWorld();
    w.writeConfig([
      keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_cache: 'none' }),
      keyroleProfile('bundled', { keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_cache: 'none', ca_bundle: certs.ca }),
    ].join('\n'));
    assert.equal((await w.setup('alice')).code, 0);
    front = await tlsFront(certs.key, certs.cert, w.emu.url);
    proxy = await countingProxy();
    httpsUrl = `https://localhost:${front.port}`;
  });
  after(async () => {
    front?.close();
    proxy?.close();
    await w?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => { proxy.connects.length = 0; proxy.requests.length = 0; });

  // The machine's own trust settings (a developer's shell may set both) are left out: each case says its own.
  const proc = (profile: string, env: Record<string, string | undefined>) => w.keyrole(['process', profile], {
    env: { KEYROLE_NTP: 'off', AWS_ENDPOINT_URL_STS: httpsUrl, AWS_CA_BUNDLE: undefined, NODE_EXTRA_CA_CERTS: undefined, ...env }, timeoutMs: 40_000,
  });
  const ok = (r: RunResult) => { assert.equal(r.code, 0, r.stderr); assert.equal(JSON.parse(r.stdout).Version, 1); };

  test('AWS_CA_BUNDLE makes keyrole trust a private CA', async () => {
    ok(await proc('prod', { AWS_CA_BUNDLE: certs.ca }));
    tls.add('AWS_CA_BUNDLE makes keyrole trust a private CA', 'STS behind TLS with a private CA, AWS_CA_BUNDLE naming it', 'credentials', 'exit 0: credentials');
  });

  test('a certificate from an unknown CA is refused, even with NODE_TLS_REJECT_UNAUTHORIZED=0 and NODE_EXTRA_CA_CERTS', async () => {
    const attemptsBefore = (await w.emu.stats()).requests.length;
    const plain = await proc('prod', {});
    assertOneLine(plain, /STS at https:\/\/localhost:\d+ presented a TLS certificate keyrole does not trust \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\); nothing was sent; if a proxy inspects TLS, point AWS_CA_BUNDLE/);
    for (const env of [{ NODE_TLS_REJECT_UNAUTHORIZED: '0' }, { NODE_EXTRA_CA_CERTS: certs.ca }, { NODE_TLS_REJECT_UNAUTHORIZED: '0', AWS_CA_BUNDLE: certs.otherCa }] as Record<string, string | undefined>[]) {
      const r = await proc('prod', env);
      assertOneLine(r, /presented a TLS certificate keyrole does not trust/);
    }
    assert.equal((await w.emu.stats()).requests.length, attemptsBefore, 'no request reached STS');
    tls.add('a certificate from an unknown CA is refused, even with NODE_TLS_REJECT_UNAUTHORIZED=0 and NODE_EXTRA_CA_CERTS', 'STS behind TLS with a CA keyrole was not told about; then the same with `NODE_TLS_REJECT_UNAUTHORIZED=0`, with `NODE_EXTRA_CA_CERTS` naming the CA, and with AWS_CA_BUNDLE naming another CA',
      'refused every time (the AWS CLI ignores both Node variables): one line, nothing sent', `exit ${plain.code}: ${normalise(plain.stderr, [w.home]).replace(/localhost:\d+/g, 'localhost:PORT')}; the same for each variant; no request reached STS`);
  });

  test('the profile\'s ca_bundle makes keyrole trust a private CA', async () => {
    ok(await proc('bundled', {}));
  });

  test('regression (SSO calls ignored ca_bundle): the profile\'s ca_bundle makes keyrole trust a private CA for IAM Identity Center too', async () => {
    // A token as `aws sso login` leaves it in ~/.aws/sso/cache, for an sso-session of this config.
    const start = 'https://tls-sso.awsapps.com/start';
    const minted = await w.emu.control<Record<string, string>>('POST', 'sso/token', { startUrl: start, scopes: ['sso:account:access'] });
    const cacheDir = join(w.home, '.aws', 'sso', 'cache');
    fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    const { createHash } = await import('node:crypto');
    fs.writeFileSync(join(cacheDir, `${createHash('sha1').update('tls-sso').digest('hex')}.json`), JSON.stringify({ startUrl: start, region: 'eu-west-1', accessToken: minted.accessToken, expiresAt: minted.expiresAt }), { mode: 0o600 });
    const sso = { keyrole_sso_session: 'tls-sso', keyrole_sso_account_id: DEMO_ACCOUNT_ID, keyrole_sso_role_name: 'ReadOnlyAccess', keyrole_cache: 'none' };
    const config = fs.readFileSync(w.configPath, 'utf8');
    w.writeConfig(`${config}\n[sso-session tls-sso]\nsso_start_url = ${start}\nsso_region = eu-west-1\n\n${keyroleProfile('sso-bundled', { ...sso, ca_bundle: certs.ca })}\n${keyroleProfile('sso-plain', sso)}`);
    try {
      const env = { AWS_ENDPOINT_URL_SSO: httpsUrl, AWS_ENDPOINT_URL_SSO_OIDC: httpsUrl };
      const plain = await proc('sso-plain', env);
      assertOneLine(plain, /IAM Identity Center at https:\/\/localhost:\d+ presented a TLS certificate keyrole does not trust/);
      const bundled = await proc('sso-bundled', env);
      ok(bundled);
      assert.equal(JSON.parse(bundled.stdout).AccountId, DEMO_ACCOUNT_ID);
      tls.add('regression (SSO calls ignored ca_bundle): the profile\'s ca_bundle makes keyrole trust a private CA for IAM Identity Center too', 'IAM Identity Center (GetRoleCredentials) behind TLS with a private CA; one profile with ca_bundle naming it, one without',
        'the profile with ca_bundle gets credentials; the other is refused, nothing sent', `with ca_bundle: exit 0, credentials; without: exit ${plain.code}: ${normalise(plain.stderr, [w.home]).replace(/localhost:\d+/g, 'localhost:PORT')}`);
    } finally {
      w.writeConfig(config);
    }
  });

  test('HTTPS_PROXY carries STS calls through a CONNECT tunnel', async () => {
    ok(await proc('prod', { AWS_CA_BUNDLE: certs.ca, HTTPS_PROXY: `http://127.0.0.1:${proxy.port}` }));
    assert.deepEqual(proxy.connects, [`localhost:${front.port}`]);
    proxy.connects.length = 0;
    ok(await proc('prod', { AWS_CA_BUNDLE: certs.ca, https_proxy: `http://127.0.0.1:${proxy.port}` }));
    assert.deepEqual(proxy.connects, [`localhost:${front.port}`], 'the lower-case variable too');
    tls.add('HTTPS_PROXY carries STS calls through a CONNECT tunnel', 'HTTPS_PROXY (and https_proxy) naming a local proxy; STS on https', 'the call goes through the proxy (CONNECT), TLS checked end to end', 'exit 0: credentials; the proxy saw one CONNECT to the STS host');
  });

  test('HTTP_PROXY carries calls to an http endpoint', async () => {
    ok(await proc('prod', { AWS_ENDPOINT_URL_STS: w.emu.url, HTTP_PROXY: `http://127.0.0.1:${proxy.port}` }));
    assert.equal(proxy.requests.length, 1, proxy.requests.join(', '));
    assert.match(proxy.requests[0], /^POST http:\/\/127\.0\.0\.1:\d+\//);
    tls.add('HTTP_PROXY carries calls to an http endpoint', 'HTTP_PROXY naming a local proxy; STS on http', 'the request goes through the proxy', 'exit 0: credentials; the proxy forwarded one POST');
  });

  test('HTTP_PROXY carries the console\'s federation call too', async () => {
    const r = await w.keyrole(['console', 'prod', '--url'], { env: { KEYROLE_NTP: 'off', AWS_ENDPOINT_URL_STS: w.emu.url, KEYROLE_SIGNIN_URL: `${w.emu.url}/federation`, HTTP_PROXY: `http://127.0.0.1:${proxy.port}` } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Action=login/);
    assert.ok(proxy.requests.some((q) => /^GET http:\/\/127\.0\.0\.1:\d+\/federation\?Action=getSigninToken/.test(q)), proxy.requests.join(', '));
    tls.add('HTTP_PROXY carries the console\'s federation call too', 'keyrole console --url with HTTP_PROXY naming a local proxy; the federation endpoint on http', 'getSigninToken goes through the proxy, like every AWS call', 'exit 0: the sign-in URL; the proxy forwarded the getSigninToken GET');
  });

  test('NO_PROXY sends matching hosts direct', async () => {
    for (const noProxy of ['localhost', '.localhost', `localhost:${front.port}`, '*']) {
      ok(await proc('prod', { AWS_CA_BUNDLE: certs.ca, HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`, NO_PROXY: noProxy }));
    }
    ok(await proc('prod', { AWS_CA_BUNDLE: certs.ca, https_proxy: `http://127.0.0.1:${proxy.port}`, no_proxy: 'example.com,localhost' }));
    assert.deepEqual(proxy.connects, [], 'nothing went through the proxy');
    ok(await proc('prod', { AWS_CA_BUNDLE: certs.ca, HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`, NO_PROXY: 'example.com' }));
    assert.equal(proxy.connects.length, 1, 'a NO_PROXY that does not match leaves the proxy in use');
    tls.add('NO_PROXY sends matching hosts direct', 'HTTPS_PROXY set and NO_PROXY = localhost, .localhost, localhost:PORT, * or a list (either case)', 'direct to STS; a NO_PROXY that does not match keeps the proxy', 'exit 0: credentials; no CONNECT at the proxy (one with NO_PROXY=example.com)');
  });

  tls.docTest(7);
});

// The proxy and TLS suite has a world and a section of docs/robustness.md of its own and no
// time bound, so it runs beside the STS and federation suites (one after the other: they
// fill one section, in order).
describe('robustness: the network', { concurrency: true }, () => {
  describe('STS, then the federation endpoint', { concurrency: 1 }, () => {
    stsFaults();
    federation();
  });
  proxies();
});
