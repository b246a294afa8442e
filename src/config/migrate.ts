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

type Resolution = { ok: true; sourceKey: 'keyrole_source' | 'keyrole_source_profile'; deps: Set<string> } | { ok: false; why: string; deps: Set<string> };

export function planImport(o: PlanOptions): ImportPlan {
  const notes: string[] = [];
  const credAll: Sections = parseIni(o.credentialsText);
  const cfg: Sections = configSections(parseIni(o.configText));
  const names = profileNames(cfg);

  // 1. The key sections: the credentials file's, and static keys written in the config.
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
  for (const name of profileNames(credAll, 'credentials')) {
    const sec = credAll[name];
    if (sec.aws_access_key_id !== undefined || sec.aws_secret_access_key !== undefined) consider(name, sec, 'credentials');
  }
  for (const name of names) {
    const sec = cfg[name];
    if (sec.aws_access_key_id !== undefined || sec.aws_secret_access_key !== undefined) consider(name, sec, 'config');
  }
  if (o.only?.length) {
    for (const n of o.only) {
      if (!candidates.has(n) && !temporary.has(n)) notes.push(`${n}: no long-term key section of that name in ${o.credentialsPath} or ${o.configPath}`);
    }
    for (const n of [...candidates.keys()]) if (!o.only.includes(n)) candidates.delete(n);
  }
  for (const k of [...candidates.values()]) {
    const state = o.existing(k.name, k.accessKeyId, k.secretAccessKey);
    if (state === 'different' && !o.force) {
      candidates.delete(k.name);
      notes.push(`${k.name} left alone: the keychain already holds a different key as source "${k.name}"; pass --force to replace it with this one, or keyrole remove ${k.name} first`);
    } else if (state === 'unreadable' && !o.force) {
      candidates.delete(k.name);
      notes.push(`${k.name} left alone: the keychain holds an entry for source "${k.name}" that keyrole cannot read; pass --force to replace it`);
    }
  }

  // 2. Which profiles can run through keyrole, given the keys imported; a profile that
  // cannot, but needs one of them, keeps that key where it is. Repeat until nothing changes.
  const converted = new Map<string, Resolution & { ok: true }>();
  const hows = new Map<string, string>();
  let edited: { configText: string; credentialsText: string } | undefined;
  for (;;) {
    converted.clear();
    const iterNotes: string[] = [];
    const memo = new Map<string, Resolution>();
    const resolve = (p: string, chain: string[]): Resolution => {
      const known = memo.get(p);
      if (known) return known;
      const sec = cfg[p];
      const r = ((): Resolution => {
        if (chain.includes(p)) return { ok: false, why: `its source_profile chain is a cycle (${[...chain, p].join(' → ')})`, deps: new Set() };
        const sp = sec.source_profile;
        if (sec.credential_source !== undefined) return { ok: false, why: 'it uses credential_source (the environment, EC2 or ECS), not a stored key', deps: new Set() };
        if (sec.web_identity_token_file !== undefined) return { ok: false, why: 'it uses web_identity_token_file, not a stored key', deps: new Set() };
        if (sp === undefined) return { ok: false, why: 'it has role_arn but no source_profile', deps: new Set() };
        const spSec = cfg[sp];
        if (sp === p || !spSec?.role_arn || (spSec && usesKeyrole(spSec))) {
          if (sp !== p && spSec && usesKeyrole(spSec)) return { ok: true, sourceKey: 'keyrole_source_profile', deps: new Set() };
          if (candidates.has(sp)) return { ok: true, sourceKey: 'keyrole_source', deps: new Set([sp]) };
          if (temporary.has(sp)) return { ok: false, why: `its source_profile ${sp} holds a key keyrole does not import (see above)`, deps: new Set() };
          return { ok: false, why: `its source_profile ${sp} has no long-term key being imported`, deps: new Set() };
        }
        const base = resolve(sp, [...chain, p]);
        return base.ok ? { ok: true, sourceKey: 'keyrole_source_profile', deps: base.deps } : { ok: false, why: `its source_profile ${sp} cannot be converted`, deps: base.deps };
      })();
      memo.set(p, r);
      return r;
    };
    const failed: { profile: string; why: string; deps: Set<string> }[] = [];
    for (const p of names) {
      const sec = cfg[p];
      if (usesKeyrole(sec)) continue;
      if (sec.role_arn !== undefined) {
        const r = resolve(p, []);
        if (r.ok) converted.set(p, r);
        else failed.push({ profile: p, why: r.why, deps: r.deps });
      }
    }

    // The new texts.
    const cfgEdit = new LineEditor(o.configText);
    const credEdit = new LineEditor(o.credentialsText);
    for (const k of candidates.values()) {
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
    for (const k of candidates.values()) {
      if (converted.has(k.name)) continue;
      const sec = cfg[k.name];
      if (sec && usesKeyrole(sec)) {
        iterNotes.push(`profile ${k.name} already runs keyrole and is kept as it is; its plaintext key ${k.from.includes('credentials') ? 'in the credentials file ' : ''}shadowed it until now`);
        continue;
      }
      if (sec?.role_arn !== undefined) continue; // a role profile that could not be converted: reported below
      additions.push([k.name, [['credential_process', `${o.command} process ${shlexQuote(k.name)}`], ['keyrole_source', k.name]]]);
    }
    for (const [p, values] of additions) configText = setProfileValues(configText, p, values).text;
    const credentialsText = credEdit.text();

    // Every converted profile must read back as keyrole would run it, with nothing shadowing it.
    const files: AwsFiles = { configPath: o.configPath, credentialsPath: o.credentialsPath, config: configSections(parseIni(configText)), credentials: parseIni(credentialsText), configText };
    for (const [p] of additions) {
      try {
        // The planner too: it refuses what AWS would (a chained role over an hour), and says how the role will be assumed.
        const how = planProfile(files, resolveSettings(files, p, {}, o.localUser)).how;
        if (how) hows.set(p, how);
        const shadow = shadowingKeys(files, p);
        if (shadow.length) throw new Error(`it also sets ${shadow.join(', ')}, which the AWS CLI would use instead of keyrole`);
      } catch (err) {
        const r = converted.get(p);
        failed.push({ profile: p, why: (err as Error).message, deps: r ? r.deps : new Set([p]) });
      }
    }
    // A key section whose own profile has a role it cannot keep is still imported (its
    // key is not that profile's credential), unless a failed profile needs it.
    const drop = new Set<string>();
    for (const f of failed) for (const d of f.deps) if (candidates.has(d)) drop.add(d);
    if (!drop.size) {
      for (const f of failed) iterNotes.push(`profile ${f.profile} left as it is: ${f.why}`);
      notes.push(...iterNotes);
      edited = { configText, credentialsText };
      break;
    }
    for (const d of drop) {
      const by = failed.filter((f) => f.deps.has(d)).map((f) => f.profile);
      notes.push(`${d} left alone: profile${by.length > 1 ? 's' : ''} ${by.join(', ')} still need${by.length > 1 ? '' : 's'} its key and cannot run through keyrole (${failed.find((f) => f.deps.has(d))!.why})`);
      candidates.delete(d);
    }
  }

  const profiles: ProfileChange[] = [];
  for (const [p, r] of converted) {
    const sec = cfg[p];
    const carried = Object.keys(RENAMED).filter((k) => k !== 'role_arn' && sec[k] !== undefined);
    const how = hows.get(p);
    profiles.push({ profile: p, description: `role ${sec.role_arn} with ${r.sourceKey === 'keyrole_source' ? `source ${sec.source_profile}` : `profile ${sec.source_profile}'s credentials`}${carried.length ? ` (${carried.join(', ')} carried over)` : ''}${how ? `: ${how}` : ''}` });
  }
  for (const k of candidates.values()) {
    if (converted.has(k.name) || (cfg[k.name] && usesKeyrole(cfg[k.name]))) continue;
    profiles.push({ profile: k.name, description: `source ${k.name}, no role (a GetSessionToken session)${cfg[k.name] ? '' : ', a new profile'}` });
  }
  return {
    keys: [...candidates.values()],
    profiles,
    notes,
    configText: edited.configText,
    credentialsText: edited.credentialsText,
    configChanged: edited.configText !== o.configText,
    credentialsChanged: edited.credentialsText !== o.credentialsText,
  };
}
