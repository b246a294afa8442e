// `keyrole import`'s plan, from the two files' text alone (no keychain, no disk): which
// long-term key sections move into the keychain, how the config is rewritten so every
// profile that used them runs through keyrole, and the new text of both files. The command
// (src/commands/import.ts) shows the plan, stores the keys, reads them back, and only then
// writes the config and, last, the credentials file.
//
// What the AWS tools do today decides what keyrole writes (botocore credentials.py):
// - a section with static keys is a profile of that name: it becomes a keyrole profile of
//   the same name with keyrole_source = itself and no role (a GetSessionToken session), so
//   `aws --profile user1` keeps working; `[default]` likewise (source "default"), so plain
//   `aws` keeps working;
// - `role_arn` + `source_profile = X` assumes the role with X's credentials: X's own static
//   keys when X has no role_arn (or X is the profile itself), X's role (a chain) when it
//   has one. So X with keys becomes keyrole_source = X, X with a role becomes
//   keyrole_source_profile = X; mfa_serial, duration_seconds, external_id and
//   role_session_name are renamed to their keyrole_ keys on their own lines (an MFA role
//   over an hour then sends its code with AssumeRole, as botocore does:
//   src/credentials/assume.ts);
// - a profile keyrole cannot turn into an equivalent (credential_source, web identity, a
//   source with a session token, a setting keyrole would refuse) is left as it is, and so
//   is every key section it still needs: nothing that works today stops working.
//
// Edits are line-level: renamed keys keep their line (indentation, trailing comment),
// removed lines go, added keys go after the section's last setting (configedit.ts), and
// every other byte stays.
//
// planImport is a sequence of named steps, each a function of what came before (no disk, no
// keychain: `existing` is asked, not looked up): collectKeySections, applyOnly,
// compareWithExisting, then until nothing changes resolveProfiles, rewriteFiles, readBack and
// keysStillNeeded; last describeProfiles. Notes are written in that order.

import { configSections, parseIni, type Sections } from './ini.ts';
import { LineEditor, setProfileValues } from './configedit.ts';
import { shadowingKeys } from './checks.ts';
import { resolveSettings, validSourceName } from './settings.ts';
import { shlexQuote } from './shlex.ts';
import { keyShapeProblem } from '../keychain/sourcekeys.ts';
import { profileNames, usesKeyrole, type AwsFiles } from './files.ts';
import { planProfile } from '../credentials/plan.ts';

/** The AWS keys of a role profile that become keyrole's, on their own lines. */
export const RENAMED: Readonly<Record<string, string>> = {
  role_arn: 'keyrole_role_arn',
  mfa_serial: 'keyrole_mfa_serial',
  duration_seconds: 'keyrole_duration_seconds',
  external_id: 'keyrole_external_id',
  role_session_name: 'keyrole_role_session_name',
};

/** The config-file section key of a profile: `[default]` is `default`, others `profile.<name>`. */
const configKey = (profile: string) => (profile === 'default' ? 'default' : `profile.${profile}`);

export interface KeyToImport {
  /** The section name, which becomes the keychain source's name and stays a profile name. */
  name: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Where the plaintext lines are: the credentials file, the config, or both (the same key). */
  from: ('credentials' | 'config')[];
}

export interface ProfileChange {
  profile: string;
  /** What the profile becomes, for the plan shown to the person. */
  description: string;
}

export interface ImportPlan {
  keys: KeyToImport[];
  profiles: ProfileChange[];
  /** Sections and profiles left as they were, and why. */
  notes: string[];
  configText: string;
  credentialsText: string;
  configChanged: boolean;
  credentialsChanged: boolean;
}

export interface PlanOptions {
  configPath: string;
  credentialsPath: string;
  configText: string;
  credentialsText: string;
  /** `--profile` names: only these key sections (and the profiles that need only them). */
  only?: string[];
  /** The credential_process command (absolute path, quoted). */
  command: string;
  /** What the keychain already holds under a name: 'absent', 'same' key, 'different', or 'unreadable'. */
  existing: (name: string, accessKeyId: string, secretAccessKey: string) => 'absent' | 'same' | 'different' | 'unreadable';
  /** Replace a different key already stored under the same name. */
  force: boolean;
  localUser: string;
}

/** The key sections found: those to import, and the names keyrole leaves alone (temporary or unusable keys). */
export interface KeySections {
  candidates: Map<string, KeyToImport>;
  /** Names whose key keyrole does not import: a profile that needs one keeps it where it is. */
  temporary: Set<string>;
}

type Paths = Pick<PlanOptions, 'configPath' | 'credentialsPath'>;

