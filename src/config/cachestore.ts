// Which store a profile's credential cache uses (keychain, file or none), and the one order
// in which the choice is made: the --cache flag, then KEYROLE_CACHE, then the profile's
// keyrole_cache, then the keychain (docs/configuration.md). resolveSettings records the
// winning choice in Settings.cache; every command asks storeKind(settings.cache).
//
// The value is checked when a store is opened, not when the settings are made: a bad
// keyrole_cache must not make the profile unresolvable for the commands that clear every
// store whatever the profile says (`remove`, `sso logout`: src/credentials/plan.ts,
// entriesUnder), nor hide the profile's other problems from doctor.

import { KeyroleError } from '../util/errors.ts';
import type { Section } from './ini.ts';

export type StoreKind = 'keychain' | 'file' | 'none';

/** The cache choice that won, as written, and where it was written (for the error that names it). */
export interface CacheChoice { value: string; from: string }

const DEFAULT: CacheChoice = { value: 'keychain', from: 'the default' };

/** --cache flag, then KEYROLE_CACHE, then the profile's keyrole_cache, then the keychain. */
export function cacheChoice(flag: string | undefined, profile: Section, profileName: string | undefined, env: NodeJS.ProcessEnv = process.env): CacheChoice {
  if (flag) return { value: flag, from: '--cache' };
  if (env.KEYROLE_CACHE) return { value: env.KEYROLE_CACHE, from: 'KEYROLE_CACHE' };
  if (profile.keyrole_cache) return { value: profile.keyrole_cache, from: `keyrole_cache in profile ${profileName}` };
  return DEFAULT;
}

export function parseStoreKind(raw: string, from: string): StoreKind {
  const v = raw.trim().toLowerCase();
  if (v === 'keychain' || v === 'file' || v === 'none') return v;
  throw new KeyroleError('BadCacheChoice', `${from} = ${JSON.stringify(raw)} is not a cache store keyrole knows`, 'use keychain (the default), file or none');
}

/** The store a choice names; a value keyrole does not know is one line naming where it was written. */
export function storeKind(c: CacheChoice): StoreKind {
  return parseStoreKind(c.value, c.from);
}
