// Which store keyrole's keychain is, and what a person is told about it. On Linux the store
// is pinned to the Secret Service: the addon's default would otherwise fall back to the
// kernel keyring without a word when no D-Bus session exists, and the user's keys would land
// in a store that is gone at reboot. The kernel keyring is an explicit choice
// (KEYROLE_KEYCHAIN=keyutils), as is keyrole's encrypted file store (KEYROLE_KEYCHAIN=file);
// the file store is also chosen by itself where no Secret Service can answer (below).
//
// One module owns the choice: the facade (src/keychain/keychain.ts), the addon's calls, the
// error wording, doctor and `keyrole store` all ask storeName() here, which reads the
// environment on every call (`keyrole store move` switches stores by setting it).

import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyroleError } from '../util/errors.ts';
import { privateDir } from '../util/home.ts';
import { printable } from '../util/printable.ts';
import { readStoreFile, storeDir, storeExists } from './filestore.ts';

export type StoreName = 'secret-service' | 'keyutils' | 'file' | 'native';

export function storeName(): StoreName {
  const chosen = (process.env.KEYROLE_KEYCHAIN ?? '').trim();
  if (chosen === 'file') return 'file';
  if (process.platform !== 'linux') return 'native';
  if (!chosen && autoReason()) return 'file';
  const choice = chosen || 'secret-service';
  if (choice === 'secret-service' || choice === 'keyutils') return choice;
  throw new KeyroleError('BadKeychainChoice', `KEYROLE_KEYCHAIN=${choice} is not a keychain keyrole knows`, 'use secret-service (the default), keyutils or file');
}

// ---- the file store, chosen by itself ----
// On Linux with KEYROLE_KEYCHAIN unset, keyrole uses its file store by itself where no
// Secret Service can answer, and says so once (the record below):
// - no D-Bus session (DBUS_SESSION_BUS_ADDRESS unset): known from the environment, no probe;
// - a D-Bus session on which nothing owns org.freedesktop.secrets and no .service file can
//   start it: known only from the bus's own answer to a Secret Service call
//   (org.freedesktop.DBus.Error.ServiceUnknown or NameHasNoOwner, src/keychain/secretservice.ts
//   NoSecretServiceOnBus). Commands that start with the credential cache (a kernel-copy hit
//   must touch no D-Bus) learn it from their first Secret Service call, which is then made
//   on the file store (src/keychain/keychain.ts); the others ask once before they run
//   (src/keychain/prepare.ts). (Where such a command's first call is a synchronous one, an
//   SSO or sign-in record read with keyrole_cache=file, that call fails with NoSecretService
//   and its fix; the next command that asks, or a keychain cache miss, makes the choice.)
// Never on anything less certain: a bus that does not answer in time, a broken or stale bus
// address (no socket), a locked collection, a refused unlock prompt, or
// KEYROLE_KEYCHAIN=secret-service are failures with their fix, not a reason to switch: a
// switch there would put new keys in a second store beside the ones the Secret Service
// keeps.
//
// Once keyrole has chosen its file store by itself and created it, it keeps using it,
// whatever the session has now: a Secret Service that appears later (gnome-keyring
// installed, KeePassXC started) does not hide the keys already in the file store, and a
// KeePassXC that is closed again does not split them. `keyrole store move --to
// secret-service` moves every entry and ends the choice (forgetAutoChoice); `doctor` says
// which store is in use and why, and when a Secret Service answers beside a kept file store.

/** Why keyrole uses its file store by itself. */
export type AutoReason = 'no-bus' | 'no-secret-service' | 'kept';

/** The record of the choice, in the store's directory: its presence also means the notice was said. */
const RECORD = 'auto-selected';

// This process found no Secret Service on its bus (chooseFileStore).
let absentHere = false;
// Whether this home's file store was chosen by itself and exists, for the store directory it was read for.
let kept: { dir: string; value: boolean } | undefined;

/** Linux, KEYROLE_KEYCHAIN unset: the only place keyrole chooses a store by itself. */
function choosing(): boolean {
  return process.platform === 'linux' && !(process.env.KEYROLE_KEYCHAIN ?? '').trim();
}

function keptFileStore(): boolean {
  const dir = storeDir();
  // One look per process (a stat where nothing was chosen): storeName() runs on every call.
  if (kept?.dir !== dir) kept = { dir, value: existsSync(join(dir, RECORD)) && storeExists() };
  return kept.value;
}

