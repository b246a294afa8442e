// keyrole on its file store with no D-Bus session at all, for the file-store suites
// (test/filestore.e2e.test.ts, test/filestore-commands.e2e.test.ts): a world whose keyrole
// runs without DBUS_SESSION_BUS_ADDRESS (so keyrole picks its file store by itself) and
// finds the passphrase in a 0600 file; a simulated reboot; and what the tests read back
// from HOME (every file's bytes, the files that hold a secret in plaintext).

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, type World } from './world.ts';
import { dropHomeKeys } from './kernelkeys.ts';
import type { RunResult } from './run.ts';

export const PASSPHRASE = 'correct horse battery staple';

export interface FileStoreWorld {
  w: World;
  /** <HOME>/.aws/keyrole/store */
  store: string;
  /** The passphrase file KEYROLE_PASSPHRASE_FILE names by default. */
  ppFile: string;
  /** The world's environment without a D-Bus session, with KEYROLE_PASSPHRASE_FILE set. */
  noBus: Record<string, string | undefined>;
  /** keyrole with `noBus` (and `env` over it). */
  kr(args: string[], env?: Record<string, string | undefined>, input?: string): Promise<RunResult>;
  /** The session's unlocked key gone, as after a reboot: this home's kernel keys are dropped (the cache's copies too). */
  reboot(): Promise<void>;
}

/** A world for keyrole's file store. `keyring: false`: no gnome-keyring on the world's bus (nobody asks it). */
export async function fileStoreWorld(o: { keyring?: boolean } = {}): Promise<FileStoreWorld> {
  const w = await startWorld({ keyring: o.keyring });
  const ppFile = join(w.home, 'passphrase');
  writeFileSync(ppFile, `${PASSPHRASE}\n`, { mode: 0o600 });
  const noBus = { DBUS_SESSION_BUS_ADDRESS: undefined, KEYROLE_PASSPHRASE_FILE: ppFile };
  return {
    w,
    store: join(w.home, '.aws', 'keyrole', 'store'),
    ppFile,
    noBus,
    kr: (args, env = {}, input) => w.keyrole(args, { env: { ...noBus, ...env }, input, timeoutMs: 120_000 }),
    reboot: () => dropHomeKeys(join(w.home, '.aws', 'keyrole')),
  };
}

/** Every file under `dir` with its bytes. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.set(join(e.parentPath, e.name), readFileSync(join(e.parentPath, e.name)).toString('hex'));
  }
  return out;
}

/** Files under `dir` whose bytes contain `needle`. */
export function filesHolding(dir: string, needle: string): string[] {
  return [...snapshot(dir)].filter(([, hex]) => Buffer.from(hex, 'hex').includes(needle)).map(([p]) => p);
}
