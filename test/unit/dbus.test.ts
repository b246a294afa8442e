// dbus.ts without a bus: the wire format and the session bus address.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { handMade } from '../support/fakebus.ts';
import { decodeMessage, encodeCall, encodeReturn, MAX_MESSAGE, messageLength, sessionBusPath, splitTypes, DbusProtocolError } from '../../src/keychain/dbus.ts';

describe('D-Bus marshalling', () => {
  test('splitTypes splits a signature into complete types', () => {
    assert.deepEqual(splitTypes('sv'), ['s', 'v']);
    assert.deepEqual(splitTypes('a{sv}(oayays)b'), ['a{sv}', '(oayays)', 'b']);
    assert.deepEqual(splitTypes('aoo'), ['ao', 'o']);
    assert.deepEqual(splitTypes('a{o(oayays)}'), ['a{o(oayays)}']);
    assert.throws(() => splitTypes('(s'), /ends inside a type/);
    assert.throws(() => splitTypes('z'), /unknown type "z"/);
  });

  test('splitTypes refuses what the specification forbids: empty structs, loose or malformed dict entries, deep nesting, long signatures', () => {
    for (const [sig, why] of [
      ['()', /empty struct/], ['a()', /empty struct/], ['{sv}', /unknown type "\{"/], ['a{vs}', /not a basic type/], ['a{sss}', /not a key and one value/],
      ['a{s}', /unknown type "}"/], ['a', /ends inside/], [')', /unknown type/], ['a'.repeat(33) + 'y', /arrays nested too deeply/],
      ['('.repeat(33) + 'y' + ')'.repeat(33), /structs nested too deeply/], ['y'.repeat(256), /longer than 255/],
    ] as const) assert.throws(() => splitTypes(sig), why, sig);
    assert.deepEqual(splitTypes('a'.repeat(32) + 'y'), ['a'.repeat(32) + 'y']);
    assert.deepEqual(splitTypes('nqxtdh'), ['n', 'q', 'x', 't', 'd', 'h']);
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

  test('every fixed-size type round-trips', () => {
    const args = [-2, 65535, -(2n ** 63n), 2n ** 64n - 1n, 1.5, 3, true, 7];
    const back = decodeMessage(encodeReturn(1, 1, 'nqxtdhby', args));
    assert.deepEqual(back.body, args);
  });

  test('a big-endian message is refused with a reason, not misread', () => {
    const msg = Buffer.from(encodeCall(1, { destination: 'd', path: '/p', iface: 'i.f', member: 'M' }));
    msg[0] = 0x42;
    assert.throws(() => messageLength(msg), /big-endian/);
  });
});

describe('hostile bytes from the bus are refused, never looped on', () => {
  const reply = handMade;

  test('the hand-made replies are what the writer makes (so the cases below test what they say)', () => {
    assert.deepEqual(handMade('s', Buffer.from([1, 0, 0, 0, 0x78, 0])), encodeReturn(2, 1, 's', ['x']));
  });

  test('regression (4 GB, then out of memory): an array of empty structs is refused at once', () => {
    // The array's length (8) fits in the message, as in the hostile bus's answer; padding to 8, then 8 bytes.
    const msg = reply('a()', Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    const t = performance.now();
    assert.throws(() => decodeMessage(msg), (e: unknown) => e instanceof DbusProtocolError && /empty struct/.test((e as Error).message));
    assert.ok(performance.now() - t < 1000);
  });

  test('an array longer than the message, a string without its NUL, a bad boolean, a bad object path, a variant of two types', () => {
    const cases: [string, Buffer, RegExp][] = [
      ['ay', Buffer.from([0x10, 0, 0, 0, 1, 2]), /truncated/],
      ['as', Buffer.from([0xff, 0xff, 0xff, 0x7f]), /array of|truncated/],
      ['s', Buffer.from([3, 0, 0, 0, 0x61, 0x62, 0x63, 0x64]), /NUL/],
      ['s', Buffer.from([2, 0, 0, 0, 0xc3, 0x28, 0]), /not UTF-8/],
      ['b', Buffer.from([2, 0, 0, 0]), /boolean 2/],
      ['o', Buffer.from([3, 0, 0, 0, 0x61, 0x2f, 0x62, 0]), /object path/],
      ['v', Buffer.from([2, 0x73, 0x73, 0, 0, 0, 0, 0]), /not one complete type/],
      ['ai', Buffer.from([6, 0, 0, 0, 1, 0, 0, 0, 2, 0]), /overrun|truncated/],
      ['y', Buffer.from([1, 2]), /longer than its signature/],
    ];
    for (const [sig, body, why] of cases) assert.throws(() => decodeMessage(reply(sig, body)), (e: unknown) => e instanceof DbusProtocolError && why.test((e as Error).message), `${sig} ${body.toString('hex')}`);
  });

  test('variants nested past the specification\'s depth are refused, not a stack overflow', () => {
    // v → v → v … → y
    const parts: number[] = [];
    for (let i = 0; i < 100; i++) parts.push(1, 0x76, 0);
    parts.push(1, 0x79, 0, 7);
    assert.throws(() => decodeMessage(reply('v', Buffer.from(parts))), /nested too deeply/);
  });

  test('a message larger than the cap is refused from its fixed header, before its bytes are waited for', () => {
    const msg = Buffer.from(encodeReturn(2, 1, 's', ['x']));
    msg.writeUInt32LE(MAX_MESSAGE, 4);
    assert.throws(() => messageLength(msg.subarray(0, 16)), /keyrole reads at most/);
  });

  test('a header field of the wrong type, a reply without its serial, serial 0, another version: refused', () => {
    const good = encodeReturn(2, 1, 's', ['x']);
    const v2 = Buffer.from(good);
    v2[3] = 2;
    assert.throws(() => messageLength(v2), /protocol version 2/);
    const zero = Buffer.from(good);
    zero.writeUInt32LE(0, 8);
    assert.throws(() => decodeMessage(zero), /serial 0/);
    const noReplySerial = encodeCall(1, { destination: 'd', path: '/p', iface: 'i.f', member: 'M' });
    noReplySerial[1] = 2;
    assert.throws(() => decodeMessage(noReplySerial), /without a reply serial/);
    // REPLY_SERIAL (5) carried as a string instead of a u.
    const wrong = Buffer.from(good);
    const at = wrong.indexOf(Buffer.from([5, 1, 0x75, 0]));
    assert.ok(at > 0);
    wrong[at + 2] = 0x79; // 'y': a byte where a u is due
    assert.throws(() => decodeMessage(wrong), DbusProtocolError);
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

describe('what the bus says is printed safely', () => {
  test('a signature with escape sequences and C1 controls is quoted without them', () => {
    // U+009B is the C1 form of CSI; JSON.stringify leaves it as it is.
    for (const sig of ['\u009b31mX', '\x1b[31mz']) {
      assert.throws(() => splitTypes(sig), (e: unknown) => e instanceof DbusProtocolError && ![...(e as Error).message].some((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f)));
    }
  });
});