/** Step 1: the key sections, the credentials file's first, then static keys written in the config. */
export function collectKeySections(o: Paths, credAll: Sections, cfg: Sections, notes: string[]): KeySections {
  const candidates = new Map<string, KeyToImport>();
  const temporary = new Set<string>();
  const consider = (name: string, sec: Record<string, string | undefined>, where: 'credentials' | 'config') => {
    const file = where === 'credentials' ? o.credentialsPath : o.configPath;
    const label = where === 'credentials' ? `[${name}] in ${file}` : `profile ${name} in ${file}`;
    if (sec.aws_session_token !== undefined) {
      temporary.add(name);
      notes.push(`${label} left alone: it holds a temporary key (aws_session_token), which expires by itself; keyrole imports long-term keys only`);
      return;
    }
    const id = sec.aws_access_key_id ?? '';
    const secret = sec.aws_secret_access_key ?? '';
    const shape = !id || !secret ? 'it has only one of aws_access_key_id and aws_secret_access_key' : keyShapeProblem(id, secret);
    if (shape) { notes.push(`${label} left alone: ${shape}`); temporary.add(name); return; }
    if (!validSourceName(name)) { notes.push(`${label} left alone: its name is not a valid keyrole source name (letters, digits and ._@+=-, up to 64)`); temporary.add(name); return; }
    const seen = candidates.get(name);
    if (seen) {
      if (seen.accessKeyId !== id || seen.secretAccessKey !== secret) {
        candidates.delete(name);
        temporary.add(name);
        notes.push(`${name} left alone: the credentials file and the config hold different keys for it; keep one and run keyrole import again`);
        return;
      }
      seen.from.push(where);
      return;
    }
    if (temporary.has(name)) return;
    candidates.set(name, { name, accessKeyId: id, secretAccessKey: secret, from: [where] });
  };
  const hasKey = (sec: Record<string, string | undefined>) => sec.aws_access_key_id !== undefined || sec.aws_secret_access_key !== undefined;
  for (const name of profileNames(credAll, 'credentials')) if (hasKey(credAll[name])) consider(name, credAll[name], 'credentials');
  for (const name of profileNames(cfg)) if (hasKey(cfg[name])) consider(name, cfg[name], 'config');
  return { candidates, temporary };
}

/** Step 2: `--profile` names: only those key sections; a name with no key section is a note. */
export function applyOnly(ks: KeySections, only: string[] | undefined, o: Paths, notes: string[]): void {
  if (!only?.length) return;
  for (const n of only) {
    if (!ks.candidates.has(n) && !ks.temporary.has(n)) notes.push(`${n}: no long-term key section of that name in ${o.credentialsPath} or ${o.configPath}`);
  }
  for (const n of [...ks.candidates.keys()]) if (!only.includes(n)) ks.candidates.delete(n);
}

/** Step 3: a key the keychain already holds differently (or unreadably) under the same name stays, unless --force. */
export function compareWithExisting(ks: KeySections, existing: PlanOptions['existing'], force: boolean, notes: string[]): void {
  for (const k of [...ks.candidates.values()]) {
    const state = existing(k.name, k.accessKeyId, k.secretAccessKey);
    if (state === 'different' && !force) {
      ks.candidates.delete(k.name);
      notes.push(`${k.name} left alone: the keychain already holds a different key as source "${k.name}"; pass --force to replace it with this one, or keyrole remove ${k.name} first`);
    } else if (state === 'unreadable' && !force) {
      ks.candidates.delete(k.name);
      notes.push(`${k.name} left alone: the keychain holds an entry for source "${k.name}" that keyrole cannot read; pass --force to replace it`);
    }
  }
}

/** How a role profile's source_profile becomes keyrole's, and the key sections it rests on. */
export type Resolution = { ok: true; sourceKey: 'keyrole_source' | 'keyrole_source_profile'; deps: Set<string> } | { ok: false; why: string; deps: Set<string> };
export type Converted = Map<string, Resolution & { ok: true }>;
export interface Failed { profile: string; why: string; deps: Set<string> }

/**
 * Step 4: which role profiles can run through keyrole with the keys being imported (botocore's
 * source_profile rules, in the opening comment), and why the others cannot.
 */
