// dbus.ts without a bus: the wire format and the session bus address.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeCall, encodeReturn, messageLength, sessionBusPath, splitTypes } from '../../src/keychain/dbus.ts';

describe('D-Bus marshalling', () => {
  test('splitTypes splits a signature into complete types', () => {
    assert.deepEqual(splitTypes('sv'), ['s', 'v']);
    assert.deepEqual(splitTypes('a{sv}(oayays)b'), ['a{sv}', '(oayays)', 'b']);
    assert.deepEqual(splitTypes('aoo'), ['ao', 'o']);
    assert.deepEqual(splitTypes('a{o(oayays)}'), ['a{o(oayays)}']);
    assert.throws(() => splitTypes('(s'), /bad D-Bus signature/);
    assert.throws(() => splitTypes('z'), /unsupported D-Bus type/);
  });

  test('what encodeCall writes, decodeMessage reads back (CreateItem, the most nested call keyrole makes)', () => {
    const args = [
      [['org.freedesktop.Secret.Item.Label', ['s', 'keyring:abc@keyrole:cache']], ['org.freedesktop.Secret.Item.Attributes', ['a{ss}', [['service', 'keyrole:cache'], ['username', 'abc']]]]],
      ['/org/freedesktop/secrets/session/s1', Buffer.alloc(0), Buffer.from('{"secret":"é ✓"}'), 'text/plain'],
      true,
    ];
    const msg = encodeCall(7, { destination: 'org.freedesktop.secrets', path: '/org/freedesktop/secrets/aliases/default', iface: 'org.freedesktop.Secret.Collection', member: 'CreateItem', signature: 'a{sv}(oayays)b', args });
    assert.equal(msg[0], 0x6c);
    assert.equal(msg.readUInt32LE(8), 7, 'serial');
    assert.equal(messageLength(msg), msg.length);
    const back = decodeMessage(msg);
    assert.equal(back.type, 1);
    assert.equal(back.serial, 7);
    assert.equal(back.member, 'CreateItem');
    assert.deepEqual(back.body, args);
  });

  test('a reply (GetSecrets\' answer) names the call it answers and carries its body', () => {
    const args = [[['/org/freedesktop/secrets/collection/login/3', ['/org/freedesktop/secrets/session/s1', Buffer.alloc(0), Buffer.from('{"v":"é"}'), 'text/plain']]]];
    const msg = encodeReturn(12, 5, 'a{o(oayays)}', args);
    assert.equal(messageLength(msg), msg.length);
    const back = decodeMessage(msg);
    assert.deepEqual({ type: back.type, serial: back.serial, replySerial: back.replySerial, member: back.member }, { type: 2, serial: 12, replySerial: 5, member: undefined });
    assert.deepEqual(back.body, args);
  });

  test('alignment: a struct after a byte, an empty array, a string at an odd offset', () => {
    const args = [7, [], 'x', ['/a', 1, 'yz'], ['abc', 'de']];
    const sig = 'ya{ss}s(ous)as';
    const back = decodeMessage(encodeCall(1, { destination: 'd', path: '/p', iface: 'i.f', member: 'M', signature: sig, args }));
    assert.deepEqual(back.body, args);
  });

  test('messageLength waits for the whole message', () => {
    const msg = encodeCall(1, { destination: 'd', path: '/p', iface: 'i.f', member: 'M', signature: 's', args: ['hello'] });
    for (const cut of [0, 10, 16, msg.length - 1]) assert.equal(messageLength(msg.subarray(0, cut)), 0, `cut at ${cut}`);
    assert.equal(messageLength(Buffer.concat([msg, msg])), msg.length);
  });

  test('a big-endian message is refused with a reason, not misread', () => {
    const msg = Buffer.from(encodeCall(1, { destination: 'd', path: '/p', iface: 'i.f', member: 'M' }));
    msg[0] = 0x42;
    assert.throws(() => messageLength(msg), /big-endian/);
  });
});

describe('sessionBusPath', () => {
  test('unix:path, with a guid and escapes', () => {
    assert.equal(sessionBusPath('unix:path=/run/user/1000/bus'), '/run/user/1000/bus');
    assert.equal(sessionBusPath('unix:path=/tmp/dbus-x,guid=27f6c976a5e7f7559d934e426b02bec1'), '/tmp/dbus-x');
    assert.equal(sessionBusPath('unix:path=/tmp/a%2cb'), '/tmp/a,b');
  });

  test('unix:abstract becomes an abstract socket name on Linux (elsewhere there are none)', () => {
    if (process.platform === 'linux') assert.equal(sessionBusPath('unix:abstract=/tmp/dbus-abc,guid=1'), '\0/tmp/dbus-abc');
    else assert.throws(() => sessionBusPath('unix:abstract=/tmp/dbus-abc'), /no unix socket address/);
  });

  test('the first unix address of several is used; none, or unset, is an error', () => {
    assert.equal(sessionBusPath('tcp:host=localhost,port=1;unix:path=/b'), '/b');
    assert.throws(() => sessionBusPath('tcp:host=localhost,port=1'), /no unix socket address/);
    assert.throws(() => sessionBusPath(undefined), /DBUS_SESSION_BUS_ADDRESS is unset/);
  });
});
