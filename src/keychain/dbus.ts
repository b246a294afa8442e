// Just enough of the D-Bus wire protocol for the Secret Service calls keyrole makes on its
// hot path (src/keychain/secretservice.ts), over node:net's Unix socket. Written by hand
// because the JS D-Bus libraries cost more than a whole cache hit to load: measured on
// Node 24 here, @homebridge/dbus-native 0.7.9 ~50 ms and dbus-next 0.10.2 ~45–60 ms to
// require, against a 40 ms budget. This is the little-endian wire format of the D-Bus
// specification (messages, marshalling of the basic, array, struct, dict-entry and variant
// types, SASL EXTERNAL authentication), nothing more.
//
// Why node:net (public API only; libuv's private pipe handle, which this client used
// before, is gone): measured 2026-11-30 on this 2-core machine under load averages of 7 to
// 28, hyperfine, 10-run blocks in rotating order, medians of 100 runs each, five runs:
// - node:net (this client): keychain hit 1.42–1.72× `node -e 0` (CPU 1.51–1.55×); the private
//   pipe handle in the same rounds 1.11–1.43× (CPU 1.21–1.26×). Loading node:net and its
//   streams and the socket's first calls cost ~8 ms of CPU per hit here (profiles: module
//   compilation, Duplex and connect set-up); `npm run bench --quick`: 1.37×.
// - the kernel keyring through the addon: ~0.7 ms (loading the addon, two system calls).
//   The default store now copies cache entries keyrole can renew by itself there and reads
//   the copy first (src/keychain/tier.ts kernelTier), so most hits never open this
//   client; where the kernel refuses the copy, a hit still pays for node:net.
// - a V8 startup snapshot with node:net preloaded (SEA useSnapshot): a toy executable
//   started ~3–6 ms slower than the same one loading node:net at run time.
// The file-store hit is unaffected (it loads no socket): 1.10–1.15×.
//
// The bytes come from whatever DBUS_SESSION_BUS_ADDRESS points at, so the reader trusts
// none of them: signatures are checked against the specification's grammar (no empty
// struct, dict entries only in arrays, nesting capped), every read is bounds-checked, an
// array must be consumed exactly and every element must advance, strings must be
// NUL-terminated UTF-8, a message may not exceed MAX_MESSAGE, and the SASL answer a line of
// at most MAX_AUTH_LINE. Regression: an array of empty structs once looped forever, growing
// to 4 GB. Every call has a deadline, and a bus that breaks a rule ends the connection.

import { isUtf8 } from 'node:buffer';
import type * as Net from 'node:net';
import { nodeRequire } from '../util/require.ts';
import { printable } from '../util/printable.ts';

/** A marshalled value: strings for s/o/g, numbers for y/n/q/i/u/h/d (x and t as bigint), booleans for b,
 *  Buffer for ay, arrays for arrays and structs, [key, value] pairs for dict entries, [signature, value] for v. */
export type Value = string | number | bigint | boolean | Buffer | Value[];

export class DbusError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** The peer broke the protocol (malformed, oversized, or not D-Bus at all). */
export class DbusProtocolError extends Error {}

/** The peer did not answer in time. */
export class DbusTimeout extends Error {}

// Far above anything the Secret Service sends keyrole (a cache entry is ~3 KB, a search
// answer a few object paths), far below what would hurt: the specification allows 128 MiB.
export const MAX_MESSAGE = 4 * 1024 * 1024;
const MAX_AUTH_LINE = 1024;
// The specification's limits: 255 bytes of signature, 32 nested arrays, 32 nested structs.
const MAX_SIGNATURE = 255;
const MAX_NESTING = 32;
// Variants inside variants are not in the signature; the specification caps total depth at 64.
const MAX_DEPTH = 64;

/** Fails the read; `what` may quote the peer's bytes, so it is made printable and short. */
function bad(what: string): never {
  throw new DbusProtocolError(`malformed D-Bus message: ${printable(what).slice(0, 200)}`);
}

// ---- signatures ----

const BASIC = 'ybnqiuxtdsogh';

/** The end of the complete type starting at sig[i], checking the specification's grammar. */
function typeEnd(sig: string, i: number, arrays = 0, structs = 0): number {
  const c = sig[i];
  if (c === undefined) bad(`signature ${JSON.stringify(sig)} ends inside a type`);
  if (c === 'a') {
    if (arrays >= MAX_NESTING) bad('arrays nested too deeply');
    if (sig[i + 1] === '{') {
      // A dict entry: a basic key and one value, only as an array's element.
      if (!BASIC.includes(sig[i + 2] ?? '')) bad(`dict entry key in ${JSON.stringify(sig)} is not a basic type`);
      const v = typeEnd(sig, i + 3, arrays + 1, structs + 1);
      if (sig[v] !== '}') bad(`dict entry in ${JSON.stringify(sig)} is not a key and one value`);
      return v + 1;
    }
    return typeEnd(sig, i + 1, arrays + 1, structs);
  }
  if (c === '(') {
    if (structs >= MAX_NESTING) bad('structs nested too deeply');
    let j = i + 1;
    if (sig[j] === ')') bad(`empty struct in ${JSON.stringify(sig)}`);
    while (sig[j] !== ')') j = typeEnd(sig, j, arrays, structs + 1);
    return j + 1;
  }
  if (c === 'v' || BASIC.includes(c)) return i + 1;
  return bad(`unknown type ${JSON.stringify(c)} in signature ${JSON.stringify(sig)}`);
}

