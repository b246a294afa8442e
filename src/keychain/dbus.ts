// Just enough of the D-Bus wire protocol for the Secret Service calls keyrole makes on its
// hot path (src/keychain/secretservice.ts). Written by hand because the JS D-Bus libraries cost more
// than a whole cache hit to load: measured on Node 24 here, @homebridge/dbus-native 0.7.9
// ~50 ms and dbus-next 0.10.2 ~45–60 ms to require, against a 40 ms budget. This is the
// little-endian wire format of the D-Bus specification (messages, marshalling of the basic,
// array, struct, dict-entry and variant types, SASL EXTERNAL authentication), nothing more.

import { connectUnix, type UnixSocket } from './unixsocket.ts';

/** A marshalled value: strings for s/o/g, numbers for y/u/i, booleans for b, Buffer for ay,
 *  arrays for arrays and structs, [key, value] pairs for dict entries, [signature, value] for v. */
export type Value = string | number | boolean | Buffer | Value[];

export class DbusError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

// ---- signatures ----

function typeEnd(sig: string, i: number): number {
  const c = sig[i];
  if (c === 'a') return typeEnd(sig, i + 1);
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    let j = i + 1;
    while (sig[j] !== close) {
      if (j >= sig.length) throw new Error(`bad D-Bus signature ${sig}`);
      j = typeEnd(sig, j);
    }
    return j + 1;
  }
  if (!'ybnqiuxtdsogvh'.includes(c)) throw new Error(`unsupported D-Bus type ${c} in ${sig}`);
  return i + 1;
}

export function splitTypes(sig: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < sig.length;) {
    const e = typeEnd(sig, i);
    out.push(sig.slice(i, e));
    i = e;
  }
  return out;
}

function alignment(t: string): number {
  switch (t[0]) {
    case 'y': case 'g': case 'v': return 1;
    case 'n': case 'q': return 2;
    case 'x': case 't': case 'd': case '(': case '{': return 8;
    default: return 4;
  }
}

// ---- marshalling ----