export function resolveProfiles(cfg: Sections, ks: KeySections): { converted: Converted; failed: Failed[] } {
  const memo = new Map<string, Resolution>();
  const resolve = (p: string, chain: string[]): Resolution => {
    const known = memo.get(p);
    if (known) return known;
    const r = resolveSource(cfg, ks, p, chain, resolve);
    memo.set(p, r);
    return r;
  };
  const converted: Converted = new Map();
  const failed: Failed[] = [];
  for (const p of profileNames(cfg)) {
    const sec = cfg[p];
    if (usesKeyrole(sec) || sec.role_arn === undefined) continue;
    const r = resolve(p, []);
    if (r.ok) converted.set(p, r);
    else failed.push({ profile: p, why: r.why, deps: r.deps });
  }
  return { converted, failed };
}

/** One role profile's source, given how the profiles it names resolve (`up`, memoized by the caller). */
function resolveSource(cfg: Sections, ks: KeySections, p: string, chain: string[], up: (p: string, chain: string[]) => Resolution): Resolution {
  const sec = cfg[p];
  if (chain.includes(p)) return { ok: false, why: `its source_profile chain is a cycle (${[...chain, p].join(' → ')})`, deps: new Set() };
  const sp = sec.source_profile;
  if (sec.credential_source !== undefined) return { ok: false, why: 'it uses credential_source (the environment, EC2 or ECS), not a stored key', deps: new Set() };
  if (sec.web_identity_token_file !== undefined) return { ok: false, why: 'it uses web_identity_token_file, not a stored key', deps: new Set() };
  if (sp === undefined) return { ok: false, why: 'it has role_arn but no source_profile', deps: new Set() };
  const spSec = cfg[sp];
  if (sp === p || !spSec?.role_arn || (spSec && usesKeyrole(spSec))) {
    if (sp !== p && spSec && usesKeyrole(spSec)) return { ok: true, sourceKey: 'keyrole_source_profile', deps: new Set() };
    if (ks.candidates.has(sp)) return { ok: true, sourceKey: 'keyrole_source', deps: new Set([sp]) };
    if (ks.temporary.has(sp)) return { ok: false, why: `its source_profile ${sp} holds a key keyrole does not import (see above)`, deps: new Set() };
    return { ok: false, why: `its source_profile ${sp} has no long-term key being imported`, deps: new Set() };
  }
  const base = up(sp, [...chain, p]);
  return base.ok ? { ok: true, sourceKey: 'keyrole_source_profile', deps: base.deps } : { ok: false, why: `its source_profile ${sp} cannot be converted`, deps: base.deps };
}

/** The rewritten texts, and the profiles that got a credential_process line (to read back). */
export interface Rewritten { configText: string; credentialsText: string; additions: string[] }

/** Step 5: the new texts: key lines removed, role keys renamed, credential_process (and keyrole_source) added. */
export function rewriteFiles(o: Pick<PlanOptions, 'configText' | 'credentialsText' | 'command'>, cfg: Sections, ks: KeySections, converted: Converted, notes: string[]): Rewritten {
  const cfgEdit = new LineEditor(o.configText);
  const credEdit = new LineEditor(o.credentialsText);
  for (const k of ks.candidates.values()) {
    if (k.from.includes('credentials')) { credEdit.remove(k.name, 'aws_access_key_id'); credEdit.remove(k.name, 'aws_secret_access_key'); }
    if (k.from.includes('config')) { cfgEdit.remove(configKey(k.name), 'aws_access_key_id'); cfgEdit.remove(configKey(k.name), 'aws_secret_access_key'); }
  }
  for (const [p, r] of converted) {
    const key = configKey(p);
    for (const [from, to] of Object.entries(RENAMED)) cfgEdit.rename(key, from, to);
    cfgEdit.rename(key, 'source_profile', r.sourceKey);
  }
  let configText = cfgEdit.text();
  const additions: [string, [string, string][]][] = [];
  for (const p of converted.keys()) additions.push([p, [['credential_process', `${o.command} process ${shlexQuote(p)}`]]]);
  for (const k of ks.candidates.values()) {
    if (converted.has(k.name)) continue;
    const sec = cfg[k.name];
    if (sec && usesKeyrole(sec)) {
      notes.push(`profile ${k.name} already runs keyrole and is kept as it is; its plaintext key ${k.from.includes('credentials') ? 'in the credentials file ' : ''}shadowed it until now`);
      continue;
    }
    if (sec?.role_arn !== undefined) continue; // a role profile that could not be converted: reported by resolveProfiles
    additions.push([k.name, [['credential_process', `${o.command} process ${shlexQuote(k.name)}`], ['keyrole_source', k.name]]]);
  }
  for (const [p, values] of additions) configText = setProfileValues(configText, p, values).text;
  return { configText, credentialsText: credEdit.text(), additions: additions.map(([p]) => p) };
}

