// The planner: a profile's credential layers and each layer's cache key, from the config
// alone. Every command that asks "what does this profile's credential consist of, and
// where is it cached" (the hot path, `cache list` and `clear`, `doctor`, `status`, `sso
// logout`, the endpoint of `exec --server`) asks this one function, so a key computed for
// a read can never differ from the key computed for a delete.
//
// The layers, as the AWS SDK for JavaScript v3 lays out its providers (one `isX` test per
// credential source, the first that matches wins):
//   session        a keychain source's own GetSessionToken session (no role, no MFA)
//   mfa-session    a keychain source's GetSessionToken session with an MFA code, shared by
//                  every role of that source and device
//   role           AssumeRole signed by a keychain source's long-term keys (with an MFA code
//                  sent along when the role lasts over an hour), or by its MFA session (then
//                  `under` is that session): assume.ts chooses
//   sso-role       IAM Identity Center GetRoleCredentials (its token, keyed by the
//                  sso-session, is below it: `ssoSession`)
//   login          an AWS Sign-In session's 15-minute credentials (CreateOAuth2Token with the
//                  session's refresh token in the keychain: src/login), keyed by the session
//   chained-role   AssumeRole signed by another profile's (or SSO's, or an AWS Sign-In
//                  session's) temporary credentials
//
// How each role is assumed and for how long (AWS's 1-hour rule) is assume.ts's to say; the
// planner asks it and puts its answer on the layer (`way`, `how`).
//
// The parameters of each key are unchanged from earlier versions (two keyrole versions
// share a store; test/robustness.process.test.ts checks it).

import { KeyroleError } from '../util/errors.ts';
import { regionalStsEndpoint } from '../config/endpoints.ts';
import { resolveSettings, type Settings, type SsoRef } from '../config/settings.ts';
import { profileNames, usesKeyrole, type AwsFiles } from '../config/files.ts';
import { canonicalParams, fileStore, fnv1a64, keychainStore, type CacheStore } from './cache.ts';
import { localUser } from './user.ts';
import { checkedRoleWay, describeWay, type RoleWay } from './assume.ts';
import { LOGIN_JUDGED_SECONDS } from './windows.ts';
import type { LoginRef } from '../login/endpoint.ts';

export type LayerKind = 'session' | 'mfa-session' | 'role' | 'sso-role' | 'login' | 'chained-role';

export interface Layer {
  kind: LayerKind;
  /** The settings of the profile this layer belongs to (a chained profile's base has its own). */
  settings: Settings;
  /** Every parameter that changes what AWS hands out for this layer. */
  params: Record<string, unknown>;
  /** canonicalParams(params): stored in the entry and compared on every read. */
  canonical: string;
  /** The cache entry's name. */
  key: string;
  /** The session length (s) asked for, which the refresh window is judged against. */
  durationSeconds: number;
  /** What a person reads: `role arn:… (via profile base)`, `the MFA session of source "alice"`. */
  label: string;
  /** The layer whose credentials sign this layer's call, if any. */
  under?: Layer;
  /** The IAM Identity Center session whose token this layer's call uses. */
  sso?: SsoRef;
  /** The AWS Sign-In session whose refresh token this layer's call uses. */
  login?: LoginRef;
  /** A role layer's way of being assumed (assume.ts). */
  way?: RoleWay;
  /** A role layer's way, for a person: --debug, doctor, status. */
  how?: string;
}

/**
 * Whether fetching this layer asks for an MFA code: an MFA session, or a role assumed with
 * a code each time. Such entries are kept where they survive a reboot (the kernel keyring's
 * copy would not: src/keychain/tier.ts kernelTier), and `status` names them when a
 * person will be needed.
 */
export function asksForCode(l: Layer): boolean {
  return l.kind === 'mfa-session' || l.way === 'keys-mfa';
}

/** Every parameter that changes what STS hands out for a keychain source's own call; nothing else, so equal profiles share. */
function stsParams(s: Settings, way?: RoleWay): Record<string, unknown> {
  return {
    source: s.source,
    roleArn: s.roleArn,
    durationSeconds: s.durationSeconds,
    sessionName: s.sessionName,
    region: s.region,
    endpoint: s.endpoint ?? regionalStsEndpoint(s.region),
    mfaSerial: s.mfaSerial,
    // Set when the code goes with AssumeRole (asked for, or chosen for a role over an hour).
    mfaOnAssume: s.mfaOnAssume || way === 'keys-mfa' || undefined,
    externalId: s.externalId,
    sourceIdentity: s.sourceIdentity,
    tags: s.tags.length ? s.tags : undefined,
    transitiveTagKeys: s.transitiveTagKeys.length ? s.transitiveTagKeys : undefined,
    policyArns: s.policyArns.length ? s.policyArns : undefined,
  };
}

