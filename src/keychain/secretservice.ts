// The Secret Service spoken directly over D-Bus, for keyrole's hot path: the cache entry's
// read and write, and the source keys on a miss. Everything else (setup, rotate, list,
// clear, SSO tokens) is the addon's.
//
// Writes make the calls the addon makes. An earlier direct write always used
// CreateItem(replace=true), and one CI run found an entry missing after SIGKILLs during a
// refresh; replacing an existing item's secret in place (Item.SetSecret), as the addon does,
// never removes the old entry, so a kill leaves the old secret or the new one.
//
// Why not the addon: @napi-rs/keyring opens a new D-Bus connection and a new Diffie-Hellman
// transfer session for every operation: ~8 ms of modular exponentiation on both ends of the
// bus, most of a keychain cache hit (measured here: 15 ms for one read, 0.5 ms of it the
// read itself). This client opens one "plain" session per process and pipelines its calls,
// so a read costs two round trips on a local socket.
//
// Why plain is acceptable: the Secret Service specification (section 7, "Transfer of
// Secrets") says the transfer encryption "is not envisioned to withstand man in the middle
// attacks" and that for applications that cannot keep their own memory from being paged
// (its examples: Java, C#, Python) it is "of questionable value". keyrole is a JavaScript
// program whose heap holds the same secret as a string a moment later, and the session bus
// is a socket only this user (and root) can talk on. The item in the keychain is stored
// exactly as before; only its trip over the local socket is not re-encrypted.
//
// A bus that says nobody owns org.freedesktop.secrets is NoSecretServiceOnBus: where keyrole
// chooses its store by itself, it then uses its file store (src/keychain/selection.ts).
// Anything else unusual (no unix socket address, a locked collection, two matching items, a
// service that refuses "plain") is left to the addon, which reports it as it always has:
// callers catch SecretServiceDeferred and fall back. A bus that does not answer within
// CALL_TIMEOUT_MS, or breaks the protocol, is not left to the addon: it fails here with one
// line (regression: a bus that authenticated and then said nothing hung keyrole for over
// 100 s through the addon's own waits).

