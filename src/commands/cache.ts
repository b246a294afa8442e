// `keyrole cache list` and `keyrole cache clear [profile] [--all-layers]`. Both name
// entries through the planner (src/credentials/plan.ts), the function the hot path keys
// them with, so an entry `process` serves is the entry `clear` removes.

import { loadAwsFiles, type AwsFiles } from '../config/files.ts';
import { resolveSettings } from '../config/settings.ts';
import { formatLeft } from '../util/duration.ts';
import { decodeEntry, fileStore, keychainStore, openStore, remainingMs, type CacheStore } from '../credentials/cache.ts';
import { localUser } from '../credentials/user.ts';
import { storeKind } from '../config/cachestore.ts';
import { keyUsers, layersOf, planAll, planProfile, ssoOf, type Layer } from '../credentials/plan.ts';
import { describeLogin, describeToken, loginStatus, tokenStatus } from '../credentials/status.ts';
import { printable } from '../util/printable.ts';
import type { CacheEntry } from '../credentials/cache.ts';
import type { SsoRef } from '../config/settings.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { parseCommand } from './args.ts';
import { table } from '../util/table.ts';

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('cache', argv, { 'all-layers': { type: 'boolean' }, json: { type: 'boolean' } });
  const [sub, profile, extra] = positionals;
  if (sub === undefined) throw usageError('cache needs a subcommand', 'keyrole cache list [--json] | keyrole cache clear [profile] [--all-layers]');
  if (sub === 'list' && profile === undefined) return cacheListCommand(!!v.json);
  if (sub === 'clear' && extra === undefined) return cacheClearCommand(profile, !!v['all-layers']);
  throw usageError(`unknown cache command ${JSON.stringify(positionals.join(' '))}`, 'use keyrole cache list or keyrole cache clear [profile]');
}

function stores(): CacheStore[] {
  return [keychainStore(), fileStore()];
}

export interface CacheRow { profile: string; role: string; region: string | undefined; expiresIn: string; expiresInSeconds: number | undefined; expiration: string | undefined; store: string; key: string }

/** The region in an older entry's stored parameters (newer entries store a digest: the planner names their region). */
function regionOf(params: string): string | undefined {
  try {
    // canonicalParams: [key, value] pairs.
    const p = Object.fromEntries(JSON.parse(params) as [string, unknown][]) as { region?: unknown; ssoRegion?: unknown };
    return typeof p.region === 'string' ? p.region : typeof p.ssoRegion === 'string' ? p.ssoRegion : undefined;
  } catch {
    return undefined;
  }
}

/** Each store that can be read; one that cannot (no keychain here) is reported, not fatal. */
export async function cacheRows(now = Date.now()): Promise<{ rows: CacheRow[]; problems: string[] }> {
  const rows: CacheRow[] = [];
  const problems: string[] = [];
  let users: ReturnType<typeof keyUsers> = new Map();
  try {
    const files = await loadAwsFiles();
    users = keyUsers(files, (s) => storeKind(s.cache));
  } catch (err) {
    problems.push(`profile names (the config cannot be read: ${err instanceof KeyroleError ? err.message : (err as Error).message})`);
  }
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
      const u = users.get(`${store.kind}:${key}`);
      if (!e) { rows.push({ profile: '?', role: '(unreadable entry)', region: undefined, expiresIn: '-', expiresInSeconds: undefined, expiration: undefined, store: store.kind, key }); continue; }
      const left = remainingMs(e, now);
      const common = { region: u?.region ?? regionOf(e.params), expiresIn: formatLeft(left), expiresInSeconds: Math.max(0, Math.floor(left / 1000)), expiration: e.credentials.expiration.toISOString(), store: store.kind, key };
      if (u) rows.push({ profile: u.own.length ? u.own.join(', ') : `(under ${u.profiles.join(', ')})`, role: u.label, ...common });
      // Written for a profile that is gone or has changed since: named as it was then.
      else rows.push({ profile: e.profile ?? '-', role: staleLabel(e), ...common });
    }
  }
  return { rows, problems };
}

/** An entry no profile plans any more, named from what it was written with. */
function staleLabel(e: CacheEntry): string {
  if (e.roleArn) return `role ${e.roleArn}`;
  try {
    const p = Object.fromEntries(JSON.parse(e.params) as [string, unknown][]) as Record<string, unknown>;
    if (p.kind === 'sso' && typeof p.roleName === 'string' && typeof p.accountId === 'string') return `IAM Identity Center role ${printable(p.roleName)} in ${printable(p.accountId)}`;
  } catch { /* not keyrole's params: named by its source below */ }
  return `(session of ${printable(e.source)})`;
}

/**
 * The IAM Identity Center sign-ins behind the config's keyrole profiles: one line each
 * (describeToken, as status and doctor show it) and the profiles that use it.
 */