function layer(kind: LayerKind, s: Settings, params: Record<string, unknown>, durationSeconds: number, label: string, extra: Pick<Layer, 'under' | 'sso' | 'login' | 'way' | 'how'> = {}): Layer {
  const canonical = canonicalParams(params);
  return { kind, settings: s, params, canonical, key: fnv1a64(canonical), durationSeconds, label, ...extra };
}

// ---- one test per kind: which layer a profile's settings make ----

const isChainedRole = (s: Settings): boolean => s.sourceKind === 'profile' || ((s.sourceKind === 'sso' || s.sourceKind === 'login') && !!s.roleArn);
const isLogin = (s: Settings): boolean => s.sourceKind === 'login' && !s.roleArn;
const isSsoRole = (s: Settings): boolean => s.sourceKind === 'sso' && !s.roleArn;
const isRole = (s: Settings): boolean => s.sourceKind === 'keychain' && !!s.roleArn;
const isMfaSession = (s: Settings): boolean => s.sourceKind === 'keychain' && !!s.mfaSerial && !s.mfaOnAssume;

/**
 * The profile's credential, as a tree of layers. `chain` is the profiles already on the
 * way down (for cycle detection); callers pass nothing.
 */
export function planProfile(files: AwsFiles, s: Settings, chain: string[] = [s.profile ?? '(command line)']): Layer {
  if (isChainedRole(s)) return planChainedRole(files, s, chain);
  if (isSsoRole(s)) return planSsoRole(s);
  if (isLogin(s)) return planLogin(s);
  if (isRole(s)) return planRole(s);
  if (isMfaSession(s)) return planMfaSession(s);
  return layer('session', s, stsParams(s), s.durationSeconds, `a session of source "${s.source}"`);
}

function planRole(s: Settings): Layer {
  const way = checkedRoleWay(s);
  const under = way === 'mfa-session' ? planMfaSession(s) : undefined;
  return layer('role', s, stsParams(s, way), s.durationSeconds, `role ${s.roleArn}`, { under, way, how: describeWay(s, way) });
}

function planMfaSession(s: Settings): Layer {
  const params = {
    kind: 'mfa-session', source: s.source, mfaSerial: s.mfaSerial, durationSeconds: s.sessionDurationSeconds,
    region: s.region, endpoint: s.endpoint ?? regionalStsEndpoint(s.region),
  };
  return layer('mfa-session', s, params, s.sessionDurationSeconds, `the MFA session of source "${s.source}"`);
}

function planSsoRole(s: Settings): Layer {
  const sso = s.sso!;
  const params = { kind: 'sso', session: sso.session, startUrl: sso.startUrl, ssoRegion: sso.ssoRegion, accountId: sso.accountId, roleName: sso.roleName };
  return layer('sso-role', s, params, 3600, `IAM Identity Center role ${sso.roleName} in ${sso.accountId}`, { sso });
}

function planLogin(s: Settings): Layer {
  const login = s.login!;
  // The session, and where its refreshes go: a profile in another region or endpoint gets its own entry.
  const params = { kind: 'login', session: login.session, region: login.region, endpoint: login.endpoint };
  return layer('login', s, params, LOGIN_JUDGED_SECONDS, `the AWS Sign-In session ${login.session}`, { login });
}

function planChainedRole(files: AwsFiles, s: Settings, chain: string[]): Layer {
  let under: Layer;
  if (s.sourceKind === 'profile') {
    const baseName = s.sourceProfile!;
    if (chain.includes(baseName)) {
      throw new KeyroleError('ProfileCycle', `the profiles source each other in a cycle: ${[...chain, baseName].join(' → ')}`, 'break the cycle: one profile in the chain must name a keychain source or SSO');
    }
    const base = resolveSettings(files, baseName, {}, localUser());
    under = planProfile(files, base, [...chain, baseName]);
  } else {
    under = s.sourceKind === 'login' ? planLogin(s) : planSsoRole(s);
  }
  // Whatever another profile, SSO or AWS Sign-In gives is temporary credentials: the 1-hour rule holds.
  const via = s.sourceKind === 'profile' ? `profile ${under.settings.profile}` : s.sourceKind === 'login' ? 'AWS Sign-In' : 'IAM Identity Center';
  const signer = s.sourceKind === 'profile' ? `profile ${under.settings.profile}'s credentials` : s.sourceKind === 'login' ? "the AWS Sign-In session's credentials" : "IAM Identity Center's role credentials";
  const way = checkedRoleWay(s, signer);
  const params = { ...stsParams(s), base: under.canonical };
  return layer('chained-role', s, params, s.durationSeconds, `role ${s.roleArn} (via ${via})`, { under, sso: s.sourceKind === 'sso' ? s.sso : undefined, way, how: describeWay(s, way, signer) });
}

