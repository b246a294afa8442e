// Sources in the keychain: read (synchronously, or on the hot path through the direct
// client), written, removed and listed, with one line for a source that is missing, from a
// newer keyrole, or not in keyrole's format. The entry's format is src/keychain/sourcekeys.ts.

import { KeyroleError } from '../util/errors.ts';
import { deleteItem, getItem, getItemFast, listAccounts, setItem } from './keychain.ts';
import { describeStore } from './selection.ts';
import { SOURCE_SERVICE, decodeSource, encodeSource, fromNewerKeyrole, type SourceKeys } from './sourcekeys.ts';

export function readSource(name: string): SourceKeys {
  return sourceFrom(name, getItem(SOURCE_SERVICE, name, `read source "${name}"`));
}

/** readSource on the hot path (a cache miss). */
export async function loadSource(name: string): Promise<SourceKeys> {
  return sourceFrom(name, await getItemFast(SOURCE_SERVICE, name, `read source "${name}"`));
}

function sourceFrom(name: string, raw: string | null): SourceKeys {
  if (raw === null) {
    throw new KeyroleError('SourceNotFound', `source "${name}" is not in ${describeStore()}`, `store its keys with: keyrole setup ${name}`);
  }
  const keys = decodeSource(raw);
  if (!keys && fromNewerKeyrole(raw)) {
    throw new KeyroleError('SourceFromNewerKeyrole', `the keychain entry for source "${name}" was written by a newer keyrole`, 'upgrade keyrole, or store the keys again with keyrole setup --force');
  }
  if (!keys) {
    throw new KeyroleError('SourceCorrupt', `the keychain entry for source "${name}" is not in keyrole's format (edited by hand or written by another tool)`, `store the keys again with: keyrole setup ${name} --force`);
  }
  return keys;
}

export function sourceExists(name: string): boolean {
  return getItem(SOURCE_SERVICE, name, `read source "${name}"`) !== null;
}

export function writeSource(name: string, keys: SourceKeys): void {
  setItem(SOURCE_SERVICE, name, encodeSource(keys), `store source "${name}"`);
}

export function removeSource(name: string): boolean {
  return deleteItem(SOURCE_SERVICE, name, `remove source "${name}"`);
}

export function listSources(): string[] {
  return listAccounts(SOURCE_SERVICE, 'list sources');
}