class Writer {
  buf = Buffer.alloc(512);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }
  pad(a: number): void {
    const p = (a - (this.len % a)) % a;
    this.room(p);
    this.buf.fill(0, this.len, this.len + p);
    this.len += p;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }
  u32(v: number): void {
    this.pad(4);
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(b: Buffer): void {
    this.room(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }
  /** A string or a signature: its length (32 or 8 bits), its bytes, a NUL. */
  private text(b: Buffer, length: (n: number) => void): void {
    length(b.length);
    this.bytes(b);
    this.u8(0);
  }
  value(t: string, v: Value): void {
    switch (t[0]) {
      case 'y': this.u8(v as number); return;
      case 'b': this.u32(v ? 1 : 0); return;
      case 'u': case 'i': this.u32(v as number); return;
      case 's': case 'o': this.text(Buffer.from(v as string, 'utf8'), (n) => this.u32(n)); return;
      case 'g': this.text(Buffer.from(v as string, 'latin1'), (n) => this.u8(n)); return;
      case 'v': {
        const [sig, inner] = v as [string, Value];
        this.value('g', sig);
        this.value(sig, inner);
        return;
      }
      case '(': case '{': {
        this.pad(8);
        const parts = splitTypes(t.slice(1, -1));
        parts.forEach((p, i) => this.value(p, (v as Value[])[i]));
        return;
      }
      case 'a': {
        const el = t.slice(1);
        this.u32(0);
        const lengthAt = this.len - 4;
        this.pad(alignment(el));
        const start = this.len;
        if (el === 'y') this.bytes(v as Buffer);
        else for (const x of v as Value[]) this.value(el, x);
        this.buf.writeUInt32LE(this.len - start, lengthAt);
        return;
      }
      default: throw new Error(`cannot marshal D-Bus type ${t}`);
    }
  }
}

class Reader {
  private buf: Buffer;
  pos: number;
  private base: number;
  constructor(buf: Buffer, pos: number, base: number) {
    this.buf = buf;
    this.pos = pos;
    this.base = base;
  }
  pad(a: number): void {
    this.pos += (a - ((this.pos - this.base) % a)) % a;
  }
  u32(): number {
    this.pad(4);
    if (this.pos + 4 > this.buf.length) throw new Error('truncated D-Bus message');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  value(t: string): Value {
    switch (t[0]) {
      case 'y': return this.buf[this.pos++];
      case 'b': return this.u32() !== 0;
      case 'u': return this.u32();
      case 'i': return this.u32() | 0;
      case 's': case 'o': {
        const n = this.u32();
        const s = this.buf.toString('utf8', this.pos, this.pos + n);
        this.pos += n + 1;
        return s;
      }
      case 'g': {
        const n = this.buf[this.pos++];
        const s = this.buf.toString('latin1', this.pos, this.pos + n);
        this.pos += n + 1;
        return s;
      }
      case 'v': {
        const sig = this.value('g') as string;
        return [sig, this.value(sig)];
      }
      case '(': case '{': {
        this.pad(8);
        return splitTypes(t.slice(1, -1)).map((p) => this.value(p));
      }
      case 'a': {
        const el = t.slice(1);
        const n = this.u32();
        this.pad(alignment(el));
        const end = this.pos + n;
        if (end > this.buf.length) throw new Error('truncated D-Bus message');
        if (el === 'y') {
          const b = Buffer.from(this.buf.subarray(this.pos, end));
          this.pos = end;
          return b;
        }
        const out: Value[] = [];
        while (this.pos < end) out.push(this.value(el));
        return out;
      }
      default: throw new Error(`cannot read D-Bus type ${t}`);
    }
  }
}

// ---- messages ----

const CALL = 1, RETURN = 2, ERROR = 3;
const F_PATH = 1, F_INTERFACE = 2, F_MEMBER = 3, F_ERROR_NAME = 4, F_REPLY_SERIAL = 5, F_DESTINATION = 6, F_SIGNATURE = 8;

export interface Call {
  destination: string;
  path: string;
  iface: string;
  member: string;
  signature?: string;
  args?: Value[];
}

function encodeMessage(type: number, serial: number, fields: Value[], signature: string, args: Value[]): Buffer {
  const body = new Writer();
  splitTypes(signature).forEach((t, i) => body.value(t, args[i]));
  if (signature) fields.push([F_SIGNATURE, ['g', signature]]);
  const m = new Writer();
  m.u8(0x6c); // 'l': little endian
  m.u8(type);
  m.u8(0);
  m.u8(1);
  m.u32(body.len);
  m.u32(serial);
  m.value('a(yv)', fields);
  m.pad(8);
  m.bytes(body.buf.subarray(0, body.len));
  return m.buf.subarray(0, m.len);
}

export function encodeCall(serial: number, c: Call): Buffer {
  const fields: Value[] = [[F_PATH, ['o', c.path]], [F_INTERFACE, ['s', c.iface]], [F_MEMBER, ['s', c.member]], [F_DESTINATION, ['s', c.destination]]];
  return encodeMessage(CALL, serial, fields, c.signature ?? '', c.args ?? []);
}

/** A method's answer, as a bus peer sends it (the build's Secret Service stand-in and tests use it). */
export function encodeReturn(serial: number, replySerial: number, signature: string, args: Value[]): Buffer {
  return encodeMessage(RETURN, serial, [[F_REPLY_SERIAL, ['u', replySerial]]], signature, args);
}

export interface Incoming {
  type: number;
  serial: number;
  member?: string;
  replySerial?: number;
  errorName?: string;
  body: Value[];
}

/** The length of the first whole message in buf, or 0 when more bytes are needed. */
export function messageLength(buf: Buffer): number {
  if (buf.length < 16) return 0;
  if (buf[0] !== 0x6c) throw new Error('the D-Bus peer sent a big-endian message, which keyrole does not read');
  const fields = buf.readUInt32LE(12);
  const total = 16 + fields + ((8 - ((16 + fields) % 8)) % 8) + buf.readUInt32LE(4);
  return buf.length >= total ? total : 0;
}

export function decodeMessage(buf: Buffer): Incoming {
  const r = new Reader(buf, 12, 0);
  const fields = r.value('a(yv)') as [number, [string, Value]][];
  r.pad(8);
  const msg: Incoming = { type: buf[1], serial: buf.readUInt32LE(8), body: [] };
  let signature = '';
  for (const [code, [, v]] of fields) {
    if (code === F_REPLY_SERIAL) msg.replySerial = v as number;
    else if (code === F_ERROR_NAME) msg.errorName = v as string;
    else if (code === F_MEMBER) msg.member = v as string;
    else if (code === F_SIGNATURE) signature = v as string;
  }
  const body = new Reader(buf, r.pos, r.pos);
  msg.body = splitTypes(signature).map((t) => body.value(t));
  return msg;
}

// ---- the connection ----

/** The first unix-socket address in DBUS_SESSION_BUS_ADDRESS, as a path a Unix socket can connect to. */
export function sessionBusPath(address: string | undefined): string {
  if (!address) throw new Error('DBUS_SESSION_BUS_ADDRESS is unset');
  for (const entry of address.split(';')) {
    const colon = entry.indexOf(':');
    if (entry.slice(0, colon) !== 'unix') continue;
    const kv = new Map(entry.slice(colon + 1).split(',').map((p) => {
      const eq = p.indexOf('=');
      return [p.slice(0, eq), decodeURIComponent(p.slice(eq + 1))] as const;
    }));
    if (kv.has('path')) return kv.get('path')!;
    if (kv.has('abstract') && process.platform === 'linux') return `\0${kv.get('abstract')}`;
  }
  throw new Error(`no unix socket address in DBUS_SESSION_BUS_ADDRESS (${address.split(',')[0]})`);
}

export class Bus {
  private serial = 0;
  private pending = new Map<number, { resolve: (v: Value[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private input: Buffer = Buffer.alloc(0);
  private authenticated = false;
  private failure: Error | undefined;

  private socket: UnixSocket | undefined;
  private timeoutMs: number;

  private constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  /**
   * Connects without waiting: the SASL exchange, BEGIN, Hello and whatever calls follow go
   * out together (sd-bus pipelines its handshake the same way), so the first answer costs a
   * single round trip. A refused authentication fails every pending call.
   */
  static async connect(path: string, timeoutMs: number): Promise<Bus> {
    const bus = new Bus(timeoutMs);
    const socket = await connectUnix(path, {
      data: (d) => bus.receive(d),
      end: (err) => bus.fail(err),
    });
    bus.socket = socket;
    const uid = String(process.getuid?.() ?? '');
    socket.write(`\0AUTH EXTERNAL ${Buffer.from(uid).toString('hex')}\r\nBEGIN\r\n`);
    bus.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', iface: 'org.freedesktop.DBus', member: 'Hello' })
      .catch(() => { /* the same failure reaches the caller's own calls */ });
    return bus;
  }

  call(c: Call): Promise<Value[]> {
    if (this.failure) return Promise.reject(this.failure);
    const serial = ++this.serial;
    this.socket?.ref();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`${c.destination} did not answer ${c.member} within ${this.timeoutMs / 1000} s`)), this.timeoutMs);
      this.pending.set(serial, { resolve, reject, timer });
      this.socket?.write(encodeCall(serial, c));
    });
  }

  /** The socket's build (src/keychain/unixsocket.ts), for --debug. */
  get transport(): string {
    return this.socket?.kind ?? 'none';
  }

  close(): void {
    this.failure ??= new Error('the D-Bus connection was closed');
    this.socket?.destroy();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const [serial, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(this.failure);
      this.pending.delete(serial);
    }
    this.socket?.destroy();
  }

  private receive(d: Buffer): void {
    this.input = this.input.length ? Buffer.concat([this.input, d]) : d;
    try {
      if (!this.authenticated) {
        const eol = this.input.indexOf('\r\n');
        if (eol < 0) return;
        const line = this.input.toString('latin1', 0, eol);
        if (!line.startsWith('OK ')) throw new Error(`the D-Bus daemon refused authentication (${line.split(' ')[0]})`);
        this.authenticated = true;
        this.input = this.input.subarray(eol + 2);
      }
      for (let n = messageLength(this.input); n > 0; n = messageLength(this.input)) {
        const msg = decodeMessage(this.input.subarray(0, n));
        this.input = this.input.subarray(n);
        if ((msg.type !== RETURN && msg.type !== ERROR) || msg.replySerial === undefined) continue; // signals
        const p = this.pending.get(msg.replySerial);
        if (!p) continue;
        this.pending.delete(msg.replySerial);
        clearTimeout(p.timer);
        if (msg.type === ERROR) p.reject(new DbusError(msg.errorName ?? 'org.freedesktop.DBus.Error.Failed', typeof msg.body[0] === 'string' ? msg.body[0] : msg.errorName ?? 'D-Bus error'));
        else p.resolve(msg.body);
      }
      // An idle connection must not keep the process alive.
      if (this.pending.size === 0) this.socket?.unref();
    } catch (err) {
      this.fail(err as Error);
    }
  }
}
