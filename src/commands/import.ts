// `keyrole import`: moves the plaintext long-term keys of ~/.aws/credentials (and static
// keys written in ~/.aws/config) into the keychain, and rewrites the config so every
// profile that used them runs through keyrole (the plan: src/config/migrate.ts).
//
// The order is what makes a kill at any moment lose nothing:
//   1. every key is written to the keychain and read back (a key already stored the same
//      is left as it is); the files are untouched, so everything works as before;
//   2. the config is replaced atomically (after a 0600 backup): the profiles now run
//      keyrole, which finds the keys in the keychain, while the plaintext keys are still
//      in the credentials file (where the AWS CLI still prefers them for a profile of the
//      section's own name: nothing breaks);
//   3. the credentials file is replaced atomically without the migrated key lines. No
//      backup of it is made: it would be a second plaintext copy of the secrets.
//   4. keyrole's earlier backups of either file (`configure` makes them) lose the secret
//      lines of the keys now in the keychain (src/config/plaintext.ts); a secret there that
//      is not in the keychain stays, and is named.
// Run again after a kill, import finds the keys already stored (the same key: no
// question), the config already converted, and finishes the remaining step.

import { KeyroleError, usageError } from '../util/errors.ts';
import { configPath, credentialsPath } from '../config/files.ts';
import { readIniText } from '../config/ini.ts';
import { planImport, type ImportPlan } from '../config/migrate.ts';
import { rewriteConfig, writeFileAtomic } from '../config/configedit.ts';
import { backupsWithKeys, scrubBackups } from '../config/plaintext.ts';
import { decodeSource, SOURCE_SERVICE } from '../keychain/sourcekeys.ts';
import { getItem } from '../keychain/keychain.ts';
import { readSource } from '../keychain/sources.ts';
import { storeName, volatileStoreNotice } from '../keychain/selection.ts';
import { storeSource } from './sources.ts';
import { localUser } from '../credentials/user.ts';
import { selfCommand } from '../util/self.ts';
import { confirm, openTerminal } from '../util/prompt.ts';
import { redactKeyId } from '../util/debug.ts';
import { printable } from '../util/printable.ts';
import { parseCommand } from './args.ts';

export interface ImportOptions {
  dryRun: boolean;
  yes: boolean;
  force: boolean;
  only: string[];
}

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('import', argv, {
    'dry-run': { type: 'boolean', short: 'n' },
    yes: { type: 'boolean', short: 'y' },
    force: { type: 'boolean' },
    profile: { type: 'string', multiple: true },
  });
  if (positionals.length) throw usageError('import takes no arguments (name sections with --profile)', 'keyrole import [--dry-run] [--yes] [--profile <name> …]');
  return importCommand({ dryRun: !!v['dry-run'], yes: !!v.yes, force: !!v.force, only: v.profile ?? [] });
}

type Existing = 'absent' | 'same' | 'different' | 'unreadable';

function existingSource(name: string, id: string, secret: string): Existing {
  const raw = getItem(SOURCE_SERVICE, name, `read source "${name}"`);
  if (raw === null) return 'absent';
  const keys = decodeSource(raw);
  if (!keys) return 'unreadable';
  return keys.accessKeyId === id && keys.secretAccessKey === secret ? 'same' : 'different';
}

function readBoth(): { cfgPath: string; credPath: string; configText: string; credentialsText: string } {
  const cfgPath = configPath();
  const credPath = credentialsPath();
  return { cfgPath, credPath, configText: readIniText(cfgPath, 'config') ?? '', credentialsText: readIniText(credPath, 'credentials') ?? '' };
}

function makePlan(force: boolean, only: string[], existing: Map<string, Existing>): ReturnType<typeof readBoth> & { plan: ImportPlan } {
  const files = readBoth();
  const plan = planImport({
    configPath: files.cfgPath, credentialsPath: files.credPath, configText: files.configText, credentialsText: files.credentialsText,
    only, command: selfCommand(), force, localUser: localUser(),
    existing: (name, id, secret) => {
      const state = existingSource(name, id, secret);
      existing.set(name, state);
      return state;
    },
  });
  return { ...files, plan };
}

function describe(plan: ImportPlan, cfgPath: string, credPath: string, existing: Map<string, Existing>): string {
  const out: string[] = [];
  if (plan.keys.length) {
    out.push(`Keys to move into the keychain (${storeName() === 'keyutils' ? 'kernel keyring' : 'the OS keychain'}):`);
    for (const k of plan.keys) {
      const state = existing.get(k.name);
      const note = state === 'same' ? ' (already stored: the same key)' : state === 'different' || state === 'unreadable' ? ' (replaces the stored entry: --force)' : '';
      out.push(`  source ${printable(k.name)}  ${redactKeyId(k.accessKeyId)}  from ${k.from.map((f) => (f === 'credentials' ? credPath : cfgPath)).join(' and ')}${note}`);
    }
  }
  if (plan.profiles.length) {
    out.push(`Profiles in ${cfgPath} that will run through keyrole:`);
    for (const p of plan.profiles) out.push(`  ${printable(p.profile)}: ${printable(p.description)}`);
  }
  if (plan.notes.length) {
    out.push('Left as they are:');
    for (const n of plan.notes) out.push(`  ${printable(n)}`);
  }
  return `${out.join('\n')}\n`;
}