/** The complete types of a signature; throws DbusProtocolError on one the specification does not allow. */
export function splitTypes(sig: string): string[] {
  if (sig.length > MAX_SIGNATURE) bad('signature longer than 255 bytes');
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
      case 'u': case 'i': case 'h': this.u32(v as number); return;
      case 'n': case 'q': this.pad(2); this.room(2); this.buf.writeUInt16LE((v as number) & 0xffff, this.len); this.len += 2; return;
      case 'x': case 't': this.pad(8); this.room(8); this.buf.writeBigUInt64LE(BigInt.asUintN(64, v as bigint), this.len); this.len += 8; return;
      case 'd': this.pad(8); this.room(8); this.buf.writeDoubleLE(v as number, this.len); this.len += 8; return;
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
  /** Checks that n more bytes are in the message, and returns where they start. */
  private take(n: number): number {
    const at = this.pos;
    if (n < 0 || at + n > this.buf.length) bad('truncated');
    this.pos = at + n;
    return at;
  }
  pad(a: number): void {
    const p = (a - ((this.pos - this.base) % a)) % a;
    const at = this.take(p);
    for (let i = at; i < at + p; i++) if (this.buf[i] !== 0) bad('padding that is not zero');
  }
  u8(): number {
    return this.buf[this.take(1)];
  }
  u32(): number {
    this.pad(4);
    return this.buf.readUInt32LE(this.take(4));
  }
  /** A string's bytes (after its length): UTF-8 without NUL, then one NUL. */
  private text(n: number, encoding: 'utf8' | 'latin1'): string {
    const at = this.take(n + 1);
    const bytes = this.buf.subarray(at, at + n);
    if (this.buf[at + n] !== 0 || bytes.includes(0)) bad('a string that is not NUL-terminated, or holds a NUL');
    if (!isUtf8(bytes)) bad('a string that is not UTF-8');
    return bytes.toString(encoding);
  }
  value(t: string, depth = 0): Value {
    if (depth > MAX_DEPTH) bad('values nested too deeply');
    switch (t[0]) {
      case 'y': return this.u8();
      case 'b': {
        const v = this.u32();
        if (v > 1) bad(`boolean ${v}`);
        return v === 1;
      }
      case 'n': case 'q': {
        this.pad(2);
        const at = this.take(2);
        return t === 'n' ? this.buf.readInt16LE(at) : this.buf.readUInt16LE(at);
      }
      case 'u': case 'h': return this.u32();
      case 'i': return this.u32() | 0;
      case 'x': case 't': case 'd': {
        this.pad(8);
        const at = this.take(8);
        return t === 'x' ? this.buf.readBigInt64LE(at) : t === 't' ? this.buf.readBigUInt64LE(at) : this.buf.readDoubleLE(at);
      }
      case 's': return this.text(this.u32(), 'utf8');
      case 'o': {
        const path = this.text(this.u32(), 'utf8');
        if (!/^\/$|^(\/[A-Za-z0-9_]+)+$/.test(path)) bad(`object path ${JSON.stringify(printable(path).slice(0, 80))}`);
        return path;
      }
      case 'g': {
        const sig = this.text(this.u8(), 'latin1');
        splitTypes(sig);
        return sig;
      }
      case 'v': {
        const sig = this.value('g') as string;
        const types = splitTypes(sig);
        if (types.length !== 1) bad(`variant signature ${JSON.stringify(sig)} is not one complete type`);
        return [sig, this.value(sig, depth + 1)];
      }
      case '(': case '{': {
        this.pad(8);
        return splitTypes(t.slice(1, -1)).map((p) => this.value(p, depth + 1));
      }
      case 'a': {
        const el = t.slice(1);
        const n = this.u32();
        if (n > MAX_MESSAGE) bad(`array of ${n} bytes`);
        this.pad(alignment(el));
        const start = this.take(n);
        const end = start + n;
        if (el === 'y') return Buffer.from(this.buf.subarray(start, end));
        this.pos = start;
        const out: Value[] = [];
        while (this.pos < end) {
          const before = this.pos;
          out.push(this.value(el, depth + 1));
          // Every valid element takes at least a byte; the check is the loop's own guarantee.
          if (this.pos <= before) bad('an array element of no size');
        }
        if (this.pos !== end) bad('an array whose elements overrun its length');
        return out;
      }
      default: return bad(`cannot read type ${JSON.stringify(t)}`);
    }
  }
}