/** The layer and every layer below it, top first. */
export function layersOf(top: Layer): Layer[] {
  const out: Layer[] = [];
  for (let l: Layer | undefined = top; l; l = l.under) out.push(l);
  return out;
}

/** The AWS Sign-In session under a plan, if any layer of it uses one. */
export function loginOf(top: Layer): LoginRef | undefined {
  return layersOf(top).find((l) => l.login)?.login;
}

/** The IAM Identity Center session under a plan, if any layer of it uses one. */
export function ssoOf(top: Layer): SsoRef | undefined {
  return layersOf(top).find((l) => l.sso)?.sso;
}

/** The names of the config's profiles that use keyrole (its `credential_process` line or `keyrole_` keys), dotted names included. */
export function keyroleProfileNames(files: AwsFiles): string[] {
  return profileNames(files.config).filter((name) => usesKeyrole(files.config[name]));
}

/** Every keyrole profile's plan; a profile whose settings do not resolve is left out (doctor explains those). */
export function planAll(files: AwsFiles): { profile: string; plan: Layer }[] {
  const out: { profile: string; plan: Layer }[] = [];
  for (const profile of keyroleProfileNames(files)) {
    try {
      out.push({ profile, plan: planProfile(files, resolveSettings(files, profile, {}, localUser())) });
    } catch { /* not resolvable: not cached either */ }
  }
  return out;
}

/** A cache entry the planner names: where it would be, and the layer and profiles it belongs to. */
export interface PlannedEntry { store: CacheStore; key: string; layer: Layer; profiles: string[] }

/**
 * The entries of every layer `pred` picks, in every keyrole profile's plan, in both stores:
 * a profile's keyrole_cache (or KEYROLE_CACHE) may have changed since an entry was written,
 * and a bad keyrole_cache value hides nothing. Each store and key once; from the config
 * alone (nothing is read from a store). `remove` and `sso logout` delete through it, so
 * they agree on what rests on what.
 */
export function entriesUnder(files: AwsFiles, pred: (l: Layer) => boolean): PlannedEntry[] {
  const byKey = new Map<string, { layer: Layer; profiles: string[] }>();
  for (const { profile, plan } of planAll(files)) {
    for (const l of layersOf(plan)) {
      if (!pred(l)) continue;
      const e = byKey.get(l.key) ?? { layer: l, profiles: [] };
      if (!e.profiles.includes(profile)) e.profiles.push(profile);
      byKey.set(l.key, e);
    }
  }
  return [keychainStore(), fileStore()].flatMap((store) => [...byKey].map(([key, e]) => ({ store, key, ...e })));
}

/**
 * Deletes planned entries (entriesUnder). A store that cannot be reached (no keychain on
 * this machine) is skipped after its first failure and returned in `failed`, so the other
 * store is still cleared. Returns the entries that were there and are gone.
 */
export async function deleteEntries(entries: PlannedEntry[]): Promise<{ removed: PlannedEntry[]; failed: Map<string, Error> }> {
  const removed: PlannedEntry[] = [];
  const failed = new Map<string, Error>();
  for (const e of entries) {
    if (failed.has(e.store.kind)) continue;
    try {
      if (await e.store.delete(e.key)) removed.push(e);
    } catch (err) {
      failed.set(e.store.kind, err as Error);
    }
  }
  return { removed, failed };
}

/**
 * Who uses each cache entry, keyed `<store kind>:<key>` (`storeOf` gives a profile's store):
 * for every layer of every keyrole profile, its label, the profiles whose own credential it
 * is, and every profile whose credential it is part of.
 */
export function keyUsers(files: AwsFiles, storeOf: (s: Settings) => string): Map<string, { label: string; region: string; profiles: string[]; own: string[] }> {
  const users = new Map<string, { label: string; region: string; profiles: string[]; own: string[] }>();
  for (const { profile, plan } of planAll(files)) {
    let store: string;
    try {
      store = storeOf(plan.settings);
    } catch {
      continue; // a bad keyrole_cache value: doctor explains it
    }
    for (const l of layersOf(plan)) {
      const id = `${store}:${l.key}`;
      const u = users.get(id) ?? { label: l.label, region: l.kind === 'sso-role' ? l.sso!.ssoRegion : l.settings.region, profiles: [], own: [] };
      if (!u.profiles.includes(profile)) u.profiles.push(profile);
      if (l === plan) u.own.push(profile);
      users.set(id, u);
    }
  }
  return users;
}
