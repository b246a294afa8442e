// One isolated world for an end-to-end test: a private HOME with ~/.aws/config, a real
// unlocked gnome-keyring on a private D-Bus, the emulator, and the built keyrole, which
// keeps its kernel-keyring copies as users' does (sealed under the home's own key).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKeyring, type KeyringSession } from './keyring.ts';
import { startEmulatorProcess, type EmulatorProcess, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from './emulator.ts';
import { keyrole, KEYROLE, run, type RunOptions, type RunResult } from './run.ts';
import { dropHomeKeys } from './kernelkeys.ts';

export interface World {
  home: string;
  configPath: string;
  emu: EmulatorProcess;
  keyring: KeyringSession;
  /** The environment a user's shell would have: HOME, the D-Bus session, the STS endpoint. */
  env: Record<string, string>;
  writeConfig(text: string): void;
  setup(source: string, id?: string, secret?: string): Promise<RunResult>;
  keyrole(args: string[], o?: RunOptions): Promise<RunResult>;
  run(cmd: string, args: string[], o?: RunOptions): Promise<RunResult>;
  stop(): Promise<void>;
}

/** A profile in the shape the README shows, pointing at the built executable by absolute path. */
export function keyroleProfile(name: string, lines: Record<string, string | number>): string {
  const body = Object.entries(lines).map(([k, v]) => `${k} = ${v}`).join('\n');
  return `[profile ${name}]\ncredential_process = ${KEYROLE} process ${name}\n${body}\n`;
}

/** `emulator`: another world's, shared (that world stops it); otherwise the world starts its own. */
export async function startWorld(o: { emulatorArgs?: string[]; keyring?: boolean; emulator?: EmulatorProcess } = {}): Promise<World> {
  const keyring = await startKeyring({ daemon: o.keyring !== false });
  const emu = o.emulator ?? await startEmulatorProcess(o.emulatorArgs ?? []);
  const home = keyring.home;
  mkdirSync(join(home, '.aws'), { recursive: true, mode: 0o700 });
  const configPath = join(home, '.aws', 'config');
  const env = { ...keyring.env, AWS_ENDPOINT_URL_STS: emu.url };
  const merge = (x?: RunOptions): RunOptions => ({ ...x, env: { ...env, ...x?.env } });
  return {
    home,
    configPath,
    emu,
    keyring,
    env,
    writeConfig(text) {
      writeFileSync(configPath, text, { mode: 0o600 });
    },
    setup(source, id = DEMO_ACCESS_KEY_ID, secret = DEMO_SECRET_ACCESS_KEY) {
      return keyrole(['setup', source, '--force', '--no-verify'], merge({ input: `${id}\n${secret}\n` }));
    },
    keyrole: (args, x) => keyrole(args, merge(x)),
    run: (cmd, args, x) => run(cmd, args, merge(x)),
    async stop() {
      // The kernel keyring outlives the world: its copies go with it.
      await dropHomeKeys(join(home, '.aws', 'keyrole'));
      if (!o.emulator) await emu.stop();
      await keyring.stop();
    },
  };
}

/** A world with `config` as its ~/.aws/config and `source`'s keys (the emulator's demo user's) stored. */
export async function worldWithSource(config: string, source = 'alice'): Promise<World> {
  const w = await startWorld();
  w.writeConfig(config);
  const s = await w.setup(source);
  if (s.code !== 0) {
    await w.stop();
    throw new Error(`keyrole setup ${source} failed: ${s.stderr}`);
  }
  return w;
}

/** Between the tests of one world: the emulator behaving normally with its counts at zero, keyrole's cache empty. */
export async function resetWorld(w: World): Promise<void> {
  await w.emu.behaviour({ latencyMs: 0, credentialLifetimeSeconds: null, faults: [] });
  await w.keyrole(['cache', 'clear']);
  await w.emu.resetStats();
}

/** A world with alice's keys stored and two profiles for one role: `prod` on the file store, `kc` on the keychain store. */
export async function twoStoreWorld(roleArn: string): Promise<World> {
  return worldWithSource([
    keyroleProfile('prod', { keyrole_source: 'alice', keyrole_role_arn: roleArn, keyrole_cache: 'file' }),
    keyroleProfile('kc', { keyrole_source: 'alice', keyrole_role_arn: roleArn }),
  ].join('\n'));
}