// ---- messages ----

const CALL = 1, RETURN = 2, ERROR = 3, SIGNAL = 4;
const F_PATH = 1, F_INTERFACE = 2, F_MEMBER = 3, F_ERROR_NAME = 4, F_REPLY_SERIAL = 5, F_DESTINATION = 6, F_SENDER = 7, F_SIGNATURE = 8, F_UNIX_FDS = 9;
// The type each header field must have (the specification's table); unknown fields are skipped.
const FIELD_TYPES: Record<number, string> = { [F_PATH]: 'o', [F_INTERFACE]: 's', [F_MEMBER]: 's', [F_ERROR_NAME]: 's', [F_REPLY_SERIAL]: 'u', [F_DESTINATION]: 's', [F_SENDER]: 's', [F_SIGNATURE]: 'g', [F_UNIX_FDS]: 'u' };

export interface Call {
  destination: string;
  path: string;
  iface: string;
  member: string;
  signature?: string;
  args?: Value[];
  /** The answer's signature; any other is a protocol error, so callers may trust the shapes. */
  reply?: string;
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
  signature: string;
  body: Value[];
}

/**
 * The length of the first whole message in buf, or 0 when more bytes are needed. Throws
 * DbusProtocolError as soon as the fixed header shows a message keyrole will not read
 * (big-endian, a bad type or version, more than MAX_MESSAGE), before its bytes pile up.
 */
export function messageLength(buf: Buffer): number {
  if (buf.length === 0) return 0;
  if (buf[0] === 0x42) throw new DbusProtocolError('the D-Bus peer sent a big-endian message, which keyrole does not read');
  if (buf[0] !== 0x6c) bad(`endianness byte ${buf[0]}`);
  if (buf.length < 16) return 0;
  if (buf[1] < CALL || buf[1] > SIGNAL) bad(`message type ${buf[1]}`);
  if (buf[3] !== 1) bad(`protocol version ${buf[3]}`);
  const fields = buf.readUInt32LE(12);
  const bodyLength = buf.readUInt32LE(4);
  const total = 16 + fields + ((8 - ((16 + fields) % 8)) % 8) + bodyLength;
  if (total > MAX_MESSAGE) bad(`a message of ${total} bytes (keyrole reads at most ${MAX_MESSAGE})`);
  return buf.length >= total ? total : 0;
}

/** Decodes the header, and the body when wanted (a message nobody waits for is only checked up to its header). */
export function decodeMessage(buf: Buffer, withBody = true): Incoming {
  const total = messageLength(buf);
  if (total !== buf.length) bad(total === 0 ? 'truncated' : 'trailing bytes after the message');
  const serial = buf.readUInt32LE(8);
  if (serial === 0) bad('serial 0');
  const r = new Reader(buf, 12, 0);
  const fields = r.value('a(yv)') as [number, [string, Value]][];
  r.pad(8);
  const msg: Incoming = { type: buf[1], serial, signature: '', body: [] };
  for (const [code, [sig, v]] of fields) {
    const want = FIELD_TYPES[code];
    if (want === undefined) continue;
    if (sig !== want) bad(`header field ${code} of type ${JSON.stringify(sig)}`);
    if (code === F_REPLY_SERIAL) msg.replySerial = v as number;
    else if (code === F_ERROR_NAME) msg.errorName = v as string;
    else if (code === F_MEMBER) msg.member = v as string;
    else if (code === F_SIGNATURE) msg.signature = v as string;
  }
  if ((msg.type === RETURN || msg.type === ERROR) && msg.replySerial === undefined) bad('a reply without a reply serial');
  if (msg.type === ERROR && msg.errorName === undefined) bad('an error without a name');
  if (!withBody) return msg;
  const body = new Reader(buf, r.pos, r.pos);
  msg.body = splitTypes(msg.signature).map((t) => body.value(t));
  if (body.pos !== buf.length) bad('a body longer than its signature');
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
      let value = p.slice(eq + 1);
      try {
        value = decodeURIComponent(value);
      } catch {
        throw new Error(`a bad %-escape in DBUS_SESSION_BUS_ADDRESS (${printable(p).slice(0, 80)})`);
      }
      return [p.slice(0, eq), value] as const;
    }));
    if (kv.has('path')) return kv.get('path')!;
    if (kv.has('abstract') && process.platform === 'linux') return `\0${kv.get('abstract')}`;
  }
  throw new Error(`no unix socket address in DBUS_SESSION_BUS_ADDRESS (${printable(address.split(',')[0]).slice(0, 80)})`);
}