/**
 * Step 6: every profile given a credential_process line must read back as keyrole would run
 * it (the planner too: it refuses what AWS would, a chained role over an hour, and says how
 * the role will be assumed, into `hows`), with nothing shadowing it; those that do not fail.
 */
export function readBack(o: Paths & { localUser: string }, w: Rewritten, converted: Converted, hows: Map<string, string>): Failed[] {
  const files: AwsFiles = { configPath: o.configPath, credentialsPath: o.credentialsPath, config: configSections(parseIni(w.configText)), credentials: parseIni(w.credentialsText), configText: w.configText };
  const failed: Failed[] = [];
  for (const p of w.additions) {
    try {
      const how = planProfile(files, resolveSettings(files, p, {}, o.localUser)).how;
      if (how) hows.set(p, how);
      const shadow = shadowingKeys(files, p);
      if (shadow.length) throw new Error(`it also sets ${shadow.join(', ')}, which the AWS CLI would use instead of keyrole`);
    } catch (err) {
      const r = converted.get(p);
      failed.push({ profile: p, why: (err as Error).message, deps: r ? r.deps : new Set([p]) });
    }
  }
  return failed;
}

/**
 * Step 7: the key sections a failed profile still needs: they stay where they are, with a note
 * naming who needs them. A key section whose own profile has a role it cannot keep is still
 * imported (its key is not that profile's credential), unless a failed profile needs it.
 */
export function keysStillNeeded(failed: Failed[], ks: KeySections): Map<string, string> {
  const drop = new Map<string, string>();
  for (const f of failed) {
    for (const d of f.deps) {
      if (!ks.candidates.has(d) || drop.has(d)) continue;
      const by = failed.filter((x) => x.deps.has(d)).map((x) => x.profile);
      drop.set(d, `${d} left alone: profile${by.length > 1 ? 's' : ''} ${by.join(', ')} still need${by.length > 1 ? '' : 's'} its key and cannot run through keyrole (${failed.find((x) => x.deps.has(d))!.why})`);
    }
  }
  return drop;
}

/** Last step: what each profile becomes, for the plan shown to the person. */
export function describeProfiles(cfg: Sections, ks: KeySections, converted: Converted, hows: Map<string, string>): ProfileChange[] {
  const profiles: ProfileChange[] = [];
  for (const [p, r] of converted) {
    const sec = cfg[p];
    const carried = Object.keys(RENAMED).filter((k) => k !== 'role_arn' && sec[k] !== undefined);
    const how = hows.get(p);
    profiles.push({ profile: p, description: `role ${sec.role_arn} with ${r.sourceKey === 'keyrole_source' ? `source ${sec.source_profile}` : `profile ${sec.source_profile}'s credentials`}${carried.length ? ` (${carried.join(', ')} carried over)` : ''}${how ? `: ${how}` : ''}` });
  }
  for (const k of ks.candidates.values()) {
    if (converted.has(k.name) || (cfg[k.name] && usesKeyrole(cfg[k.name]))) continue;
    profiles.push({ profile: k.name, description: `source ${k.name}, no role (a GetSessionToken session)${cfg[k.name] ? '' : ', a new profile'}` });
  }
  return profiles;
}

export function planImport(o: PlanOptions): ImportPlan {
  const notes: string[] = [];
  const cfg: Sections = configSections(parseIni(o.configText));
  const ks = collectKeySections(o, parseIni(o.credentialsText), cfg, notes);
  applyOnly(ks, o.only, o, notes);
  compareWithExisting(ks, o.existing, o.force, notes);

  // Which profiles can run through keyrole, given the keys imported; a profile that cannot,
  // but needs one of them, keeps that key where it is. Repeat until nothing changes.
  const hows = new Map<string, string>();
  for (;;) {
    const { converted, failed } = resolveProfiles(cfg, ks);
    const roundNotes: string[] = [];
    const rewritten = rewriteFiles(o, cfg, ks, converted, roundNotes);
    failed.push(...readBack(o, rewritten, converted, hows));
    const drop = keysStillNeeded(failed, ks);
    if (!drop.size) {
      for (const f of failed) roundNotes.push(`profile ${f.profile} left as it is: ${f.why}`);
      notes.push(...roundNotes);
      return {
        keys: [...ks.candidates.values()],
        profiles: describeProfiles(cfg, ks, converted, hows),
        notes,
        configText: rewritten.configText,
        credentialsText: rewritten.credentialsText,
        configChanged: rewritten.configText !== o.configText,
        credentialsChanged: rewritten.credentialsText !== o.credentialsText,
      };
    }
    for (const [d, note] of drop) {
      notes.push(note);
      ks.candidates.delete(d);
    }
  }
}
