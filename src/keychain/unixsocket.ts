// A Unix stream socket for the D-Bus client (src/keychain/dbus.ts), in two builds of the same small
// interface: node:net's Socket, and libuv's pipe handle driven directly.
//
// Why the second: a keychain cache hit is one Secret Service read, and node:net drags in
// the whole streams stack (stream, readable, writable, duplex… ~20 internal modules) before
// the first byte goes out: 3–4 ms of compiling and running on the hot path, more than the
// read itself. The handle underneath (pipe_wrap's Pipe, the one net.Socket wraps) reads,
// writes and closes without any of that. It is Node's internal API, so it is used only
// where it has the shape this module was written against, checked member by member at run
// time; test/unixsocket.test.ts fails if the Node the executable embeds ever changes it.
// Everywhere else (keyrole.cjs under another Node, a binding that looks different, or
// --pending-deprecation, under which process.binding warns) the socket is node:net's,
// which does the same job.

import type * as Net from 'node:net';

export interface UnixSocket {
  /** Which build: libuv's pipe handle, or node:net's Socket. */
  readonly kind: 'pipe' | 'net';
  write(data: Buffer | string): void;
  /** Keeps the process alive while an answer is awaited; unref() lets it exit when idle. */
  ref(): void;
  unref(): void;
  destroy(): void;
}

export interface SocketEvents {
  data(chunk: Buffer): void;
  /** The connection failed or ended; called once, and nothing is called after it. */
  end(err: Error): void;
}

// ---- node:net ----

export async function netSocket(path: string, on: SocketEvents): Promise<UnixSocket> {
  const net: typeof Net = await import('node:net');
  const s = net.createConnection({ path });
  let ended = false;
  const end = (err: Error) => {
    if (ended) return;
    ended = true;
    on.end(err);
  };
  s.on('data', (d: Buffer) => { if (!ended) on.data(d); });
  s.on('error', (err) => end(err));
  s.on('close', () => end(new Error('the connection closed')));
  return {
    kind: 'net',
    write: (d) => { s.write(d); },
    ref: () => { s.ref(); },
    unref: () => { s.unref(); },
    destroy: () => { ended = true; s.destroy(); },
  };
}

// ---- libuv's pipe handle ----

interface PipeHandle {
  connect(req: object, path: string): number;
  readStart(): number;
  writeBuffer(req: object, data: Buffer): number;
  writeUtf8String(req: object, data: string): number;
  ref(): void;
  unref(): void;
  close(cb?: () => void): void;
  onread: (buf: ArrayBuffer | undefined) => void;
}

interface PipeBindings {
  Pipe: new (type: number) => PipeHandle;
  PipeConnectWrap: new () => { oncomplete?: (status: number) => void };
  WriteWrap: new () => { oncomplete?: (status: number) => void; handle?: PipeHandle; buffer?: Buffer | string };
  socketType: number;
  state: Int32Array;
  readBytes: number;
  bufferOffset: number;
}

const UV_EOF = -4095;

let bindings: PipeBindings | undefined | null = null;

/** The bindings when this Node's are the shape this module was written against, else undefined. */
export function pipeBindings(): PipeBindings | undefined {
  if (bindings === null) bindings = findPipeBindings();
  return bindings;
}

/** Whether a socket costs no more than a few handles (false: it costs node:net's streams). */
export function cheapUnixSocket(): boolean {
  return pipeBindings() !== undefined;
}

