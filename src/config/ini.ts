// The shared config/credentials file format, read the way the AWS SDKs read it: typed
// sections ([profile x], [sso-session x], [services x]), [default], nested sub-keys
// (`s3 =` followed by indented `key = value` lines), and `#` / `;` comments at the start
// of a line or after whitespace.
//
// keyrole used @smithy/shared-ini-file-loader for this, but that package's entry pulls in
// node:crypto, fs/promises and readline, about 7 ms on every cache hit (a fifth of it).
// test/unit/ini-conformance.test.ts checks this parser against the SDK's on a corpus of
// files, so both keep one view of the config.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { KeyroleError } from '../util/errors.ts';

export type Section = Record<string, string | undefined>;
export type Sections = Record<string, Section>;

const TYPED = /^([\w-]+)\s+(["'])?([\w\-@+.%:/]+)\2$/;
const SECTION_TYPES = new Set(['profile', 'sso-session', 'services']);

/** Parses INI text into sections keyed as the SDK keys them (`profile.x`, `sso-session.x`, or the bare name). */
export function parseIni(text: string): Sections {
  const out: Sections = Object.create(null) as Sections;
  let current: string | undefined;
  let sub: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.split(/(?:^|\s)[;#]/)[0].trim();
    if (line.startsWith('[') && line.endsWith(']')) {
      const name = line.slice(1, -1);
      if (name === '__proto__' || name === 'profile __proto__') {
        throw new KeyroleError('BadConfig', `the config has a section named [${name}], which is not allowed`, 'rename that section');
      }
      const m = TYPED.exec(name);
      current = m ? (SECTION_TYPES.has(m[1]) ? `${m[1]}.${m[3]}` : undefined) : name;
      sub = undefined;
      continue;
    }
    if (current === undefined) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (value === '') {
      sub = key;
      continue;
    }
    // A sub-key block ends at the first line that is not indented.
    if (sub !== undefined && raw.trimStart() === raw) sub = undefined;
    const section = (out[current] ??= Object.create(null) as Section);
    section[sub === undefined ? key : `${sub}.${key}`] = value;
  }
  return out;
}

/** The config file's view: profiles by bare name, other typed sections as `type.name`. */
export function configSections(all: Sections): Sections {
  const out: Sections = Object.create(null) as Sections;
  if (all.default) out.default = all.default;
  for (const [key, value] of Object.entries(all)) {
    const dot = key.indexOf('.');
    if (dot < 0) continue;
    const type = key.slice(0, dot);
    if (!SECTION_TYPES.has(type)) continue;
    out[type === 'profile' ? key.slice(dot + 1) : key] = value;
  }
  return out;
}

/** Files larger than this are refused: no AWS config is anywhere near it, and reading one must stay cheap. */
export const MAX_INI_BYTES = 5 * 1024 * 1024;

function tooLarge(path: string, what: string): KeyroleError {
  return new KeyroleError('ConfigTooLarge', `the AWS ${what} file ${path} is larger than ${MAX_INI_BYTES / 1024 / 1024} MB, which no AWS ${what} file needs to be`, `check that ${what === 'config' ? 'AWS_CONFIG_FILE' : 'AWS_SHARED_CREDENTIALS_FILE'} points at the right file`);
}

/** Reads at most MAX_INI_BYTES (+1 to notice more): a device or a pipe that never ends cannot hang keyrole. */
function readBounded(path: string, what: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    if (st.isFile() && st.size > MAX_INI_BYTES) throw tooLarge(path, what);
    const chunks: Buffer[] = [];
    let total = 0;
    // A regular file in one read (procfs files say 0 bytes: they get the plain buffer too).
    const buf = Buffer.allocUnsafe(st.isFile() && st.size >= 65536 ? st.size + 1 : 65536);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > MAX_INI_BYTES) throw tooLarge(path, what);
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

/** The 1-based line of the first byte sequence that is not UTF-8. */
function firstBadLine(bytes: Buffer): number {
  let line = 1;
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      if (!isUtf8(bytes.subarray(start, i))) return line;
      line++;
      start = i + 1;
    }
  }
  return line;
}

/**
 * The text of a file the SDK would read, or undefined when it does not exist. Refused: a
 * file over MAX_INI_BYTES, and bytes that are not UTF-8 (the SDK would read them as U+FFFD,
 * which can change a name or a value without a word; the AWS CLI refuses such a file).
 */
export function readIniText(path: string, what: string): string | undefined {
  let bytes: Buffer;
  try {
    bytes = readBounded(path, what);
  } catch (err) {
    if (err instanceof KeyroleError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new KeyroleError('ConfigUnreadable', `cannot read the AWS ${what} file ${path} (${code ?? (err as Error).message})`, `fix its permissions, or point ${what === 'config' ? 'AWS_CONFIG_FILE' : 'AWS_SHARED_CREDENTIALS_FILE'} elsewhere`);
  }
  if (!isUtf8(bytes)) {
    throw new KeyroleError('ConfigNotUtf8', `line ${firstBadLine(bytes)} of the AWS ${what} file ${path} is not UTF-8 text`, 'save the file as UTF-8 (the AWS CLI cannot read it either)');
  }
  return bytes.toString('utf8');
}

/** Reads a file the SDK would read: a missing file is empty, any other failure is an error. */
export function readIniFile(path: string, what: string): Sections {
  const text = readIniText(path, what);
  return text === undefined ? Object.create(null) as Sections : parseIni(text);
}

/** One `key = value` line of a section, as scanSection reports it. */
export interface KeyLine {
  key: string;
  /** 1-based. */
  line: number;
}

/**
 * Every key line of the section parseIni files under `parseKey` (`profile.x`, `default`…),
 * across all of its [headers], with line numbers; and the lines in it that look like a
 * setting but have no '=' (the SDK skips those without a word). parseIni keeps the last
 * value of a key, as the SDK does; config validation uses this to name a key set twice.
 * Only read on demand, for the one section keyrole is about to use.
 */
export function scanSection(text: string, parseKey: string): { keys: KeyLine[]; noEquals: KeyLine[] } {
  const keys: KeyLine[] = [];
  const noEquals: KeyLine[] = [];
  let inside = false;
  let sub: string | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    // Only headers matter outside the section: skip other lines before any real work.
    if (!inside && raw.trimStart()[0] !== '[') continue;
    const line = raw.split(/(?:^|\s)[;#]/)[0].trim();
    if (line.startsWith('[') && line.endsWith(']')) {
      const name = line.slice(1, -1);
      const m = TYPED.exec(name);
      const current = m ? (SECTION_TYPES.has(m[1]) ? `${m[1]}.${m[3]}` : undefined) : name;
      inside = current === parseKey;
      sub = undefined;
      continue;
    }
    if (!inside) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      if (line) noEquals.push({ key: line, line: i + 1 });
      continue;
    }
    const key = line.slice(0, eq).trim();
    if (line.slice(eq + 1).trim() === '') {
      sub = key;
      continue;
    }
    if (sub !== undefined && raw.trimStart() === raw) sub = undefined;
    keys.push({ key: sub === undefined ? key : `${sub}.${key}`, line: i + 1 });
  }
  return { keys, noEquals };
}
