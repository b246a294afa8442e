// `keyrole cache list` and `keyrole cache clear [profile]`.

import { loadAwsFiles } from '../config/files.ts';
import { resolveSettings } from '../config/settings.ts';
import { decodeEntry, fileStore, keychainStore, remainingMs, type CacheStore } from '../credentials/cache.ts';
import { keyFor, localUser, storeKindFor } from '../credentials/resolve.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { parseCommand } from './args.ts';
import { formatLeft } from '../util/duration.ts';
import { openStore } from '../credentials/cache.ts';

export async function main(argv: string[]): Promise<void> {
  const { positionals } = parseCommand('cache', argv, {});
  const [sub, profile, extra] = positionals;
  if (sub === 'list' && profile === undefined) return cacheListCommand();
  if (sub === 'clear' && extra === undefined) return cacheClearCommand(profile);
  throw usageError(`unknown cache command ${JSON.stringify(positionals.join(' '))}`, 'use keyrole cache list or keyrole cache clear [profile]');
}

function stores(): CacheStore[] {
  return [keychainStore(), fileStore()];
}

export interface CacheRow { profile: string; role: string; expiresIn: string; store: string; key: string }

/** Each store that can be read; one that cannot (no keychain here) is reported, not fatal. */
export async function cacheRows(now = Date.now()): Promise<{ rows: CacheRow[]; problems: string[] }> {
  const rows: CacheRow[] = [];
  const problems: string[] = [];
  for (const store of stores()) {
    let items;
    try {
      items = await store.list();
    } catch (err) {
      problems.push(`${store.kind} store: ${err instanceof KeyroleError ? err.message : (err as Error).message}`);
      continue;
    }
    for (const { key, value } of items) {
      const e = decodeEntry(value);
      rows.push(e
        ? { profile: e.profile ?? '-', role: e.roleArn ?? `(session of ${e.source})`, expiresIn: formatLeft(remainingMs(e, now)), store: store.kind, key }
        : { profile: '?', role: '(unreadable entry)', expiresIn: '-', store: store.kind, key });
    }
  }
  return { rows, problems };
}

export async function cacheListCommand(): Promise<void> {
  const { rows, problems } = await cacheRows();
  for (const p of problems) process.stderr.write(`keyrole: skipped the ${p}\n`);
  if (!rows.length) {
    process.stdout.write('The cache is empty.\n');
    return;
  }
  const header: CacheRow = { profile: 'PROFILE', role: 'ROLE', expiresIn: 'EXPIRES IN', store: 'STORE', key: '' };
  const all = [header, ...rows];
  const w = (k: keyof CacheRow) => Math.max(...all.map((r) => r[k].length));
  const [wp, wr, we] = [w('profile'), w('role'), w('expiresIn')];
  for (const r of all) process.stdout.write(`${r.profile.padEnd(wp)}  ${r.role.padEnd(wr)}  ${r.expiresIn.padEnd(we)}  ${r.store}\n`);
}

export async function cacheClearCommand(profile: string | undefined): Promise<void> {
  if (profile) {
    const files = await loadAwsFiles();
    const s = resolveSettings(files, profile, {}, localUser());
    const store = openStore(storeKindFor(files, s));
    const removed = await store.delete(keyFor(s));
    process.stdout.write(removed ? `Cleared the cached credentials of profile ${profile} (${store.kind} store).\n` : `Nothing cached for profile ${profile}.\n`);
    return;
  }
  let n = 0;
  for (const store of stores()) {
    let items;
    try {
      items = await store.list();
    } catch (err) {
      process.stderr.write(`keyrole: skipped the ${store.kind} store: ${(err as Error).message}\n`);
      continue;
    }
    for (const { key } of items) if (await store.delete(key)) n++;
  }
  process.stdout.write(`Cleared ${n} cached credential${n === 1 ? '' : 's'}.\n`);
}