/**
 * Why the file store is used without KEYROLE_KEYCHAIN=file naming it, or undefined: no
 * D-Bus session, no Secret Service found on it by this process, or a file store chosen so
 * earlier and kept (see above).
 */
export function autoReason(): AutoReason | undefined {
  if (!choosing()) return undefined;
  if (!process.env.DBUS_SESSION_BUS_ADDRESS) return 'no-bus';
  if (absentHere) return 'no-secret-service';
  return keptFileStore() ? 'kept' : undefined;
}

/** Whether a Secret Service call that found nobody on the bus may make keyrole use its file store (the default store, not one the user named). */
export function mayChooseFileStore(): boolean {
  return choosing() && !!process.env.DBUS_SESSION_BUS_ADDRESS && !absentHere;
}

type FoundReason = Exclude<AutoReason, 'kept'>;
/** Why, in a few words (doctor, `keyrole store status`, the record). */
const REASON_WORDS: Record<FoundReason, string> = {
  'no-bus': 'no D-Bus session',
  'no-secret-service': 'no Secret Service on the D-Bus session',
};
/** Why, as the notice says it once. */
const NOTICE_WORDS: Record<FoundReason, string> = {
  'no-bus': 'no D-Bus session (DBUS_SESSION_BUS_ADDRESS is unset)',
  'no-secret-service': 'no Secret Service on this D-Bus session (nothing owns org.freedesktop.secrets)',
};

/** What the record says keyrole chose its file store for, in words; undefined where there is none. */
export function recordedReason(): string | undefined {
  const text = readStoreFile(join(storeDir(), RECORD))?.toString('utf8');
  const m = text && /^keyrole chose its file store: (.{1,200})$/m.exec(text);
  return m ? printable(m[1]) : undefined;
}

/** Why keyrole uses its file store by itself, in words (doctor, `keyrole store status`); undefined where it does not. */
export function autoReasonWords(): string | undefined {
  const why = autoReason();
  if (!why) return undefined;
  if (why !== 'kept') return REASON_WORDS[why];
  return `${recordedReason() ?? 'no Secret Service answered'}, kept until keyrole store move`;
}

/** This process found no Secret Service on its bus: it uses the file store from now on (storeName). */
export function noSecretServiceHere(): void {
  absentHere = true;
}

/**
 * keyrole uses its file store from now on in this process, and says so once per keyrole
 * home (the record's presence): on stderr, with what to do instead.
 */
export function chooseFileStore(reason: FoundReason): void {
  if (reason === 'no-secret-service') noSecretServiceHere();
  const dir = privateDir(storeDir());
  if (readStoreFile(join(dir, RECORD))) return;
  process.stderr.write(`keyrole: ${NOTICE_WORDS[reason]}, so keyrole keeps its keys in its encrypted file store in ${dir}; set KEYROLE_KEYCHAIN=file to say so, or start a Secret Service and run keyrole store move --to secret-service\n`);
  try { writeFileSync(join(dir, RECORD), `keyrole chose its file store: ${REASON_WORDS[reason]}\n`, { mode: 0o600, flag: 'wx' }); } catch { /* another process told it */ }
  kept = undefined;
}

/** `keyrole store move` took every entry out of the file store: the choice ends, and the default store is used again. */
export function forgetAutoChoice(): void {
  try { unlinkSync(join(storeDir(), RECORD)); } catch { /* none was made */ }
  kept = undefined;
  absentHere = false;
}

/**
 * What a person storing long-term keys must know about the chosen store, or undefined: the
 * kernel keyring (KEYROLE_KEYCHAIN=keyutils) lives in memory, so a reboot forgets the keys.
 */
export function volatileStoreNotice(): string | undefined {
  if (storeName() !== 'keyutils') return undefined;
  return 'KEYROLE_KEYCHAIN=keyutils keeps long-term keys in the kernel keyring, in memory only: they are gone at reboot, so keep a way to run keyrole setup again (or use the Secret Service)';
}

/** The store in words, for the one-line failures ("… is locked, so keyrole cannot …"). */
export function describeStore(): string {
  switch (storeName()) {
    case 'secret-service': return 'the Secret Service keychain';
    case 'keyutils': return 'the kernel keyring (keyutils)';
    case 'file': return 'keyrole\'s file store';
    default: return process.platform === 'darwin' ? 'the macOS Keychain' : 'Windows Credential Manager';
  }
}
