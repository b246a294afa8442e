// `keyrole list` and `keyrole remove <source>`.

import { listSources, readSource, removeSource, writeSource } from '../keychain/sources.ts';
import type { SourceKeys } from '../keychain/sourcekeys.ts';
import { decodeEntry, fileStore, keychainStore } from '../credentials/cache.ts';
import { deleteEntries, entriesUnder, keyroleProfileNames, layersOf } from '../credentials/plan.ts';
import { resolveSettings, type Settings } from '../config/settings.ts';
import { localUser } from '../credentials/user.ts';
import { printable } from '../util/printable.ts';
import { table } from '../util/table.ts';
import { loadAwsFiles, profileNames } from '../config/files.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { parseCommand } from './args.ts';
import { redactKeyId } from '../util/debug.ts';
import { confirm, openTerminal } from '../util/prompt.ts';

export async function listMain(argv: string[]): Promise<void> {
  const { positionals } = parseCommand('list', argv, {});
  if (positionals.length) throw usageError('list takes no arguments', 'keyrole list');
  return listCommand();
}

export async function removeMain(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('remove', argv, { force: { type: 'boolean', short: 'f' } });
  if (positionals.length !== 1) throw usageError('remove takes one source name', 'keyrole remove <source>');
  return removeCommand(positionals[0], !!v.force);
}

/** What a keyrole profile rests on, for `list`: a keychain source, another profile, or IAM Identity Center. */
function describeProfile(s: Settings): [string, string] {
  const uses = s.sourceKind === 'keychain' ? `source ${s.source}${s.mfaSerial ? ' + MFA' : ''}`
    : s.sourceKind === 'profile' ? `profile ${s.sourceProfile}`
      : s.sourceKind === 'login' ? `AWS Sign-In ${s.login!.session}`
      : `IAM Identity Center ${s.sso!.session ?? s.sso!.startUrl} ${s.sso!.accountId}/${s.sso!.roleName}`;
  return [uses, s.roleArn ?? (s.sourceKind === 'sso' ? '(the permission set)' : s.sourceKind === 'login' ? '(the signed-in identity)' : '(no role: GetSessionToken)')];
}

export async function listCommand(): Promise<void> {
  const names = listSources();
  const files = await loadAwsFiles();
  const profiles = keyroleProfileNames(files).sort();
  const settings = new Map<string, Settings | Error>();
  for (const p of profiles) {
    try { settings.set(p, resolveSettings(files, p, {}, localUser())); } catch (err) { settings.set(p, err as Error); }
  }
  const out: string[] = [];
  if (!names.length) {
    out.push('No sources in the keychain. Add one with: keyrole setup <name>\n');
  } else {
    const rows = [['SOURCE', 'ACCESS KEY', 'PROFILES']];
    for (const name of names) {
      let key: string;
      try { key = redactKeyId(readSource(name).accessKeyId); } catch { key = '(unreadable)'; }
      const users = profiles.filter((p) => { const s = settings.get(p); return !(s instanceof Error) && s?.sourceKind === 'keychain' && s.source === name; });
      rows.push([printable(name), key, users.length ? users.map(printable).join(', ') : '(no profile uses it)']);
    }
    out.push(table(rows));
  }
  if (profiles.length) {
    const rows = [['PROFILE', 'USES', 'ROLE']];
    for (const p of profiles) {
      const s = settings.get(p)!;
      rows.push(s instanceof Error ? [printable(p), '(not usable)', printable(s.message).slice(0, 100)] : [printable(p), ...describeProfile(s).map(printable)]);
    }
    out.push(table(rows));
  }
  process.stdout.write(out.join('\n'));
}

/**
 * Ends everything a source's keys produced: every cache entry of every layer of every
 * profile whose plan rests on the source (its session, its MFA session, the roles and
 * chains above them), and any entry written for the source by a profile that has changed
 * or gone since. Returns the number of entries removed and the profiles that use the source.
 */
export async function clearSourceCaches(name: string): Promise<{ cleared: number; users: string[]; problems: string[] }> {
  const users = new Set<string>();
  const problems = new Map<string, string>();
  let cleared = 0;
  try {
    const files = await loadAwsFiles();
    const planned = entriesUnder(files, (l) => layersOf(l).some((x) => x.settings.sourceKind === 'keychain' && x.settings.source === name));
    for (const e of planned) for (const p of e.profiles) users.add(p);
    // Profiles the planner cannot resolve still name the source: they are warned about too.
    for (const p of profileNames(files.config)) if (files.config[p].keyrole_source === name) users.add(p);
    const { removed, failed } = await deleteEntries(planned);
    cleared += removed.length;
    for (const [kind, err] of failed) problems.set(kind, `the ${kind} cache (${err.message})`);
  } catch (err) {
    problems.set('config', `the config (${(err as Error).message})`);
  }
  // Entries written for the source by a profile that has changed or gone since: named by the source they were made with.
  for (const store of [keychainStore(), fileStore()]) {
    if (problems.has(store.kind)) continue;
    let items;
    try {
      items = await store.list();
    } catch (err) {
      problems.set(store.kind, `the ${store.kind} cache (${(err as Error).message})`);
      continue;
    }
    for (const { key, value } of items) {
      if (decodeEntry(value)?.source === name && await store.delete(key)) cleared++;
    }
  }
  return { cleared, users: [...users].sort(), problems: [...problems.values()] };
}

/**
 * Stores a source's keys (setup, rotate, import) and ends every cached credential made with
 * the keys it held before: a cache entry is named by the source's name, not its key, so
 * without this a replaced key went on being served as the credentials of the old one.
 * Returns how many entries were ended; what could not be read is said on stderr.
 */
export async function storeSource(name: string, keys: SourceKeys): Promise<number> {
  writeSource(name, keys);
  return endSourceCaches(name, 'the key it replaced');
}

/** clearSourceCaches, with its problems said on stderr. */
export async function endSourceCaches(name: string, what: string): Promise<number> {
  const { cleared, problems } = await clearSourceCaches(name);
  for (const p of problems) process.stderr.write(`keyrole: warning: could not read ${p} to end the credentials cached with ${what}\n`);
  return cleared;
}

export async function removeCommand(name: string, force: boolean): Promise<void> {
  if (!force) {
    const term = openTerminal();
    if (!term) throw new KeyroleError('NoTerminal', `no terminal to confirm removing source "${printable(name)}"`, `pass --force to remove it without asking: keyrole remove ${printable(name)} --force`);
    try {
      if (!(await confirm(term, `Remove source "${name}" and its cached credentials from the keychain?`))) {
        throw new KeyroleError('Cancelled', `kept source "${name}"`, 'nothing was changed');
      }
    } finally {
      term.close();
    }
  }
  const removed = removeSource(name);
  const { cleared, users, problems } = await clearSourceCaches(name);
  for (const p of problems) process.stderr.write(`keyrole: warning: could not read ${p} to end the source's cached credentials\n`);
  if (!removed && !cleared) throw new KeyroleError('SourceNotFound', `source "${name}" is not in the keychain`, 'keyrole list shows the stored sources');
  const what = cleared ? ` and ${cleared} cached credential${cleared === 1 ? '' : 's'} made with it (sessions, MFA session, roles)` : '';
  process.stdout.write(removed ? `Removed source "${name}"${what}.\n` : `Source "${name}" was not in the keychain; removed ${cleared} cached credential${cleared === 1 ? '' : 's'} made with it.\n`);
  if (users.length) process.stdout.write(`Profiles that still use it (they fail until keyrole setup ${name}): ${users.join(', ')}\n`);
}
