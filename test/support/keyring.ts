// A real Secret Service for one test or the demo: a private D-Bus session bus and a
// gnome-keyring daemon unlocked with a password, under a private HOME.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { endWithRun, tempDir } from './tmp.ts';
import { requireTool } from './tools.ts';
import { firstLine } from './firstline.ts';

export interface KeyringSession {
  home: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** A throw-away HOME (test/support/tmp.ts removes it with the run, killed or not). */
export function tempHome(prefix = 'home-'): string {
  return tempDir(prefix);
}

/**
 * A session bus with none of the system's .service files: nothing can be started by D-Bus
 * activation, so a name nobody owns stays unowned (gnome-keyring installs
 * org.freedesktop.secrets.service, which a standard session bus would start on the first
 * call to the Secret Service).
 */
function bareBusConfig(home: string): string {
  const path = join(home, 'bare-bus.conf');
  writeFileSync(path, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${home}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>
`, { mode: 0o600 });
  return path;
}

function startBus(home: string, activation = true): Promise<{ bus: ChildProcess; address: string }> {
  requireTool('dbus-daemon');
  const config = activation ? ['--session'] : [`--config-file=${bareBusConfig(home)}`];
  const bus = endWithRun(spawn('dbus-daemon', [...config, '--nofork', '--nopidfile', '--print-address=1'], {
    env: { ...process.env, HOME: home },
    stdio: ['ignore', 'pipe', 'ignore'],
  }));
  return firstLine(bus, 'dbus-daemon').then((line) => ({ bus, address: line.trim() }));
}

function secretsOwned(env: NodeJS.ProcessEnv): boolean {
  try {
    const out = execFileSync('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.freedesktop.secrets'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.includes('boolean true');
  } catch {
    return false;
  }
}

/**
 * Starts the bus and the keyring. With a `password` different from the one the keyring was
 * created with (same home), the login collection stays locked: the locked-keychain case.
 * `daemon: false` gives a bus with no Secret Service on it and none that D-Bus activation
 * could start (bareBusConfig): nothing owns org.freedesktop.secrets.
 */
export async function startKeyring(opts: { home?: string; password?: string; daemon?: boolean } = {}): Promise<KeyringSession> {
  requireTool('gnome-keyring-daemon');
  requireTool('dbus-send');
  const home = opts.home ?? tempHome();
  const { bus, address } = await startBus(home, opts.daemon !== false);
  const env: Record<string, string> = { HOME: home, DBUS_SESSION_BUS_ADDRESS: address };
  const full = { ...process.env, ...env };
  if (opts.daemon !== false) {
    execFileSync('gnome-keyring-daemon', ['--unlock', '--components=secrets', '--daemonize'], {
      input: opts.password ?? 'keyrole-test-password',
      env: full,
      stdio: ['pipe', 'ignore', 'ignore'],
      cwd: home,
    });
    // Without this wait, D-Bus activation can start a second daemon and leave the
    // collection locked (with the wait, 40 of 40 runs passed).
    const until = Date.now() + 30_000;
    while (!secretsOwned(full)) {
      if (Date.now() > until) throw new Error('gnome-keyring did not take org.freedesktop.secrets within 30 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    home,
    env,
    async stop() {
      // gnome-keyring-daemon exits when its bus goes away.
      if (bus.exitCode === null) {
        const gone = new Promise((r) => bus.once('exit', r));
        bus.kill('SIGTERM');
        await gone;
      }
      // A home made here goes with the session; one passed in belongs to the caller.
      if (!opts.home) rmSync(home, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/** The pid of the gnome-keyring that owns org.freedesktop.secrets on the world's bus. */
export function keyringPid(w: { env: Record<string, string> }): number {
  const out = execFileSync('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.GetConnectionUnixProcessID', 'string:org.freedesktop.secrets'], { env: { ...process.env, ...w.env }, encoding: 'utf8' });
  return Number(/uint32 (\d+)/.exec(out)![1]);
}

/** What `f` gets while process `pid` is stopped (SIGSTOP); it is continued (SIGCONT) whatever happens. */
export async function whileStopped<T>(pid: number, f: () => Promise<T>): Promise<T> {
  process.kill(pid, 'SIGSTOP');
  try {
    return await f();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}