export async function ssoSignins(files: AwsFiles, now = Date.now()): Promise<{ line: string; profiles: string[]; loginName: string }[]> {
  const bySession = new Map<string, { ref: SsoRef; profiles: string[] }>();
  for (const { profile, plan } of planAll(files)) {
    const ref = ssoOf(plan);
    if (!ref) continue;
    const id = `${ref.session ?? ref.startUrl}\n${ref.startUrl}`;
    const have = bySession.get(id) ?? { ref, profiles: [] };
    have.profiles.push(profile);
    bySession.set(id, have);
  }
  const out = [];
  for (const { ref, profiles } of bySession.values()) {
    const t = await tokenStatus(ref, now, profiles[0]);
    out.push({ line: describeToken(t, now), profiles, loginName: t.loginName });
  }
  // AWS Sign-In sessions, one line each, the same way.
  const byLogin = new Map<string, { layer: Layer; profiles: string[] }>();
  for (const { profile, plan } of planAll(files)) {
    const layer = layersOf(plan).find((l) => l.login);
    if (!layer) continue;
    const have = byLogin.get(layer.login!.session) ?? { layer, profiles: [] };
    have.profiles.push(profile);
    byLogin.set(layer.login!.session, have);
  }
  for (const { layer, profiles } of byLogin.values()) {
    const name = layer.settings.profile ?? profiles[0]!;
    const t = await loginStatus(layer.login!, name);
    out.push({ line: describeLogin(t, now), profiles, loginName: name });
  }
  return out;
}

export async function cacheListCommand(json = false): Promise<void> {
  const { rows, problems } = await cacheRows();
  for (const p of problems) process.stderr.write(`keyrole: skipped the ${p}\n`);
  if (json) {
    // PascalCase, as status --json, whoami --json and the AWS CLI's own JSON name fields.
    process.stdout.write(`${JSON.stringify(rows.map((r) => ({ Profile: r.profile, Role: r.role, Region: r.region ?? null, Expiration: r.expiration ?? null, ExpiresInSeconds: r.expiresInSeconds ?? null, Store: r.store })), null, 2)}\n`);
    return;
  }
  let signins: Awaited<ReturnType<typeof ssoSignins>> = [];
  try {
    signins = await ssoSignins(await loadAwsFiles());
  } catch (err) {
    process.stderr.write(`keyrole: skipped the IAM Identity Center sign-ins (${err instanceof KeyroleError ? err.message : (err as Error).message})\n`);
  }
  const tail = signins.map((x) => `${x.line}; used by ${x.profiles.join(', ')}\n`).join('');
  if (!rows.length) {
    process.stdout.write(`The cache is empty.\n${tail ? `\n${tail}` : ''}`);
    return;
  }
  // Two entries of the same role that differ only by region would read as one listed twice: name the region there.
  const regions = new Map<string, Set<string | undefined>>();
  for (const r of rows) regions.set(r.role, (regions.get(r.role) ?? new Set()).add(r.region));
  const role = (r: CacheRow) => ((regions.get(r.role)?.size ?? 0) > 1 && r.region ? `${r.role} in ${r.region}` : r.role);
  process.stdout.write(table([['PROFILE', 'ROLE', 'EXPIRES IN', 'STORE'], ...rows.map((r) => [printable(r.profile), printable(role(r)), r.expiresIn, r.store])]));
  if (tail) process.stdout.write(`\n${tail}`);
}

export async function cacheClearCommand(profile: string | undefined, allLayers = false): Promise<void> {
  if (profile) {
    const files = await loadAwsFiles();
    return clearProfile(files, profile, allLayers);
  }
  let n = 0;
  for (const store of stores()) {
    let keys;
    try {
      keys = await store.keys();
    } catch (err) {
      process.stderr.write(`keyrole: skipped the ${store.kind} store: ${(err as Error).message}\n`);
      continue;
    }
    for (const key of keys) if (await store.delete(key)) n++;
  }
  process.stdout.write(`Cleared ${n} cached credential${n === 1 ? '' : 's'}.\n`);
  // Sign-ins are not cached credentials: say which stay, and how to end them.
  let signins: Awaited<ReturnType<typeof ssoSignins>> = [];
  try {
    signins = (await ssoSignins(await loadAwsFiles())).filter((x) => !/: none;/.test(x.line));
  } catch { /* no config: no sign-ins to name */ }
  for (const x of signins) process.stdout.write(`Kept the ${x.line} (used by ${x.profiles.join(', ')}); keyrole sso logout ${x.loginName} ends it.\n`);
}

/**
 * Removes a profile's own cached credential, and with `allLayers` the layers under it too
 * (an MFA session, a base profile's role, an SSO role), which other profiles may share.
 * Only in the profile's own store: an entry of the same key in the other store belongs to
 * a profile that uses that store (the same role with keyrole_cache = file), not to this one.
 */
async function clearProfile(files: AwsFiles, profile: string, allLayers: boolean): Promise<void> {
  const s = resolveSettings(files, profile, {}, localUser());
  const store = openStore(storeKind(s.cache));
  const [top, ...below] = layersOf(planProfile(files, s));
  const out: string[] = [];
  if (await store.delete(top.key)) out.push(`Cleared the cached credentials of profile ${profile}: ${top.label} (${store.kind} store).`);
  else out.push(`Nothing cached for profile ${profile} (${top.label}, ${store.kind} store).`);
  const kept: string[] = [];
  for (const l of below) {
    if (allLayers) {
      if (await store.delete(l.key)) out.push(`Cleared ${l.label}, under it.`);
    } else if (await store.get(l.key) !== null) {
      kept.push(l.label);
    }
  }
  if (kept.length) out.push(`Kept ${kept.join(' and ')}, under it (shared with other profiles); keyrole cache clear --all-layers ${profile} clears those too.`);
  // The sign-in is no cache entry: it stays, and the person should know it does.
  const ref = ssoOf(top);
  if (ref) {
    const t = await tokenStatus(ref, Date.now(), profile);
    if (t.expiresAt) out.push(`Kept the ${describeToken(t, Date.now())}; keyrole sso logout ${t.loginName} ends it.`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