function findPipeBindings(): PipeBindings | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    // process.binding itself warns under --pending-deprecation (on the command line, in
    // NODE_OPTIONS or as NODE_PENDING_DEPRECATION=1); node:net is the quiet way then.
    const pending = process.execArgv.includes('--pending-deprecation') || /(^|\s)--pending-deprecation(\s|$)/.test(process.env.NODE_OPTIONS ?? '') || process.env.NODE_PENDING_DEPRECATION === '1';
    if (typeof binding !== 'function' || pending) return undefined;
    const pipe = binding('pipe_wrap') as { Pipe?: unknown; PipeConnectWrap?: unknown; constants?: { SOCKET?: unknown } };
    const stream = binding('stream_wrap') as Record<string, unknown>;
    const { Pipe, PipeConnectWrap } = pipe;
    const { WriteWrap, streamBaseState, kReadBytesOrError, kArrayBufferOffset } = stream;
    const socketType = pipe.constants?.SOCKET;
    if (typeof Pipe !== 'function' || typeof PipeConnectWrap !== 'function' || typeof WriteWrap !== 'function') return undefined;
    if (!(streamBaseState instanceof Int32Array) || typeof socketType !== 'number') return undefined;
    if (typeof kReadBytesOrError !== 'number' || typeof kArrayBufferOffset !== 'number') return undefined;
    for (const m of ['connect', 'readStart', 'writeBuffer', 'writeUtf8String', 'ref', 'unref', 'close']) {
      if (typeof (Pipe.prototype as Record<string, unknown>)[m] !== 'function') return undefined;
    }
    return {
      Pipe: Pipe as PipeBindings['Pipe'],
      PipeConnectWrap: PipeConnectWrap as PipeBindings['PipeConnectWrap'],
      WriteWrap: WriteWrap as PipeBindings['WriteWrap'],
      socketType,
      state: streamBaseState,
      readBytes: kReadBytesOrError,
      bufferOffset: kArrayBufferOffset,
    };
  } catch {
    return undefined;
  }
}

function uvError(status: number, what: string): Error {
  const name = (process as unknown as { binding(n: string): { errname?(n: number): string } }).binding('uv').errname?.(status) ?? String(status);
  const err = new Error(`${what} failed (${name})`) as NodeJS.ErrnoException;
  err.code = name;
  return err;
}

export function pipeSocket(b: PipeBindings, path: string, on: SocketEvents): UnixSocket {
  const handle = new b.Pipe(b.socketType);
  let ended = false;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    handle.close();
  };
  const end = (err: Error) => {
    if (ended) return;
    ended = true;
    close();
    on.end(err);
  };
  // Writes issued before the connection completes wait here, as net.Socket's do.
  let queue: (Buffer | string)[] | undefined = [];
  const send = (d: Buffer | string) => {
    const req = new b.WriteWrap();
    req.handle = handle;
    // libuv may finish the write later, from this memory: the request (which the native
    // side keeps alive while in flight) holds the data so it is not collected before.
    req.buffer = d;
    req.oncomplete = (status) => { if (status < 0) end(uvError(status, 'write')); };
    const err = typeof d === 'string' ? handle.writeUtf8String(req, d) : handle.writeBuffer(req, d);
    if (err < 0) end(uvError(err, 'write'));
  };
  handle.onread = (buf) => {
    const n = b.state[b.readBytes];
    if (n > 0 && buf) {
      if (!ended) on.data(Buffer.from(buf, b.state[b.bufferOffset], n));
      return;
    }
    if (n === 0) return;
    end(n === UV_EOF ? new Error('the connection closed') : uvError(n, 'read'));
  };
  const req = new b.PipeConnectWrap();
  req.oncomplete = (status) => {
    if (ended) return;
    if (status < 0) return end(uvError(status, 'connect'));
    const err = handle.readStart();
    if (err < 0) return end(uvError(err, 'read'));
    const waiting = queue ?? [];
    queue = undefined;
    for (const d of waiting) send(d);
  };
  const err = handle.connect(req, path);
  if (err < 0) queueMicrotask(() => end(uvError(err, 'connect')));
  return {
    kind: 'pipe',
    write: (d) => {
      if (ended) return;
      if (queue) queue.push(d);
      else send(d);
    },
    ref: () => { if (!closed) handle.ref(); },
    unref: () => { if (!closed) handle.unref(); },
    destroy: () => {
      ended = true;
      close();
    },
  };
}

/** A connected (or connecting) socket to `path`: libuv's pipe where it can be driven directly, else node:net's. */
export async function connectUnix(path: string, on: SocketEvents): Promise<UnixSocket> {
  const b = pipeBindings();
  return b ? pipeSocket(b, path, on) : netSocket(path, on);
}
