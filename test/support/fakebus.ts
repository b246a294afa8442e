// A hostile or broken D-Bus session bus for tests: a Unix socket server in a private temp
// directory that authenticates every client (or not) and then answers as the test says.
// Used to check that keyrole's D-Bus client and the addon behind it are bounded.

import { createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage, messageLength } from '../../src/keychain/dbus.ts';

/** A method reply (serial 2, answering `replySerial`) with the given body signature and raw body bytes, built by hand: keyrole's writer refuses most of what tests send. */
export function handMade(signature: string, body: Buffer, replySerial = 1): Buffer {
  // Header fields: (REPLY_SERIAL, <u replySerial>) and (SIGNATURE, <g signature>).
  const serial = Buffer.alloc(4);
  serial.writeUInt32LE(replySerial);
  const fields = Buffer.concat([Buffer.from([5, 1, 0x75, 0]), serial, Buffer.from([8, 1, 0x67, 0, signature.length]), Buffer.from(signature, 'latin1'), Buffer.from([0])]);
  const head = Buffer.alloc(16);
  head[0] = 0x6c;
  head[1] = 2;
  head[3] = 1;
  head.writeUInt32LE(body.length, 4);
  head.writeUInt32LE(2, 8);
  head.writeUInt32LE(fields.length, 12);
  return Buffer.concat([head, fields, Buffer.alloc((8 - ((16 + fields.length) % 8)) % 8), body]);
}

/** What the fake bus does with each method call after authenticating: the bytes to send back, or nothing. */
export type Answer = (call: { serial: number; member?: string }) => Buffer | undefined;

export interface FakeBus {
  /** For DBUS_SESSION_BUS_ADDRESS. */
  address: string;
  /** Method calls received, by member name. */
  calls: string[];
  close(): Promise<void>;
}

/** A bus that says OK to any AUTH (or sends `auth` instead) and then gives each call `answer`'s bytes (none: silence). */
export async function startFakeBus(answer: Answer, auth?: Buffer): Promise<FakeBus> {
  const dir = mkdtempSync(join(tmpdir(), 'keyrole-fakebus-'));
  const path = join(dir, 'bus');
  const calls: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => { /* the client went away */ });
    let input = Buffer.alloc(0);
    let authenticated = false;
    sock.on('data', (d: Buffer) => {
      input = Buffer.concat([input, d]);
      if (auth) {
        if (!authenticated) sock.write(auth);
        authenticated = true;
        return;
      }
      if (!authenticated) {
        const begin = input.indexOf('BEGIN\r\n');
        if (begin < 0) {
          // libdbus (the addon) waits for OK before it sends BEGIN.
          if (input.includes('AUTH ') && input.includes('\r\n')) {
            if (!input.includes('NEGOTIATE_UNIX_FD')) sock.write(`OK ${'0'.repeat(32)}\r\n`);
            else sock.write('AGREE_UNIX_FD\r\n');
            input = input.subarray(input.lastIndexOf('\r\n') + 2);
          }
          return;
        }
        if (input.indexOf('AUTH ') >= 0 && input.indexOf('AUTH ') < begin) sock.write(`OK ${'0'.repeat(32)}\r\n`);
        authenticated = true;
        input = input.subarray(begin + 7);
      }
      try {
        for (let n = messageLength(input); n > 0; n = messageLength(input)) {
          const m = decodeMessage(input.subarray(0, n), false);
          input = input.subarray(n);
          calls.push(m.member ?? '?');
          const out = answer({ serial: m.serial, member: m.member });
          if (out) sock.write(out);
        }
      } catch {
        sock.destroy();
      }
    });
  });
  await new Promise<void>((ok) => server.listen(path, ok));
  return {
    address: `unix:path=${path}`,
    calls,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
