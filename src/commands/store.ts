// keyrole store: moves every entry between keychains (a Secret Service that appeared on a
// machine that used the file store, and back), changes the file store's passphrase, locks
// it, and says where keys are kept.
//
// A move is restartable: each entry is written to the new store and read back before the
// old one is removed, so a kill at any step leaves every entry in one store or both, and
// running the move again copies what is left (copying twice is harmless).

import { CACHE_SERVICE } from '../credentials/cache.ts';
import { SSO_SERVICE } from '../sso/record.ts';
import { CLIENT_SERVICE } from '../sso/registration.ts';
import { deleteItem, getItem, listAccounts, setItem } from '../keychain/keychain.ts';
import { SOURCE_SERVICE } from '../keychain/sourcekeys.ts';
import { autoReasonWords, forgetAutoChoice, storeName, type StoreName } from '../keychain/selection.ts';
import { chooseStore } from '../keychain/prepare.ts';
import { changePassphrase, lockSession, prepareFileStore, sessionKey, unlockTimeoutMs } from '../keychain/unlocked.ts';
import { storeDir, storeExists } from '../keychain/filestore.ts';
import { kernelCopiesPossible, kernelSweep } from '../keychain/tier.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { formatLeft } from '../util/duration.ts';
import { parseCommand } from './args.ts';

/** Every service keyrole keeps entries under. */
export const SERVICES = [SOURCE_SERVICE, CACHE_SERVICE, SSO_SERVICE, CLIENT_SERVICE] as const;

const MOVABLE = ['secret-service', 'file', 'keyutils'] as const;
type Movable = (typeof MOVABLE)[number];

function movable(v: string | undefined, flag: string): Movable {
  if (v && (MOVABLE as readonly string[]).includes(v)) return v as Movable;
  throw usageError(`${flag} must be one of ${MOVABLE.join(', ')}`, 'see keyrole store --help');
}

/** fn() with `store` as the keychain (storeName reads KEYROLE_KEYCHAIN on every call). */
function inStore<T>(store: StoreName, fn: () => T): T {
  const before = process.env.KEYROLE_KEYCHAIN;
  process.env.KEYROLE_KEYCHAIN = store;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.KEYROLE_KEYCHAIN;
    else process.env.KEYROLE_KEYCHAIN = before;
  }
}

async function move(argv: string[]): Promise<void> {
  const { values } = parseCommand('store', argv, { to: { type: 'string' }, from: { type: 'string' } });
  await chooseStore({ ask: !values.from });
  const to = movable(values.to, '--to');
  const from = values.from ? movable(values.from, '--from') : storeName();
  if (from === to) throw usageError(`keyrole already keeps its keys in ${to}`, 'name another store with --to, or the one to move from with --from');
  if (from === 'file' || to === 'file') await prepareFileStore({ create: to === 'file' });
  let moved = 0;
  for (const service of SERVICES) {
    for (const account of inStore(from, () => listAccounts(service, 'list what to move'))) {
      const value = inStore(from, () => getItem(service, account, 'read an entry to move', false));
      if (value === null) continue;
      inStore(to, () => setItem(service, account, value, 'store a moved entry'));
      if (inStore(to, () => getItem(service, account, 'read back a moved entry', false)) !== value) {
        throw new KeyroleError('StoreMoveFailed', `${to} did not give back an entry keyrole moved into it, so the old one stays in ${from}`, 'check the new store and run keyrole store move again');
      }
      inStore(from, () => deleteItem(service, account, 'remove a moved entry'));
      moved++;
    }
  }
  // Every entry left the file store: a choice keyrole made by itself ends with it.
  if (from === 'file') forgetAutoChoice();
  const use = to === 'secret-service' ? 'unset KEYROLE_KEYCHAIN (or set it to secret-service)' : `set KEYROLE_KEYCHAIN=${to}`;
  process.stdout.write(`Moved ${moved} entr${moved === 1 ? 'y' : 'ies'} from ${from} to ${to}. Now ${use} where you run keyrole.\n`);
}

async function status(): Promise<void> {
  await chooseStore({ ask: true });
  const store = storeName();
  const why = autoReasonWords();
  const lines = [`store: ${store}${why ? ` (chosen by itself: ${why})` : ''}`];
  if (store === 'file' || storeExists()) {
    lines.push(`file store: ${storeDir()}${storeExists() ? '' : ' (not created yet)'}`);
    const s = storeExists() ? sessionKey() : undefined;
    lines.push(s ? `unlocked until ${new Date(s.until).toISOString()} (${formatLeft(s.until - Date.now())} left)` : 'locked (the next call asks for the passphrase)');
    const t = unlockTimeoutMs();
    lines.push(`unlock timeout: ${t ? formatLeft(t) : 'none (every process asks)'}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function main(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'move': return move(rest);
    case 'passphrase':
      parseCommand('store', rest, {});
      await changePassphrase();
      process.stdout.write('Changed the file store\'s passphrase; every key stays as it was.\n');
      return;
    case 'lock':
      parseCommand('store', rest, {});
      lockSession();
      // The kernel keyring's copies of cached credentials go too: after a lock, nothing the store held is served without the passphrase.
      if (kernelCopiesPossible()) kernelSweep(CACHE_SERVICE, () => true);
      process.stdout.write('Locked the file store for this session.\n');
      return;
    case 'status':
      parseCommand('store', rest, {});
      return status();
    default:
      throw usageError(sub ? `unknown store command ${JSON.stringify(sub).slice(0, 40)}` : 'keyrole store needs a command', 'use keyrole store move, passphrase, lock or status');
  }
}
