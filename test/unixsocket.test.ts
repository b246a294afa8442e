// src/keychain/unixsocket.ts: both builds of the socket (libuv's pipe handle and node:net's Socket)
// keep the same contract against a real listening Unix socket.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cheapUnixSocket, netSocket, pipeBindings, pipeSocket, type SocketEvents, type UnixSocket } from '../src/keychain/unixsocket.ts';
import { tempDir } from './support/tmp.ts';

type Connect = (path: string, on: SocketEvents) => Promise<UnixSocket>;

const builds: [string, Connect][] = [
  ['pipe handle', async (path, on) => pipeSocket(pipeBindings()!, path, on)],
  ['node:net', netSocket],
];

/** A socket with its traffic and its end collected. */
async function open(connect: Connect, path: string) {
  const got: Buffer[] = [];
  const ends: Error[] = [];
  let onEnd: () => void = () => {};
  const ended = new Promise<void>((r) => { onEnd = r; });
  const sock = await connect(path, { data: (d) => got.push(d), end: (e) => { ends.push(e); onEnd(); } });
  return { sock, got, ends, ended, text: () => Buffer.concat(got).toString('utf8') };
}

// A bound only to name what never happened, far above what a busy machine takes: the tests
// wait for the event itself (an 8 MB write once missed a 3 s bound under load).
const NEVER_MS = 60_000;

/** The promise, or a failure naming what did not happen at all. */
async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not happen within ${NEVER_MS / 1000} s`)), NEVER_MS); });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (const until = Date.now() + NEVER_MS; !cond() && Date.now() < until;) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

test('the pipe handle is usable on the Node that the executable embeds', () => {
  assert.ok(cheapUnixSocket(), `Node ${process.version} no longer has pipe_wrap's Pipe in the shape src/keychain/unixsocket.ts expects: update it (the keychain hit falls back to node:net, ~4 ms slower)`);
});

test('under --pending-deprecation (where process.binding warns) the socket is node:net\'s, and nothing is printed', () => {
  const code = `import { cheapUnixSocket } from ${JSON.stringify(join(process.cwd(), 'src', 'keychain', 'unixsocket.ts'))}; console.log(cheapUnixSocket());`;
  for (const env of [{ NODE_OPTIONS: '--pending-deprecation' }, { NODE_PENDING_DEPRECATION: '1' }, {}]) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), String(Object.keys(env).length === 0), JSON.stringify(env));
    assert.equal(r.stderr, '', `no warning with ${JSON.stringify(env)}`);
  }
});

