// The keychain addon's calls (@napi-rs/keyring: the macOS Keychain, Windows Credential
// Manager, the Secret Service off the hot path, the kernel keyring), each bounded in time.
// The hot path's Secret Service calls go through keyrole's own client instead
// (src/keychain/secretservice.ts: 5 s per call). The addon's calls are synchronous and
// cannot be interrupted, so on the Secret Service store a watchdog thread (addon()) ends the
// process with one line when one has not returned within ADDON_TIMEOUT_MS. Regression: a bus
// that authenticated and then said nothing hung keyrole for over 100 s inside the addon.
//
// A process that serves for days (`serve`, `exec --server`: longLived()) must not be ended
// by that watchdog: an unlock prompt nobody answers, or a daemon stopped for a while, would
// take the endpoint down and leave exec's program without credentials. There each addon call
// runs in a short-lived keyrole child (`keyrole __keychain-call`, the same code under its own
// watchdog), whose end, or whose kill, fails that one request with the watchdog's line. A
// child, not a worker thread: a thread stuck in the addon can be neither stopped nor joined,
// and Node joins its threads on exit. The call's parameters and a value to store go over
// the child's stdin, never its argv. It costs a process start (~50 ms) on the addon's paths
// only: the hot path's reads and writes are the direct client's.

import { KeyroleError, isErrorCode, oneLine } from '../util/errors.ts';
import { selfArgv } from '../util/self.ts';
import { debug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { nodeRequire } from '../util/require.ts';
import { loadKeyring } from './native.ts';
import { keychainError } from './failure.ts';
import { readValue, windowsAccounts, windowsFilter, windowsUserName, writeValue } from './credman.ts';
import { storeName } from './selection.ts';
import type { Entry as EntryType, EntryOptions } from '@napi-rs/keyring';
import type * as WorkerThreads from 'node:worker_threads';

// Long enough for a person at the desktop's unlock prompt (the addon waits for it), short
// enough that a silent bus is not a hang: a gnome-keyring answers in milliseconds.
export const ADDON_TIMEOUT_MS = 30_000;

// The watchdog runs in its own thread, whose timers fire while the main thread is inside
// the addon. It writes the one line itself and ends the process with SIGKILL: a signal
// Node would have to handle on the blocked main thread never would be. getBuiltinModule,
// not require: the code runs as a module or as a script depending on the parent's flags.
const WATCHDOG = `
const { parentPort } = process.getBuiltinModule('node:worker_threads');
const { writeSync } = process.getBuiltinModule('node:fs');
let timer;
parentPort.on('message', (m) => {
  clearTimeout(timer);
  if (m.line) timer = setTimeout(() => { try { writeSync(2, m.line + '\\n'); } finally { process.kill(process.pid, 'SIGKILL'); } }, m.ms);
});`;

let watchdog: WorkerThreads.Worker | undefined;

/** One call of the addon, by name: what a child can be asked to make (addon(), longLived()). */
export type AddonOp =
  | { op: 'get'; service: string; account: string }
  | { op: 'set'; service: string; account: string; value: string }
  | { op: 'delete'; service: string; account: string }
  | { op: 'find'; service: string };

type Result = string | null | boolean | string[];

function entryOptions(): EntryOptions {
  const store = storeName();
  return store === 'secret-service' || store === 'keyutils' ? { linux: { store } } : {};
}

function entry(service: string, account: string): EntryType {
  try {
    return new (loadKeyring().Entry)(service, process.platform === 'win32' ? windowsUserName(service, account) : account, entryOptions());
  } catch (err) {
    if (err instanceof KeyroleError) throw err;
    throw keychainError(err, `open ${service}/${account}`);
  }
}

function runOp(o: AddonOp): Result {
  switch (o.op) {
    case 'get': return readValue(entry(o.service, o.account), process.platform);
    case 'set': writeValue(entry(o.service, o.account), o.value, process.platform); return null;
    case 'delete': return entry(o.service, o.account).deleteCredential();
    case 'find':
      // Credential Manager's filter is a prefix and one trailing '*' (windowsFilter).
      if (process.platform === 'win32') return windowsAccounts(o.service, loadKeyring().findCredentials(o.service, windowsFilter(o.service)).map((c) => c.account));
      return loadKeyring().findCredentials(o.service).map((c) => c.account);
  }
}

let serving = false;
/** This process serves for days (`serve`, `exec --server`): the addon's calls are made in a child, so that a hang fails a request and not the process. */
export function longLived(): void {
  serving = true;
}

/** The op's result, or the process ended with one line if the addon has not returned within ADDON_TIMEOUT_MS. */
export function addon<T extends Result>(action: string, o: AddonOp): T {
  // The kernel keyring and the macOS and Windows stores never wait on another process's
  // whim (macOS may wait on a person at its own access prompt, which must not be cut short).
  if (storeName() !== 'secret-service') return runOp(o) as T;
  if (serving) return inChild(action, o) as T;
  if (!watchdog) {
    const { Worker } = nodeRequire()('node:worker_threads') as typeof WorkerThreads;
    watchdog = new Worker(WATCHDOG, { eval: true, stdout: false, stderr: false });
    watchdog.unref();
  }
  watchdog.postMessage({ line: timeoutLine(action), ms: ADDON_TIMEOUT_MS });
  try {
    return runOp(o) as T;
  } finally {
    watchdog.postMessage({});
  }
}

const TIMEOUT_FIX = 'check that gnome-keyring (or your Secret Service) is running and responsive and that no unlock prompt is waiting, and that DBUS_SESSION_BUS_ADDRESS points at your own session bus';
const timeoutMessage = (action: string) => `the Secret Service did not answer within ${ADDON_TIMEOUT_MS / 1000} s, so keyrole cannot ${printable(action)}`;
const timeoutLine = (action: string) => `keyrole: ${timeoutMessage(action)}; ${TIMEOUT_FIX}`;

/** The name of the child's command (src/cli.ts): not a command a person runs. */
export const KEYCHAIN_CALL = '__keychain-call';

/** Makes the call in a keyrole child and waits for it (see the module comment). */
function inChild(action: string, o: AddonOp): Result {
  const { spawnSync } = nodeRequire()('node:child_process') as typeof import('node:child_process');
  const [file, ...args] = selfArgv();
  const r = spawnSync(file, [...args, KEYCHAIN_CALL], {
    input: JSON.stringify({ action, op: o }),
    // Its own watchdog ends it first; this bound is for a child that cannot even start.
    timeout: ADDON_TIMEOUT_MS + 30_000,
    killSignal: 'SIGKILL',
    maxBuffer: 4 * 1024 * 1024,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let answer: { ok?: Result; error?: string; keyrole?: { code: string; message: string; fix?: string } } | undefined;
  try { answer = r.status === 0 ? JSON.parse(r.stdout) as typeof answer : undefined; } catch { /* below */ }
  if (answer && 'ok' in answer) return answer.ok!;
  if (answer?.keyrole && isErrorCode(answer.keyrole.code)) throw new KeyroleError(answer.keyrole.code, answer.keyrole.message, answer.keyrole.fix);
  if (answer?.error !== undefined) throw new Error(answer.error);
  debug(`keychain child for ${action}: ${r.signal ?? `exit ${r.status}`} ${oneLine(printable(r.stderr ?? '')).slice(0, 300)}`);
  throw new KeyroleError('KeychainTimeout', timeoutMessage(action), TIMEOUT_FIX);
}

/** `keyrole __keychain-call`: one addon call read from stdin, its result as JSON on stdout. */
export async function keychainCallMain(): Promise<void> {
  const { readFileSync: read } = nodeRequire()('node:fs') as typeof import('node:fs');
  const { action, op } = JSON.parse(read(0, 'utf8')) as { action: string; op: AddonOp };
  let out: object;
  try {
    out = { ok: addon(action, op) };
  } catch (err) {
    out = err instanceof KeyroleError ? { keyrole: { code: err.code, message: err.message, fix: err.fix } } : { error: String((err as Error)?.message ?? err) };
  }
  process.stdout.write(JSON.stringify(out));
}
