// The shared config/credentials file format, read the way the AWS SDKs read it: typed
// sections ([profile x], [sso-session x], [services x]), [default], nested sub-keys
// (`s3 =` followed by indented `key = value` lines), and `#` / `;` comments at the start
// of a line or after whitespace.
//
// keyrole used @smithy/shared-ini-file-loader for this, but that package's entry pulls in
// node:crypto, fs/promises and readline, about 7 ms on every cache hit (a fifth of it).
// test/unit/ini-conformance.test.ts checks this parser against the SDK's on a corpus of
// files, so both keep one view of the config.

import * as fs from 'node:fs';
import { KeyroleError } from './errors.ts';

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

/** Reads a file the SDK would read: a missing file is empty, any other failure is an error. */
export function readIniFile(path: string, what: string): Sections {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return Object.create(null) as Sections;
    throw new KeyroleError('ConfigUnreadable', `cannot read the AWS ${what} file ${path} (${code ?? (err as Error).message})`, `fix its permissions, or point ${what === 'config' ? 'AWS_CONFIG_FILE' : 'AWS_SHARED_CREDENTIALS_FILE'} elsewhere`);
  }
  return parseIni(text);
}
