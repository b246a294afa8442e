// What a keyrole home keeps in the kernel keyring, seen from outside keyrole: its key file
// (~/.aws/keyrole/kernel-keyring.key: 32 bytes to seal with, 32 to name with, an 8-byte
// public tag), the kernel's own list (/proc/keys) and keyctl. The names are computed here
// with node:crypto, independently of keyrole's own code (src/keychain/seal.ts uses
// @noble/hashes), so a test that finds a copy under this name checks the derivation too.
//
// The copies live in this user's persistent keyring, shared by every test world of every
// run (the test support runs keyrole with the copies on, as users do): each world's home
// has its own key, so a world sees only its own copies, and stop() drops them (the kernel
// counts their bytes against the user's quota until then).

import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run.ts';

export const SEAL_KEY_FILE = 'kernel-keyring.key';

export function sealKeyFile(keyroleHome: string): string {
  return join(keyroleHome, SEAL_KEY_FILE);
}

/** The home's key file, or undefined when keyrole has not made one (nothing sealed yet). */
function keyOf(keyroleHome: string): Buffer | undefined {
  const path = sealKeyFile(keyroleHome);
  return existsSync(path) ? readFileSync(path) : undefined;
}

/** The public tag every kernel name of this home starts with. */
export function tagOf(keyroleHome: string): string | undefined {
  return keyOf(keyroleHome)?.subarray(64, 72).toString('hex');
}

/** The kernel name keyrole gives `account` of `service` in this home. */
export function kernelNameOf(keyroleHome: string, service: string, account: string): string {
  const k = keyOf(keyroleHome);
  if (!k) throw new Error(`${sealKeyFile(keyroleHome)} is missing: keyrole has sealed nothing in this home`);
  return k.subarray(64, 72).toString('hex') + createHmac('sha256', k.subarray(32, 64)).update(`${service}\0${account}`).digest().subarray(0, 16).toString('hex');
}

export interface KernelKey { id: string; name: string; service: string; perm: number }

/** Every `keyring:<name>@<service>` key the kernel lists (/proc/keys), of any home. */
export function listedKeys(service?: string): KernelKey[] {
  const out: KernelKey[] = [];
  for (const m of readFileSync('/proc/keys', 'utf8').matchAll(/^([0-9a-f]+) +\S+ +\d+ +\S+ +([0-9a-f]+) +\d+ +\d+ +user +keyring:(.+)@(keyrole:[a-z-]+): /gm)) {
    if (service === undefined || m[4] === service) out.push({ id: m[1], perm: parseInt(m[2], 16), name: m[3], service: m[4] });
  }
  return out;
}

/** This home's keys of `service` (by its tag); none when it has no key file. */
export function homeKeys(keyroleHome: string, service = 'keyrole:cache'): KernelKey[] {
  const tag = tagOf(keyroleHome);
  return tag ? listedKeys(service).filter((k) => k.name.startsWith(tag)) : [];
}

/** keyctl in a new session that holds this user's persistent keyring, as keyrole's keys are reached. */
export function keyctlWithPersistent(script: string, args: string[]) {
  return run('keyctl', ['session', '-', 'sh', '-c', `keyctl get_persistent @s >/dev/null && ${script}`, 'sh', ...args]);
}

/** The bytes stored in a key (hex), read as its owner would. */
export async function keyBytes(id: string): Promise<Buffer> {
  const r = await keyctlWithPersistent('keyctl pipe "0x$1" | od -An -v -tx1', [id]);
  if (r.code !== 0) throw new Error(`keyctl pipe ${id}: ${r.stderr}`);
  return Buffer.from(r.stdout.replace(/\s+/g, ''), 'hex');
}

/** Removes every kernel key of this home (a world's teardown). */
export async function dropHomeKeys(keyroleHome: string): Promise<void> {
  const ids = [...homeKeys(keyroleHome, 'keyrole:cache'), ...homeKeys(keyroleHome, 'keyrole:source'), ...homeKeys(keyroleHome, 'keyrole:filestore')].map((k) => k.id);
  if (ids.length) await keyctlWithPersistent('for id; do keyctl invalidate "0x$id" 2>/dev/null; done; true', ids);
}
