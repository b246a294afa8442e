// doctor's check of the files' syntax as the AWS CLI reads them. botocore parses
// ~/.aws/config and ~/.aws/credentials with Python's configparser, which refuses the whole
// file (ConfigParseError: "Unable to parse config file") for a line that is neither a
// comment, a [section], `key = value` / `key: value`, nor an indented continuation of a
// value, and for a setting before the first [section]. The JS SDK (and keyrole's reader)
// skip such a line without a word, so every other tool works and only the AWS CLI fails.

import type { AwsFiles } from '../../config/files.ts';
import { readIniText } from '../../config/ini.ts';
import { printable } from '../../util/printable.ts';
import { ok, problem, type Check } from './check.ts';

const NAME = 'file syntax';

/** The 1-based lines configparser would refuse, with why. */
export function configParserProblems(text: string): { line: number; why: string }[] {
  const out: { line: number; why: string }[] = [];
  let inSection = false;
  let inValue = false;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const t = raw.trim();
    if (!t || t.startsWith('#') || t.startsWith(';')) { if (!t) inValue = false; continue; }
    if (/^\s/.test(raw) && inValue) continue; // a continuation line of the value above
    if (/^\[[^\]]+\]/.test(t)) { inSection = true; inValue = false; continue; }
    if (!/[=:]/.test(t)) { out.push({ line: i + 1, why: `has no '=': ${JSON.stringify(printable(t).slice(0, 60))}` }); inValue = false; continue; }
    if (!inSection) { out.push({ line: i + 1, why: 'is a setting before the first [section]' }); continue; }
    inValue = true;
  }
  return out;
}

export function syntaxCheck(files: AwsFiles): Check {
  const found: string[] = [];
  let credentialsText: string | undefined;
  try { credentialsText = readIniText(files.credentialsPath, 'credentials'); } catch { /* reported elsewhere */ }
  for (const [path, text] of [[files.configPath, files.configText], [files.credentialsPath, credentialsText]] as const) {
    if (text === undefined) continue;
    const bad = configParserProblems(text);
    if (bad.length) found.push(`line ${bad[0].line} of ${path} ${bad[0].why}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ''}`);
  }
  if (!found.length) return ok(NAME, 'the AWS CLI can parse the config and credentials files');
  return problem(NAME, `${found.join('; ')}: the AWS CLI refuses the whole file (ConfigParseError: Unable to parse config file), while the SDKs skip the line`,
    'write it as key = value, make it a comment (#), or remove it');
}
