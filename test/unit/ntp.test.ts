// The SNTP client's packet handling: timestamps both ways, the 2036 era wrap, and a reply
// from a real exchange against a local UDP responder that follows RFC 4330.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { fromNtp, parseReply, request, sntp, toNtp } from '../../src/clock/ntp.ts';

test('timestamps survive the round trip to NTP format to within a millisecond', () => {
  for (const ms of [0, 1_700_000_000_123, Date.parse('2035-12-31T23:59:59.999Z'), Date.parse('2036-02-07T06:28:17Z'), Date.parse('2040-01-01T00:00:00.5Z')]) {
    const b = Buffer.alloc(8);
    toNtp(ms, b, 0);
    assert.ok(Math.abs(fromNtp(b, 0).getTime() - ms) <= 1, `${new Date(ms).toISOString()} came back as ${fromNtp(b, 0).toISOString()}`);
  }
});

test('a zero timestamp is "not set", not 1900', () => {
  assert.ok(isNaN(fromNtp(Buffer.alloc(8), 0).getTime()));
});

test('the request is a version 4 client packet carrying its transmit time', () => {
  const now = Date.parse('2026-11-22T08:00:00.250Z');
  const r = request(now);
  assert.equal(r.length, 48);
  assert.equal(r[0] & 7, 3);
  assert.equal((r[0] >> 3) & 7, 4);
  assert.ok(Math.abs(fromNtp(r, 40).getTime() - now) <= 1);
});

test('a short reply is refused', () => {
  assert.throws(() => parseReply(Buffer.alloc(20), new Date()), /short reply/);
});

test('one exchange with a local responder gives its clock (shifted by 10 minutes) and the four timestamps', async () => {
  const server = dgram.createSocket('udp4');
  const shift = 600_000;
  server.on('message', (msg, rinfo) => {
    const reply = Buffer.alloc(48);
    reply[0] = (0 << 6) | (4 << 3) | 4;
    reply[1] = 2;
    msg.copy(reply, 24, 40, 48); // origin = the client's transmit
    toNtp(Date.now() + shift, reply, 32);
    toNtp(Date.now() + shift, reply, 40);
    server.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  try {
    const reply = await sntp('127.0.0.1', server.address().port, 2000);
    assert.equal(reply.mode, 4);
    assert.equal(reply.stratum, 2);
    const offset = reply.receiveTimestamp!.getTime() - reply.originTimestamp!.getTime();
    assert.ok(Math.abs(offset - shift) < 1000, `offset ${offset}`);
  } finally {
    server.close();
  }
});

test('a server that never answers ends at the timeout with a clear error', async () => {
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  try {
    await assert.rejects(sntp('127.0.0.1', silent.address().port, 150), /no reply within 150 ms/);
  } finally {
    silent.close();
  }
});

test('a reply that does not echo our transmit time is ignored (spoofed or stale)', async () => {
  const server = dgram.createSocket('udp4');
  server.on('message', (_msg, rinfo) => {
    const reply = Buffer.alloc(48);
    reply[0] = (4 << 3) | 4;
    reply[1] = 1;
    toNtp(Date.now() - 5000, reply, 24);
    toNtp(Date.now(), reply, 32);
    toNtp(Date.now(), reply, 40);
    server.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  try {
    await assert.rejects(sntp('127.0.0.1', server.address().port, 300), /no reply within/);
  } finally {
    server.close();
  }
});
