// A second local user for the tests where another person on the same machine is the
// adversary: a real account (created with useradd when missing; the tests run as root),
// whose programs are started with child_process's uid/gid options.

import { execFileSync, spawnSync } from 'node:child_process';

export const OTHER_USER = 'keyrole-other';

export interface LocalUser { name: string; uid: number; gid: number }

function lookup(name: string): LocalUser | undefined {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  const f = r.status === 0 ? r.stdout.trim().split(':') : [];
  return f.length >= 4 ? { name, uid: Number(f[2]), gid: Number(f[3]) } : undefined;
}

/** The other user, created on first use. */
export function otherUser(): LocalUser {
  const have = lookup(OTHER_USER);
  if (have) return have;
  if (process.getuid?.() !== 0) throw new Error(`the user ${OTHER_USER} is missing and only root can create it: run the tests as root, or useradd --system --no-create-home --shell /usr/sbin/nologin ${OTHER_USER}`);
  try {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', OTHER_USER], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    // A test file running in parallel created it first.
    if (!lookup(OTHER_USER)) throw err;
  }
  const made = lookup(OTHER_USER);
  if (!made) throw new Error(`useradd did not create ${OTHER_USER}`);
  return made;
}