export class Bus {
  private serial = 0;
  private pending = new Map<number, { reply: string; resolve: (v: Value[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private input: Buffer = Buffer.alloc(0);
  private authenticated = false;
  private failure: Error | undefined;
  private socket: Net.Socket;
  private timeoutMs: number;

  private constructor(socket: Net.Socket, timeoutMs: number) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Connects without waiting: the SASL exchange, BEGIN, Hello and whatever calls follow go
   * out together (sd-bus pipelines its handshake the same way), so the first answer costs a
   * single round trip. A refused authentication fails every pending call. node:net is
   * loaded here, not at the top: a file-store hit never pays for it.
   */
  static connect(path: string, timeoutMs: number): Bus {
    const net = nodeRequire()('node:net') as typeof Net;
    // onread: the bytes land in one buffer and go straight to receive(), without the
    // Readable stream's per-chunk machinery (a documented option of net.Socket).
    const to: { bus?: Bus } = {};
    const socket = net.createConnection({ path, onread: { buffer: Buffer.allocUnsafe(64 * 1024), callback: (n, buf) => { to.bus?.receive(Buffer.from(buf.subarray(0, n))); return true; } } });
    const bus = new Bus(socket, timeoutMs);
    to.bus = bus;
    socket.on('error', (err) => bus.fail(err));
    socket.on('close', () => bus.fail(new Error('the D-Bus connection closed')));
    // With onread, an end of stream still comes as 'end' (the peer closed).
    socket.on('end', () => bus.fail(new Error('the D-Bus connection closed')));
    const uid = String(process.getuid?.() ?? '');
    socket.write(`\0AUTH EXTERNAL ${Buffer.from(uid).toString('hex')}\r\nBEGIN\r\n`);
    bus.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', iface: 'org.freedesktop.DBus', member: 'Hello', reply: 's' })
      .catch(() => { /* the same failure reaches the caller's own calls */ });
    return bus;
  }

  /** The call's answer; rejects with DbusError (the peer's error), DbusTimeout, DbusProtocolError or the socket's error. */
  call(c: Call): Promise<Value[]> {
    if (this.failure) return Promise.reject(this.failure);
    const serial = ++this.serial;
    this.socket.ref();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new DbusTimeout(`the D-Bus session bus did not answer ${c.member} within ${this.timeoutMs / 1000} s`)), this.timeoutMs);
      this.pending.set(serial, { reply: c.reply ?? '', resolve, reject, timer });
      this.socket.write(encodeCall(serial, c));
    });
  }

  /** Whether the connection has failed (a silent peer, a closed socket): every later call would fail the same way. */
  get broken(): boolean {
    return this.failure !== undefined;
  }

  close(): void {
    this.failure ??= new Error('the D-Bus connection was closed');
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const [serial, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(this.failure);
      this.pending.delete(serial);
    }
    this.socket.destroy();
  }

  private receive(d: Buffer): void {
    if (this.failure) return;
    this.input = this.input.length ? Buffer.concat([this.input, d]) : d;
    try {
      if (!this.authenticated) {
        const eol = this.input.indexOf('\r\n');
        if (eol < 0) {
          if (this.input.length > MAX_AUTH_LINE) throw new DbusProtocolError(`the D-Bus peer's authentication answer is not a line of at most ${MAX_AUTH_LINE} bytes`);
          return;
        }
        const line = this.input.toString('latin1', 0, eol);
        if (!line.startsWith('OK ')) throw new DbusProtocolError(`the D-Bus daemon refused authentication (${printable(line.split(' ')[0]).slice(0, 40)})`);
        this.authenticated = true;
        this.input = this.input.subarray(eol + 2);
      }
      for (let n = messageLength(this.input); n > 0; n = messageLength(this.input)) {
        const raw = this.input.subarray(0, n);
        this.input = this.input.subarray(n);
        const head = decodeMessage(raw, false);
        if ((head.type !== RETURN && head.type !== ERROR) || head.replySerial === undefined) continue; // signals, calls to us
        const p = this.pending.get(head.replySerial);
        if (!p) continue;
        const msg = decodeMessage(raw);
        this.pending.delete(head.replySerial);
        clearTimeout(p.timer);
        if (msg.type === RETURN && msg.signature !== p.reply) bad(`an answer of type ${JSON.stringify(msg.signature)} where ${JSON.stringify(p.reply)} was due`);
        if (msg.type === ERROR) p.reject(new DbusError(msg.errorName ?? 'org.freedesktop.DBus.Error.Failed', typeof msg.body[0] === 'string' ? msg.body[0] : msg.errorName ?? 'D-Bus error'));
        else p.resolve(msg.body);
      }
      // An idle connection must not keep the process alive.
      if (this.pending.size === 0) this.socket.unref();
    } catch (err) {
      this.fail(err as Error);
    }
  }
}
