// `keyrole list` and `keyrole remove <source>`.

import { listSources, readSource, removeSource } from '../keychain/keychain.ts';
import { loadAwsFiles } from '../config/files.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { parseCommand } from './args.ts';
import { redactKeyId } from '../util/debug.ts';
import { confirm, openTerminal } from '../util/prompt.ts';

export async function listMain(argv: string[]): Promise<void> {
  const { positionals } = parseCommand('list', argv, {});
  if (positionals.length) throw usageError('list takes no arguments', 'keyrole list');
  return listCommand();
}

export async function removeMain(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('remove', argv, { force: { type: 'boolean', short: 'f' } });
  if (positionals.length !== 1) throw usageError('remove takes one source name', 'keyrole remove <source>');
  return removeCommand(positionals[0], !!v.force);
}

export async function listCommand(): Promise<void> {
  const names = listSources();
  const files = await loadAwsFiles();
  if (!names.length) {
    process.stdout.write('No sources in the keychain. Add one with: keyrole setup <name>\n');
    return;
  }
  for (const name of names) {
    let key: string;
    try { key = redactKeyId(readSource(name).accessKeyId); } catch { key = '(unreadable)'; }
    const profiles = Object.entries(files.config)
      .filter(([p, sec]) => !p.includes('.') && sec.keyrole_source === name)
      .map(([p]) => p);
    process.stdout.write(`${name}  ${key}  ${profiles.length ? `profiles: ${profiles.join(', ')}` : '(no profile uses it)'}\n`);
  }
}

export async function removeCommand(name: string, force: boolean): Promise<void> {
  if (!force) {
    const term = openTerminal();
    if (!term) throw new KeyroleError('NoTerminal', `no terminal to confirm removing source "${name}"`, 'pass --force');
    try {
      if (!(await confirm(term, `Remove source "${name}" from the keychain?`))) {
        throw new KeyroleError('Cancelled', `kept source "${name}"`, 'nothing was changed');
      }
    } finally {
      term.close();
    }
  }
  if (!removeSource(name)) throw new KeyroleError('SourceNotFound', `source "${name}" is not in the keychain`, 'keyrole list shows the stored sources');
  process.stdout.write(`Removed source "${name}".\n`);
}