import { Bus, DbusError, DbusProtocolError, DbusTimeout, sessionBusPath, type Value } from './dbus.ts';
import { debug } from '../util/debug.ts';
import { KeyroleError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';

const DEST = 'org.freedesktop.secrets';
const SERVICE_PATH = '/org/freedesktop/secrets';
const SERVICE = 'org.freedesktop.Secret.Service';
const ITEM = 'org.freedesktop.Secret.Item';
const COLLECTION = 'org.freedesktop.Secret.Collection';
// The collection the addon creates items in (keyring-rs's "default" target).
const DEFAULT_COLLECTION = '/org/freedesktop/secrets/aliases/default';
// Each call's bound; a gnome-keyring answers in about a millisecond.
export const CALL_TIMEOUT_MS = 5000;

/** This client cannot answer for certain; the addon should. */
export class SecretServiceDeferred extends Error {}

/**
 * The bus answered that nothing owns org.freedesktop.secrets and no .service file can start
 * it: no Secret Service on this session, for certain (the addon would only say the same).
 * Where keyrole may choose its store by itself, it uses its file store instead
 * (src/keychain/selection.ts); elsewhere it is deferred to the addon like any other.
 */
export class NoSecretServiceOnBus extends SecretServiceDeferred {}

// The bus daemon's own answers for a name nobody owns: ServiceUnknown when it may start
// the service and no .service file does, NameHasNoOwner when the call asked it not to.
const NOBODY = new Set(['org.freedesktop.DBus.Error.ServiceUnknown', 'org.freedesktop.DBus.Error.NameHasNoOwner']);

interface Session {
  bus: Bus;
  session: Promise<string>;
}

let opened: Promise<Session> | undefined;
let openedBus: Bus | undefined;

/**
 * The connection and its plain session, opened once and kept while it works; nothing waits
 * here. A connection that failed (a call unanswered within CALL_TIMEOUT_MS, a closed
 * socket) is replaced by a new one at the next call: a server runs for days, and a daemon
 * that stalled once (stopped and continued) answers a new connection. Regression: one
 * stalled call failed every later read of `serve` with KeychainTimeout until it restarted.
 */
function open(): Promise<Session> {
  if (opened && openedBus?.broken) {
    debug('Secret Service: the D-Bus connection failed earlier; opening a new one');
    openedBus = undefined;
    opened = undefined;
  }
  if (opened) return opened;
  const attempt: Promise<Session> = Promise.resolve().then(() => {
    const bus = Bus.connect(sessionBusPath(process.env.DBUS_SESSION_BUS_ADDRESS), CALL_TIMEOUT_MS);
    if (opened === attempt) openedBus = bus;
    debug('Secret Service: a direct D-Bus connection (plain session)');
    const session = bus.call({ destination: DEST, path: SERVICE_PATH, iface: SERVICE, member: 'OpenSession', signature: 'sv', args: ['plain', ['s', '']], reply: 'vo' })
      .then(([, path]) => path as string);
    session.catch(forget);
    return { bus, session };
  });
  // A failed connection or session is not kept: the next read tries afresh.
  const forget = () => { if (opened === attempt) opened = undefined; };
  attempt.catch(forget);
  opened = attempt;
  return attempt;
}

/** Closes the connection (tests; a process that exits needs nothing: the socket is unref'd when idle). */
export function closeSecretService(): void {
  opened?.then((s) => s.bus.close(), () => { /* never opened */ });
  opened = undefined;
  openedBus = undefined;
}

/** What a failed call becomes: a one-line failure when the bus is silent or broken, else a deferral to the addon. */
function defer(err: unknown): never {
  if (err instanceof SecretServiceDeferred) throw err;
  if (err instanceof DbusTimeout) {
    throw new KeyroleError('KeychainTimeout', `the Secret Service did not answer: ${err.message}`,
      'check that gnome-keyring (or your Secret Service) is running and responsive, and that DBUS_SESSION_BUS_ADDRESS points at your own session bus');
  }
  if (err instanceof DbusProtocolError) {
    throw new KeyroleError('KeychainBadBus', `the D-Bus session bus is not usable (${err.message})`,
      'check that DBUS_SESSION_BUS_ADDRESS points at your own session bus');
  }
  // The bus's own error text is outside text: it may reach --debug on a terminal.
  const why = err instanceof DbusError ? `${printable(err.name)}: ${printable(err.message)}` : printable((err as Error)?.message ?? String(err));
  if (err instanceof DbusError && NOBODY.has(err.name)) throw new NoSecretServiceOnBus(why.slice(0, 300));
  throw new SecretServiceDeferred(why.slice(0, 300));
}

/**
 * What the bus says of the Secret Service, through the session this client opens anyway
 * (OpenSession, which also starts an activatable service): it answers, it is absent for
 * certain (NoSecretServiceOnBus), or anything else (a timeout, a broken bus, no unix
 * socket), which is unsure: keyrole then stays with the Secret Service and its calls report
 * what is wrong. For the commands that ask before they run (src/keychain/prepare.ts) and
 * doctor; never on a cache hit.
 */
export async function secretServiceOnBus(): Promise<'answers' | 'absent' | 'unsure'> {
  try {
    await (await open()).session;
    return 'answers';
  } catch (err) {
    try {
      defer(err);
    } catch (e) {
      debug(`Secret Service: ${(e as Error).message}`);
      if (e instanceof NoSecretServiceOnBus) return 'absent';
    }
    return 'unsure';
  }
}

function attributes(service: string, account: string): Value[] {
  return [['service', service], ['username', account]];
}

async function search(s: Session, service: string, account: string): Promise<{ unlocked: string[]; locked: string[] }> {
  const [unlocked, locked] = await s.bus.call({ destination: DEST, path: SERVICE_PATH, iface: SERVICE, member: 'SearchItems', signature: 'a{ss}', args: [attributes(service, account)], reply: 'aoao' });
  return { unlocked: unlocked as string[], locked: locked as string[] };
}

/** A search that found a locked item or more than one: the addon says which, as it always has. */
function notOne(found: { unlocked: string[]; locked: string[] }): SecretServiceDeferred {
  return new SecretServiceDeferred(`${found.unlocked.length} unlocked and ${found.locked.length} locked items match`);
}

/** The one unlocked item for (service, account): null when there is none and none is locked. */
export async function readSecret(service: string, account: string): Promise<string | null> {
  try {
    const s = await open();
    const found = await search(s, service, account);
    if (found.unlocked.length === 0 && found.locked.length === 0) return null;
    if (found.unlocked.length !== 1 || found.locked.length !== 0) throw notOne(found);
    const [secrets] = await s.bus.call({ destination: DEST, path: SERVICE_PATH, iface: SERVICE, member: 'GetSecrets', signature: 'aoo', args: [found.unlocked, await s.session], reply: 'a{o(oayays)}' });
    const pair = (secrets as [string, Value[]][]).find(([path]) => path === found.unlocked[0]);
    if (!pair) throw new SecretServiceDeferred('the item vanished between the search and the read');
    const [, , value] = pair[1] as [string, Buffer, Buffer, string];
    return value.toString('utf8');
  } catch (err) {
    return defer(err);
  }
}

/**
 * Stores the value the way the addon does, so that the daemon sees the same calls: an
 * existing item gets its secret replaced in place (Item.SetSecret, one call, whole or not at
 * all: the old entry is never deleted first), and only when there is none is one created in
 * the default collection. A locked or ambiguous store is left to the addon.
 */
export async function writeSecret(service: string, account: string, value: string): Promise<void> {
  try {
    const s = await open();
    const found = await search(s, service, account);
    if (found.locked.length !== 0 || found.unlocked.length > 1) throw notOne(found);
    const secret: Value[] = [await s.session, Buffer.alloc(0), Buffer.from(value, 'utf8'), 'text/plain'];
    if (found.unlocked.length === 1) {
      await s.bus.call({ destination: DEST, path: found.unlocked[0], iface: ITEM, member: 'SetSecret', signature: '(oayays)', args: [secret], reply: '' });
      return;
    }
    const props: Value[] = [
      [`${ITEM}.Label`, ['s', `keyring:${account}@${service}`]],
      [`${ITEM}.Attributes`, ['a{ss}', attributes(service, account)]],
    ];
    const [, prompt] = await s.bus.call({ destination: DEST, path: DEFAULT_COLLECTION, iface: COLLECTION, member: 'CreateItem', signature: 'a{sv}(oayays)b', args: [props, secret, true], reply: 'oo' });
    // A prompt means the collection is locked; nothing was written.
    if (prompt !== '/') throw new SecretServiceDeferred('the default collection asks for a prompt (locked)');
  } catch (err) {
    defer(err);
  }
}
