// Where long-term access keys sit in plaintext: `aws_secret_access_key` without an
// `aws_session_token` (temporary keys expire by themselves) in the config and credentials
// files, and in the 0600 backups keyrole itself made of them (`<file>.keyrole-backup-*`,
// src/config/configedit.ts backupFile): a `configure` run before `import` copied the secret
// into a backup, where `import` would otherwise leave it behind. doctor asks here what to
// report; import asks here what to clean.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseIni, type Section } from './ini.ts';
import { profileNames } from './files.ts';
import { keyroleBackups, writeFileAtomic } from './configedit.ts';

/** Whether a section holds a long-term key: a secret without a session token. */
export function holdsLongTermKey(s: Section): boolean {
  return s.aws_secret_access_key !== undefined && s.aws_session_token === undefined;
}

/** The profiles of a file's sections that hold a long-term key. */
export function longTermKeyProfiles(sections: Record<string, Section>, file: 'config' | 'credentials'): string[] {
  return profileNames(sections, file).filter((name) => holdsLongTermKey(sections[name]));
}

const SECRET_LINE = /^\s*aws_secret_access_key\s*=/;

export interface BackupWithKeys {
  path: string;
  /** The sections whose long-term key the backup holds. */
  sections: string[];
}

function readBackup(path: string): string | undefined {
  try { return readFileSync(path, 'utf8'); } catch { return undefined; }
}

function keySections(text: string): string[] {
  try {
    const all = parseIni(text);
    return Object.keys(all).filter((name) => holdsLongTermKey(all[name]));
  } catch {
    // A backup keyrole cannot parse still must not hide a secret.
    return text.split('\n').some((line) => SECRET_LINE.test(line)) ? ['(a section keyrole cannot read)'] : [];
  }
}

/** keyrole's backups of these files that hold a long-term key. */
export function backupsWithKeys(paths: string[]): BackupWithKeys[] {
  const out: BackupWithKeys[] = [];
  for (const backup of paths.flatMap((p) => keyroleBackups(p).map((n) => join(dirname(p), n)))) {
    const text = readBackup(backup);
    const sections = text === undefined ? [] : keySections(text);
    if (sections.length) out.push({ path: backup, sections });
  }
  return out;
}

/**
 * Removes from keyrole's backups of these files the secrets that are now in the keychain
 * (`stored`): each such `aws_secret_access_key` line goes; the backup keeps the rest, access
 * key ids included. A secret that is not in the keychain stays (it may be the only copy) and
 * is reported by backupsWithKeys. Atomic per file, mode kept (0600). Returns the backups
 * changed.
 */
export function scrubBackups(paths: string[], stored: ReadonlySet<string>): string[] {
  const changed: string[] = [];
  for (const found of backupsWithKeys(paths)) {
    const text = readBackup(found.path);
    if (text === undefined) continue;
    const lines = text.split(/(?<=\n)/);
    const kept = lines.filter((line) => {
      const m = SECRET_LINE.exec(line);
      return !(m && stored.has(line.slice(m[0].length).split(/\s[;#]/)[0].trim()));
    });
    if (kept.length === lines.length) continue;
    writeFileAtomic(found.path, kept.join(''));
    changed.push(found.path);
  }
  return changed;
}
