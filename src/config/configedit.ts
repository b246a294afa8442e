// Edits one profile of ~/.aws/config as text, the way a careful person would: values are
// replaced on their own lines (indentation and trailing comments kept), new keys go after
// the section's last setting, a new section goes at the end, and every other byte of the
// file (comments, blank lines, other profiles, line endings) stays as it was.

import { closeSync, constants, existsSync, fchmodSync, openSync, readdirSync, readFileSync, realpathSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { writeAtomic } from '../util/atomic.ts';
import { basename, dirname, join } from 'node:path';
import { KeyroleError } from '../util/errors.ts';
import { makeDirs } from '../util/dirs.ts';

const TYPED = /^([\w-]+)\s+(["'])?([\w\-@+.%:/]+)\2$/;
const SECTION_TYPES = new Set(['profile', 'sso-session', 'services']);

/** Whether a header line opens the config-file section of `profile`. */
function opensProfile(line: string, profile: string): boolean {
  const t = line.split(/(?:^|\s)[;#]/)[0].trim();
  if (!t.startsWith('[') || !t.endsWith(']')) return false;
  const name = t.slice(1, -1).trim();
  if (profile === 'default' && name === 'default') return true;
  const m = TYPED.exec(name);
  return !!m && m[1] === 'profile' && m[3] === profile;
}

const isHeader = (line: string) => {
  const t = line.split(/(?:^|\s)[;#]/)[0].trim();
  return t.startsWith('[') && t.endsWith(']');
};

/** The start of a trailing comment in a value (as src/config/ini.ts reads it), or -1. */
function commentStart(rest: string): number {
  const m = /(?:^|\s)[;#]/.exec(rest);
  return m ? m.index : -1;
}

export interface EditResult {
  text: string;
  /** Keys whose line was changed, added, or left as it was. */
  changed: string[];
  added: string[];
  created: boolean;
}

/**
 * Sets `values` (in order) in the profile's section. A key already there keeps its line,
 * with the value replaced; others are added after the section's last setting.
 */
export function setProfileValues(text: string, profile: string, values: [string, string][]): EditResult {
  for (const [k, v] of values) {
    if (/[\r\n]/.test(v) || v.trim() !== v || v === '') throw new KeyroleError('BadConfigValue', `the value for ${k} cannot be written to the config file (empty, surrounding spaces or a line break)`, 'pass a plain value');
  }
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.length ? text.split(/(?<=\n)/) : [];
  const start = lines.findIndex((l) => opensProfile(l, profile));
  const changed: string[] = [];
  const added: string[] = [];
  const newLines = (keys: [string, string][]) => keys.map(([k, v]) => `${k} = ${v}${eol}`);

  if (start < 0) {
    let prefix = text;
    if (prefix.length && !prefix.endsWith('\n')) prefix += eol;
    if (prefix.trim().length) prefix += eol;
    const header = profile === 'default' ? '[default]' : `[profile ${profile}]`;
    return { text: `${prefix}${header}${eol}${newLines(values).join('')}`, changed, added: values.map(([k]) => k), created: true };
  }

  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) if (isHeader(lines[i])) { end = i; break; }

  // Top-level keys of the section; lines of a nested block (`s3 =` + indented lines) are not.
  const keyLine = new Map<string, number>();
  let lastSetting = start;
  let inSub = false;
  for (let i = start + 1; i < end; i++) {
    const raw = lines[i].replace(/\r?\n$/, '');
    const body = raw.split(/(?:^|\s)[;#]/)[0];
    if (!body.trim()) continue;
    lastSetting = i;
    const indented = /^\s/.test(raw);
    if (inSub && indented) continue;
    inSub = false;
    const eq = body.indexOf('=');
    if (eq <= 0) continue;
    const key = body.slice(0, eq).trim();
    if (body.slice(eq + 1).trim() === '') inSub = true;
    if (!keyLine.has(key)) keyLine.set(key, i);
  }

  const missing: [string, string][] = [];
  for (const [k, v] of values) {
    const i = keyLine.get(k);
    if (i === undefined) { missing.push([k, v]); continue; }
    const raw = lines[i];
    const ending = /\r?\n$/.exec(raw)?.[0] ?? '';
    const content = raw.slice(0, raw.length - ending.length);
    const eq = content.indexOf('=');
    const rest = content.slice(eq + 1);
    const c = commentStart(rest);
    const valuePart = c < 0 ? rest : rest.slice(0, c);
    const tail = c < 0 ? '' : rest.slice(c);
    const lead = valuePart.trim() === '' ? ' ' : /^\s*/.exec(valuePart)![0];
    const trailingSpace = /\s*$/.exec(valuePart)![0];
    const next = `${content.slice(0, eq + 1)}${lead}${v}${c < 0 ? '' : trailingSpace}${tail}${ending}`;
    if (next !== raw) {
      lines[i] = next;
      changed.push(k);
    }
  }
  if (missing.length) {
    // After the last setting; if that line had no newline (end of file), give it one.
    if (!/\n$/.test(lines[lastSetting])) lines[lastSetting] += eol;
    lines.splice(lastSetting + 1, 0, ...newLines(missing));
    added.push(...missing.map(([k]) => k));
  }
  return { text: lines.join(''), changed, added, created: false };
}

/** How many backups of a file keyrole keeps: the newest; older ones are removed when a new one is made. */
export const KEEP_BACKUPS = 5;

/** The names of keyrole's backups of `path`, oldest first (by the time in their names). */
export function keyroleBackups(path: string): string[] {
  const prefix = `${basename(path)}.keyrole-backup-`;
  let names: string[];
  try { names = readdirSync(dirname(path)); } catch { return []; }
  // <stamp>[-n]: the stamp sorts by time; a same-second -n sorts after its plain name.
  const key = (n: string) => { const m = /^(\d{8}T\d{6}Z)(?:-(\d+))?$/.exec(n.slice(prefix.length)); return m ? [m[1], Number(m[2] ?? 0)] as const : undefined; };
  return names.filter((n) => n.startsWith(prefix) && key(n)).sort((a, b) => {
    const [x, y] = [key(a)!, key(b)!];
    return x[0] === y[0] ? x[1] - y[1] : x[0] < y[0] ? -1 : 1;
  });
}

/** Removes all but the newest `keep` keyrole backups of `path` (by the time in their names). Returns the names removed. */
export function pruneBackups(path: string, keep = KEEP_BACKUPS): string[] {
  const ours = keyroleBackups(path);
  const removed = ours.slice(0, Math.max(0, ours.length - keep));
  for (const n of removed) try { unlinkSync(join(dirname(path), n)); } catch { /* gone already */ }
  return removed;
}

/** Removes top-level keys of a profile's section in the config (`keyrole configure`'s "-" answer). */
export function removeProfileKeys(text: string, profile: string, keys: string[]): { text: string; removed: string[] } {
  const e = new LineEditor(text);
  const section = profile === 'default' ? 'default' : `profile.${profile}`;
  const removed = keys.filter((k) => e.remove(section, k));
  return { text: e.text(), removed };
}

interface LineInfo {
  /** The section as parseIni keys it (`profile.x`, `default`, a bare credentials name). */
  section: string | undefined;
  /** The top-level key set on this line (not a sub-key, not a comment). */
  key?: string;
}

/** Which section and top-level key each line holds, by parseIni's rules. */
function scanLines(lines: string[]): LineInfo[] {
  const out: LineInfo[] = [];
  let current: string | undefined;
  let inSub = false;
  for (const raw0 of lines) {
    const raw = raw0.replace(/\r?\n$/, '');
    const line = raw.split(/(?:^|\s)[;#]/)[0].trim();
    if (line.startsWith('[') && line.endsWith(']')) {
      const name = line.slice(1, -1);
      const m = TYPED.exec(name);
      current = m ? (SECTION_TYPES.has(m[1]) ? `${m[1]}.${m[3]}` : undefined) : name;
      inSub = false;
      out.push({ section: current });
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq <= 0) { out.push({ section: current }); continue; }
    const indented = /^\s/.test(raw);
    if (inSub && indented) { out.push({ section: current }); continue; }
    const key = line.slice(0, eq).trim();
    inSub = line.slice(eq + 1).trim() === '';
    out.push({ section: current, key });
  }
  return out;
}

/** Removes and renames top-level keys of sections, line by line. */
export class LineEditor {
  readonly lines: string[];
  private readonly info: LineInfo[];
  constructor(text: string) {
    this.lines = text.length ? text.split(/(?<=\n)/) : [];
    this.info = scanLines(this.lines);
  }
  private each(section: string, key: string, fn: (i: number) => void): void {
    for (let i = 0; i < this.lines.length; i++) if (this.info[i].section === section && this.info[i].key === key) fn(i);
  }
  /** Removes every line setting `key` in `section`; whether there was one. */
  remove(section: string, key: string): boolean {
    let found = false;
    this.each(section, key, (i) => { this.lines[i] = ''; found = true; });
    return found;
  }
  rename(section: string, key: string, to: string): void {
    this.each(section, key, (i) => {
      const at = this.lines[i].indexOf(key);
      this.lines[i] = `${this.lines[i].slice(0, at)}${to}${this.lines[i].slice(at + key.length)}`;
    });
  }
  text(): string {
    return this.lines.join('');
  }
}

/** A 0600 copy of the file beside it; returns its path (undefined when there was no file). Keeps the newest KEEP_BACKUPS. */
export function backupFile(path: string, now = new Date()): string | undefined {
  if (!existsSync(path)) return undefined;
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  let target = join(dirname(path), `${basename(path)}.keyrole-backup-${stamp}`);
  for (let n = 1; existsSync(target); n++) target = join(dirname(path), `${basename(path)}.keyrole-backup-${stamp}-${n}`);
  const fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeFileSync(fd, readFileSync(path));
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
  pruneBackups(path);
  return target;
}

/**
 * The one way keyrole rewrites a config file: a 0600 backup of what was there (unless
 * `backup` is false: `import` skips it when the config itself held secrets), then the new
 * text atomically, through a symlink to its target (writeFileAtomic). The backup goes beside
 * `path` as given, where doctor and import look for keyrole's backups (keyroleBackups): a
 * symlinked config (a dotfile manager's) keeps its backup in ~/.aws, not in the dotfiles
 * repository the link points into. Returns the backup's path.
 */
export function rewriteConfig(path: string, text: string, o: { backup?: boolean; now?: Date } = {}): string | undefined {
  const backup = o.backup === false ? undefined : backupFile(path, o.now);
  writeFileAtomic(path, text);
  return backup;
}

/**
 * Replaces the file's content atomically (temp file in the same directory, fsync, rename),
 * keeping its mode; a symlinked config (dotfile managers) is written through to its target.
 */
export function writeFileAtomic(path: string, text: string): void {
  let target = path;
  try { target = realpathSync(path); } catch { /* a new file */ }
  const dir = dirname(target);
  let mode = 0o600;
  try { mode = statSync(target).mode & 0o777; } catch { /* new */ }
  try {
    if (!existsSync(dir)) makeDirs(dir);
    writeAtomic(target, text, { mode });
  } catch (err) {
    throw new KeyroleError('ConfigWriteFailed', `cannot write ${target} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'check the permissions of the file and its directory; nothing was changed');
  }
}