describe('a Unix socket, in both builds', () => {
  let dir: string;
  let server: Server;
  let path: string;
  const peers: Socket[] = [];
  before(async () => {
    dir = tempDir('sock-');
    path = join(dir, 'echo.sock');
    // Echoes each chunk upper-cased; "bye" makes it end the connection.
    server = createServer((s) => {
      peers.push(s);
      s.on('data', (d) => {
        if (d.toString().includes('bye')) s.end('BYE');
        else s.write(d.toString().toUpperCase());
      });
    });
    await new Promise<void>((r) => server.listen(path, r));
  });
  after(() => {
    for (const p of peers) p.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, connect] of builds) {
    test(`${name}: writes sent before the connection completes arrive in order; answers come back`, async () => {
      const c = await open(connect, path);
      c.sock.write('one,');
      c.sock.write(Buffer.from('two,'));
      c.sock.write('é');
      await until(() => c.text() === 'ONE,TWO,É' || c.text().length > 12, 'the echo came back');
      assert.equal(c.text(), 'ONE,TWO,É');
      assert.deepEqual(c.ends, []);
      c.sock.destroy();
    });

    test(`${name}: the peer ending the connection ends it once, after the last data`, async () => {
      const c = await open(connect, path);
      c.sock.write('bye');
      await within(c.ended, 'the end event');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(c.text(), 'BYE');
      assert.equal(c.ends.length, 1);
      assert.match(c.ends[0].message, /closed/);
      c.sock.write('ignored after the end');
    });

    test(`${name}: a missing socket and a socket nobody listens on end with the errno`, async () => {
      const missing = await open(connect, join(dir, 'missing.sock'));
      await within(missing.ended, 'the end event');
      assert.equal((missing.ends[0] as NodeJS.ErrnoException).code, 'ENOENT');
      // A socket file whose listener died (SIGKILL): what a crashed D-Bus daemon leaves behind.
      const stale = join(dir, `stale-${name.replace(/\W/g, '')}.sock`);
      const holder = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
      await within(new Promise((r) => holder.stdout.once('data', r)), 'the listener starting');
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('close', r));
      const refused = await open(connect, stale);
      await within(refused.ended, 'the end event');
      assert.equal((refused.ends[0] as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    });

    test(`${name}: a write larger than the socket's buffer (finished later by libuv) arrives whole`, async () => {
      const sink = join(dir, `sink-${name.replace(/\W/g, '')}.sock`);
      let got = Buffer.alloc(0);
      let listening!: () => void;
      const isListening = new Promise<void>((r) => { listening = r; });
      const done = new Promise<void>((resolve) => {
        const srv = createServer((s) => {
          s.pause(); // let the writer's buffer fill first
          setTimeout(() => s.resume(), 100);
          s.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length >= 8 << 20) { s.destroy(); srv.close(); resolve(); } });
        });
        srv.listen(sink, () => listening());
      });
      await isListening;
      const c = await open(connect, sink);
      const data = Buffer.alloc(8 << 20);
      for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
      c.sock.write(Buffer.from(data)); // the only reference to this copy is the socket's
      // Garbage, so that a collection comes while the write is in flight.
      for (let i = 0; i < 50; i++) Buffer.alloc(1 << 20).fill(i);
      await within(done, 'all 8 MB arriving');
      assert.ok(got.equals(data), 'the bytes arrived intact');
      c.sock.destroy();
    });

    test(`${name}: destroy() stops everything without an end event`, async () => {
      const c = await open(connect, path);
      c.sock.write('x');
      c.sock.destroy();
      c.sock.write('more');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(c.ends, []);
    });

    if (process.platform === 'linux') {
      test(`${name}: an abstract address (D-Bus daemons often listen on one)`, async () => {
        const abstract = `\0keyrole-test/${process.pid}/${name.replace(/\W/g, '')}`;
        const srv = createServer((s) => s.end('hello'));
        await new Promise<void>((r) => srv.listen(abstract, r));
        const c = await open(connect, abstract);
        await within(c.ended, 'the end event');
        assert.equal(c.text(), 'hello');
        srv.close();
      });
    }
  }
});

describe('an idle socket does not keep the process alive', () => {
  for (const [name, kind] of [['pipe handle', 'pipe'], ['node:net', 'net']] as const) {
    test(`${name}: unref() lets the process exit with the connection open; ref() holds it`, async () => {
      const dir = tempDir('sock-');
      const path = join(dir, 's.sock');
      const held: Socket[] = [];
      const server = createServer((s) => { held.push(s); s.on('data', () => s.write('pong')); });
      await new Promise<void>((r) => server.listen(path, r));
      const script = join(dir, 'child.ts');
      writeFileSync(script, [
        `import { pipeBindings, pipeSocket, netSocket } from ${JSON.stringify(join(process.cwd(), 'src', 'keychain', 'unixsocket.ts'))};`,
        `const on = { data: () => { console.log('pong'); if (process.argv[2] === 'unref') sock.unref(); }, end: () => {} };`,
        `const sock = ${kind === 'pipe' ? 'pipeSocket(pipeBindings()!, ' : 'await netSocket('}${JSON.stringify(path)}, on);`,
        `sock.write('ping');`,
      ].join('\n'));
      // unref: waits for the child to exit by itself (an event; no deadline). ref: once the
      // child has its answer (an event), it is given a second to exit by itself before the
      // kill; one that exits is a failure, a slow machine can only make the test pass late.
      const run = (mode: string) => new Promise<{ code: number | null; out: string; exited: boolean }>((resolve) => {
        const child = spawn(process.execPath, [script, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        let timer: NodeJS.Timeout | undefined;
        child.stdout.on('data', (d) => {
          out += d;
          if (mode === 'ref' && out.includes('pong') && !timer) timer = setTimeout(() => { child.kill(); }, 1000);
        });
        child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, out, exited: signal === null }); });
      });
      try {
        const unref = await run('unref');
        assert.deepEqual(unref, { code: 0, out: 'pong\n', exited: true }, 'exits by itself once idle');
        const ref = await run('ref');
        assert.equal(ref.out, 'pong\n');
        assert.equal(ref.exited, false, 'a ref\'d connection keeps the process until it is killed');
      } finally {
        for (const s of held) s.destroy();
        server.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
