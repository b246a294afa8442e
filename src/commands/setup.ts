// `keyrole setup <source>`: stores a source's long-term keys in the keychain.
// Keys come from the terminal (no echo) or from stdin when it is piped; never from argv,
// where every other process on the machine could read them. Either way the key is checked
// with STS before it is stored (--no-verify skips that): a piped wrong secret used to be
// stored with "Stored source" and fail only at first use.

import { KeyroleError, usageError } from '../util/errors.ts';
import { keyShapeProblem, type SourceKeys } from '../keychain/sourcekeys.ts';
import { readSource, sourceExists } from '../keychain/sources.ts';
import { storeName, volatileStoreNotice } from '../keychain/selection.ts';
import { validSourceName } from '../config/settings.ts';
import { ask, confirm, openTerminal, readStdin } from '../util/prompt.ts';
import { redactKeyId } from '../util/debug.ts';
import { parseCommand } from './args.ts';
import { parseIni } from '../config/ini.ts';
import { printable } from '../util/printable.ts';

/**
 * Accepts what people actually paste or pipe: two lines (id, then secret), KEY=VALUE lines
 * (aws_access_key_id / AWS_ACCESS_KEY_ID …), or the IAM console's "Access key ID,Secret
 * access key" CSV download.
 */
export function parseKeyInput(text: string, name?: string): { accessKeyId: string; secretAccessKey: string } {
  text = text.replace(/^\uFEFF/, '');
  // A credentials file (or part of one): the section named like the source, or the only
  // section with a key; several and none of that name is ambiguous (the last used to win).
  if (/^\s*\[[^\]\r\n]+\]\s*$/m.test(text)) {
    const withKeys = Object.entries(parseIni(text)).filter(([, s]) => s.aws_access_key_id !== undefined || s.aws_secret_access_key !== undefined);
    const pick = (name !== undefined ? withKeys.find(([n]) => n === name) : undefined) ?? (withKeys.length === 1 ? withKeys[0] : undefined);
    if (!pick) {
      throw new KeyroleError('AmbiguousKeyInput', withKeys.length
        ? `the input holds ${withKeys.length} sections with keys (${withKeys.map(([n]) => printable(n)).join(', ')}) and none is named ${JSON.stringify(name ?? '')}`
        : 'the input has [sections] but none holds aws_access_key_id', `pipe one section, name the source after the section, or move them all with keyrole import`);
    }
    return { accessKeyId: pick[1].aws_access_key_id ?? '', secretAccessKey: pick[1].aws_secret_access_key ?? '' };
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const kv: Record<string, string> = {};
  for (const l of lines) {
    const m = /^(?:export\s+)?([A-Za-z_]+)\s*[=:]\s*(.*)$/.exec(l);
    if (!m) continue;
    const key = m[1].toLowerCase();
    if (key in kv) throw new KeyroleError('AmbiguousKeyInput', `the input sets ${key} more than once`, 'pipe one access key id and one secret');
    kv[key] = m[2].trim().replace(/^(["'])(.*)\1$/, '$2');
  }
  if (kv.aws_access_key_id || kv.aws_secret_access_key) {
    return { accessKeyId: kv.aws_access_key_id ?? '', secretAccessKey: kv.aws_secret_access_key ?? '' };
  }
  if (lines.length >= 2 && /access key id/i.test(lines[0]) && lines[0].includes(',')) {
    const header = lines[0].split(',').map((h) => h.trim().toLowerCase());
    const row = lines[1].split(',').map((v) => v.trim());
    return { accessKeyId: row[header.indexOf('access key id')] ?? '', secretAccessKey: row[header.indexOf('secret access key')] ?? '' };
  }
  if (lines.length === 2) return { accessKeyId: lines[0], secretAccessKey: lines[1] };
  throw new KeyroleError('BadKeyInput', `expected the access key id and the secret access key on two lines, got ${lines.length} line(s)`, 'pipe them as: printf "%s\\n%s\\n" "$ID" "$SECRET" | keyrole setup NAME');
}

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('setup', argv, { force: { type: 'boolean', short: 'f' }, 'no-verify': { type: 'boolean' }, profile: { type: 'string' } });
  if (positionals.length !== 1) throw usageError('setup takes one source name (keys are read from the terminal or stdin, never from arguments)', 'keyrole setup <source>');
  return setupCommand({ name: positionals[0], force: !!v.force, verify: !v['no-verify'], profile: v.profile });
}

export interface SetupOptions {
  name: string;
  force: boolean;
  /** Check a new key with GetCallerIdentity before storing it (typed or piped). */
  verify?: boolean;
  /** Whose endpoint settings the check uses (default: the first profile using the source). */
  profile?: string;
}

/** GetCallerIdentity with the new key: a mistyped secret is caught now, not at first use. */
async function verifyKey(o: SetupOptions, keys: { accessKeyId: string; secretAccessKey: string }): Promise<string> {
  const [{ loadAwsFiles }, { targetsFor }, { getCallerIdentity }] = await Promise.all([import('../config/files.ts'), import('./rotate.ts'), import('../aws/sts.ts')]);
  const { sts } = targetsFor(await loadAwsFiles(), o.name, o.profile);
  try {
    return (await getCallerIdentity(keys, sts)).arn;
  } catch (err) {
    // The STS error keeps its code (a refusal or a network failure); anything else is unexpected.
    const e = err instanceof KeyroleError ? err : new KeyroleError('StsError', String((err as Error)?.message ?? err));
    throw new KeyroleError(e.code, `the new key was not stored: STS refused it or could not be asked (${e.message})`, 'check the id and secret and run keyrole setup again, or pass --no-verify to store it unchecked (offline)');
  }
}

export async function setupCommand(o: SetupOptions): Promise<void> {
  if (!validSourceName(o.name)) throw usageError(`source name ${JSON.stringify(o.name)} is not valid`, 'use letters, digits and ._@+=- (up to 64 characters)');
  storeName(); // an invalid KEYROLE_KEYCHAIN fails before anything is typed

  const piped = !process.stdin.isTTY;
  const term = openTerminal();
  try {
    if (!o.force && sourceExists(o.name)) {
      if (!term) throw new KeyroleError('SourceExists', `source "${o.name}" is already in the keychain and there is no terminal to confirm replacing it`, `pass --force to replace it: keyrole setup ${o.name} --force`);
      let current = '';
      try { current = ` (${redactKeyId(readSource(o.name).accessKeyId)})`; } catch { /* an unreadable entry is replaced all the same */ }
      if (!(await confirm(term, `Source "${o.name}"${current} is already stored. Replace it?`))) {
        throw new KeyroleError('Cancelled', `kept the existing keys of source "${o.name}"`, 'nothing was changed', 1);
      }
    }

    let pair: { accessKeyId: string; secretAccessKey: string };
    if (piped) {
      pair = parseKeyInput(await readStdin(), o.name);
    } else {
      if (!term) throw new KeyroleError('NoTerminal', 'there is no terminal to type the keys into', `pipe them instead: printf "%s\\n%s\\n" "$ID" "$SECRET" | keyrole setup ${o.name}`);
      const accessKeyId = await ask(term, 'AWS access key id: ');
      const early = keyShapeProblem(accessKeyId, 'x'.repeat(40));
      if (early) throw new KeyroleError('BadKey', early, 'nothing was stored; check the key and run keyrole setup again');
      const secretAccessKey = await ask(term, 'AWS secret access key (not shown): ', { secret: true });
      pair = { accessKeyId, secretAccessKey };
    }

    const problem = keyShapeProblem(pair.accessKeyId, pair.secretAccessKey);
    if (problem) throw new KeyroleError('BadKey', problem, 'nothing was stored; check the key and run keyrole setup again');

    // Progress goes to the terminal when there is one, else to stderr: stdout carries only
    // the "Stored source" line a script may read.
    const say = (line: string) => (term ? term.output : process.stderr).write(`${line}\n`);
    if (o.verify !== false) {
      say('Checking the key with STS (GetCallerIdentity)…');
      say(`The key works: ${printable(await verifyKey(o, pair))}`);
    }
    const keys: SourceKeys = { ...pair, storedAt: new Date().toISOString() };
    const { storeSource } = await import('./sources.ts');
    const ended = await storeSource(o.name, keys);
    // After the store, not before: a store that fails is one line, and the notice is about keys that are kept.
    const notice = volatileStoreNotice();
    if (notice) process.stderr.write(`keyrole: ${notice}\n`);
    process.stdout.write(`Stored source "${o.name}" (${redactKeyId(keys.accessKeyId)}) in the keychain.\n`);
    if (ended) process.stdout.write(`Removed ${ended} cached credential${ended === 1 ? '' : 's'} made with the key it replaced.\n`);
  } finally {
    term?.close();
  }
}