export async function importCommand(o: ImportOptions): Promise<void> {
  storeName(); // an invalid KEYROLE_KEYCHAIN fails before anything else
  // AWS Sign-In sessions (aws login) first: their own plan, question and steps (import-login.ts).
  const { importLoginSessions } = await import('./import-login.ts');
  const sessions = o.only.length ? 0 : await importLoginSessions({ dryRun: o.dryRun, yes: o.yes });
  const existing = new Map<string, Existing>();
  const { cfgPath, credPath, configText, credentialsText, plan } = makePlan(o.force, o.only, existing);
  if (!plan.keys.length) {
    if (sessions) {
      if (o.dryRun) process.stdout.write('Dry run: nothing was changed. Run keyrole import to do it.\n');
      return;
    }
    process.stdout.write(describe(plan, cfgPath, credPath, existing));
    process.stdout.write(`Nothing to import: no long-term key in ${credPath} or ${cfgPath} that keyrole can move.\n`);
    return;
  }
  process.stdout.write(describe(plan, cfgPath, credPath, existing));
  if (o.dryRun) {
    process.stdout.write('Dry run: nothing was changed. Run keyrole import to do it.\n');
    return;
  }
  if (!o.yes) {
    const term = openTerminal();
    if (!term) throw new KeyroleError('NoTerminal', 'there is no terminal to confirm the import', 'check the plan with keyrole import --dry-run, then run keyrole import --yes');
    try {
      if (!(await confirm(term, 'Move these keys into the keychain and rewrite the profiles?'))) {
        throw new KeyroleError('Cancelled', 'import cancelled', 'nothing was changed', 1);
      }
    } finally {
      term.close();
    }
    // The files may have been edited while the question was open: the plan must still hold.
    const again = readBoth();
    if (again.configText !== configText || again.credentialsText !== credentialsText) {
      throw new KeyroleError('FilesChanged', `${cfgPath} or ${credPath} changed while the import waited for an answer`, 'nothing was changed; run keyrole import again');
    }
  }

  // 1. The keychain, each key read back before any file changes.
  for (const k of plan.keys) {
    if (existing.get(k.name) !== 'same') await storeSource(k.name, { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey, storedAt: new Date().toISOString() });
    const back = readSource(k.name);
    if (back.accessKeyId !== k.accessKeyId || back.secretAccessKey !== k.secretAccessKey) {
      throw new KeyroleError('KeychainReadBack', `source "${k.name}" read back from the keychain differs from what was stored`, 'no file was changed; check the keychain (keyrole list) and run keyrole import again');
    }
  }
  // After the keys are stored and read back, not before: a failure above is one line.
  const notice = plan.keys.length ? volatileStoreNotice() : undefined;
  if (notice) process.stderr.write(`keyrole: ${notice}\n`);

  // 2. The config (a backup first, unless the config itself held secrets: that copy would keep them).
  let backup: string | undefined;
  if (plan.configChanged) {
    const secretsInConfig = plan.keys.some((k) => k.from.includes('config'));
    backup = rewriteConfig(cfgPath, plan.configText, { backup: !secretsInConfig });
  }

  // 3. The credentials file, without the migrated key lines.
  if (plan.credentialsChanged) writeFileAtomic(credPath, plan.credentialsText);

  // 4. keyrole's own backups of either file (an earlier configure) may hold the same secrets.
  const scrubbed = scrubBackups([cfgPath, credPath], new Set(plan.keys.map((k) => k.secretAccessKey)));
  const left = backupsWithKeys([cfgPath, credPath]);

  const names = plan.keys.map((k) => k.name);
  process.stdout.write(`Imported ${names.length} key${names.length === 1 ? '' : 's'} (${names.map(printable).join(', ')}) into the keychain; ${plan.credentialsChanged ? `removed them from ${credPath}` : `${credPath} unchanged`}${plan.configChanged ? `; rewrote ${cfgPath}${backup ? ` (backup: ${backup})` : ''}` : ''}.\n`);
  if (scrubbed.length) process.stdout.write(`Removed the imported secret access keys from keyrole's earlier backup${scrubbed.length > 1 ? 's' : ''} ${scrubbed.map(printable).join(', ')}.\n`);
  if (left.length) process.stdout.write(`Still in plaintext: ${left.map((b) => printable(b.path)).join(', ')} hold${left.length > 1 ? '' : 's'} a secret access key that is not in the keychain; delete ${left.length > 1 ? 'them' : 'it'} if you do not need ${left.length > 1 ? 'them' : 'it'}.\n`);
  const first = plan.profiles[0]?.profile ?? names[0];
  process.stdout.write(`Check it with: aws sts get-caller-identity --profile ${printable(first)}   (or keyrole doctor ${printable(first)})\n`);
}
