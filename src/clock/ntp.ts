// A minimal SNTP client (RFC 4330): one request, one reply, the four timestamps.
//
// The design card named ntp-time-sync, but it (and its parser, ntp-packet-parser) is
// GPL-3.0, and keyrole ships as one MIT-licensed executable that bundles what it uses; no
// maintained, permissively licensed NTP client exists on npm. What keyrole needs is a single
// request/reply exchange, so it is written here: 48 bytes out, four timestamps back.

import * as dgram from 'node:dgram';

export interface NtpReply {
  leapIndicator?: number;
  mode?: number;
  stratum?: number;
  originTimestamp?: Date;
  receiveTimestamp?: Date;
  transmitTimestamp?: Date;
  destinationTimestamp?: Date;
}

// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET = 2_208_988_800;
const TWO_32 = 2 ** 32;

/** A time as NTP's 64-bit timestamp: seconds since 1900 (mod 2^32) and a binary fraction. */
export function toNtp(ms: number, buf: Buffer, at: number): void {
  const secs = Math.floor(ms / 1000) + NTP_UNIX_OFFSET;
  const frac = Math.floor(((ms % 1000) / 1000) * TWO_32);
  buf.writeUInt32BE(secs % TWO_32, at);
  buf.writeUInt32BE(frac >>> 0, at + 4);
}

/**
 * An NTP timestamp as a Date. The 32-bit seconds wrap in February 2036 (era 1): a value with
 * the top bit clear is taken to be in era 1, as RFC 4330 section 3 suggests.
 */
export function fromNtp(buf: Buffer, at: number): Date {
  let secs = buf.readUInt32BE(at);
  const frac = buf.readUInt32BE(at + 4);
  if (secs === 0 && frac === 0) return new Date(NaN);
  if (secs < 0x80000000) secs += TWO_32;
  return new Date((secs - NTP_UNIX_OFFSET) * 1000 + (frac / TWO_32) * 1000);
}

export function request(nowMs: number): Buffer {
  const b = Buffer.alloc(48);
  b[0] = (0 << 6) | (4 << 3) | 3; // no leap warning, version 4, mode 3 (client)
  toNtp(nowMs, b, 40); // transmit timestamp: the server echoes it back as the origin
  return b;
}

export function parseReply(b: Buffer, destination: Date): NtpReply {
  if (b.length < 48) throw new Error(`short reply (${b.length} bytes)`);
  return {
    leapIndicator: b[0] >> 6,
    mode: b[0] & 7,
    stratum: b[1],
    originTimestamp: fromNtp(b, 24),
    receiveTimestamp: fromNtp(b, 32),
    transmitTimestamp: fromNtp(b, 40),
    destinationTimestamp: destination,
  };
}

/** One SNTP exchange with `ip:port`, abandoned after `timeoutMs`. Rejects on any socket error. */
export function sntp(ip: string, port: number, timeoutMs: number): Promise<NtpReply> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(ip.includes(':') ? 'udp6' : 'udp4');
    const sent = request(Date.now());
    let done = false;
    const finish = (err: Error | undefined, reply?: NtpReply) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    sock.on('error', (err) => finish(err));
    sock.on('message', (msg, rinfo) => {
      if (rinfo.address !== ip && !(ip === 'localhost' && rinfo.address === '127.0.0.1')) return; // not our server
      // The origin must be our own transmit timestamp: anything else is not an answer to us.
      if (msg.length < 48 || !msg.subarray(24, 32).equals(sent.subarray(40, 48))) return;
      try {
        finish(undefined, parseReply(msg, new Date()));
      } catch (err) {
        finish(err as Error);
      }
    });
    sock.send(sent, port, ip, (err) => { if (err) finish(err); });
  });
}
