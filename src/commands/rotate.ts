// `keyrole rotate <source>`: a new access key for the source's IAM user, checked, stored,
// and the old one deleted. Every step that can fail leaves a working key in the keychain:
//   1. list the user's keys (IAM allows two; a second one blocks the rotation)
//   2. create the new key              fails → nothing changed
//   3. check it with GetCallerIdentity  fails → the new key is deleted, the old one kept
//   4. store it in the keychain          fails → the new key is deleted, the old one kept
//   5. delete the old key                fails → the new key is in use; the old one is
//                                                 named so the user can delete it by hand

import { KeyroleError, usageError, type ErrorCode } from '../util/errors.ts';
import { caBundleSetting } from '../config/cabundle.ts';
import { loadAwsFiles, section, type AwsFiles, type Section } from '../config/files.ts';
import { resolveEndpoint, resolveRegion } from '../config/endpoints.ts';
import { readSource, writeSource } from '../keychain/sources.ts';
import { storeName } from '../keychain/selection.ts';
import type { SourceKeys } from '../keychain/sourcekeys.ts';
import { createAccessKey, deleteAccessKey, listAccessKeys, iamEndpointLabel, resolveIamTarget, type AccessKeyInfo, type IamTarget, type NewAccessKey } from '../aws/iam.ts';
import { getCallerIdentity, type AwsKeys, type Identity, type StsTarget } from '../aws/sts.ts';
import { debug, redactKeyId } from '../util/debug.ts';
import { parseCommand } from './args.ts';

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('rotate', argv, {
    profile: { type: 'string' },
    'verify-timeout': { type: 'string' },
  });
  if (positionals.length !== 1) throw usageError('rotate takes one source name', 'keyrole rotate <source>');
  const timeout = v['verify-timeout'] === undefined ? 30 : Number(v['verify-timeout']);
  if (!Number.isFinite(timeout) || timeout < 0 || timeout > 600) throw usageError(`--verify-timeout ${JSON.stringify(v['verify-timeout'])} is not a number of seconds from 0 to 600`, 'pass --verify-timeout 30, for example');
  const name = positionals[0];
  storeName();
  const files = await loadAwsFiles();
  const { sts, iam, profile } = targetsFor(files, name, v.profile);
  debug(`rotate ${name}: IAM at ${iamEndpointLabel(iam)} (from ${iam.endpointFrom}), STS from ${sts.endpointFrom}${profile ? `, settings of profile ${profile}` : ''}`);
  const outcome = await rotate(name, liveSteps(name, sts, iam), timeout * 1000, (line) => process.stdout.write(`${line}\n`)).catch((err: unknown) => err as Error);
  // The new key is stored (whether or not the old one could be deleted): nothing made with the old key is served.
  if (!(outcome instanceof Error) || (outcome instanceof KeyroleError && outcome.code === 'OldKeyNotDeleted')) {
    const { endSourceCaches } = await import('./sources.ts');
    await endSourceCaches(name, 'the old key');
  }
  if (outcome instanceof Error) throw outcome;
  const result = outcome;
  process.stdout.write(`Rotated source "${name}": ${redactKeyId(result.oldKeyId)} → ${redactKeyId(result.newKeyId)} (${result.arn}); the old key is deleted.\n`);
}

/** The endpoints a source's calls go to: those of --profile, or of the first profile that uses the source. */
export function targetsFor(files: AwsFiles, source: string, profileFlag?: string): { sts: StsTarget; iam: IamTarget; profile: string | undefined } {
  let profile = profileFlag;
  if (profile !== undefined && !section(files.config, profile)) {
    throw new KeyroleError('UnknownProfile', `profile "${profile}" is not in ${files.configPath}`, 'check the name, or leave out --profile');
  }
  profile ??= Object.keys(files.config).find((p) => !p.includes('.') && section(files.config, p)?.keyrole_source === source);
  const sec: Section = (profile ? section(files.config, profile) : undefined) ?? {};
  const { region } = resolveRegion(undefined, sec, `profile ${profile}`);
  const { endpoint, from } = resolveEndpoint(files, sec, region);
  const caBundle = caBundleSetting(sec, profile);
  return { sts: { region, endpoint, endpointFrom: from, caBundle }, iam: { ...resolveIamTarget(files, sec, region), caBundle }, profile };
}

export interface RotateSteps {
  readOld(): SourceKeys;
  list(keys: AwsKeys): Promise<AccessKeyInfo[]>;
  create(keys: AwsKeys): Promise<NewAccessKey>;
  verify(keys: AwsKeys): Promise<Identity>;
  store(keys: SourceKeys): void;
  readStored(): SourceKeys;
  remove(signWith: AwsKeys, accessKeyId: string): Promise<void>;
  sleep(ms: number): Promise<void>;
}

export function liveSteps(name: string, sts: StsTarget, iam: IamTarget): RotateSteps {
  return {
    readOld: () => readSource(name),
    list: (k) => listAccessKeys(k, iam),
    create: (k) => createAccessKey(k, iam),
    verify: (k) => getCallerIdentity(k, sts),
    store: (k) => writeSource(name, k),
    readStored: () => readSource(name),
    remove: (k, id) => deleteAccessKey(k, iam, id),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
}

export interface RotateResult { oldKeyId: string; newKeyId: string; arn: string }

const VERIFY_INTERVAL_MS = 2000;

const why = (err: unknown) => (err instanceof KeyroleError ? err.message : String((err as Error)?.message ?? err));

export async function rotate(name: string, steps: RotateSteps, verifyTimeoutMs: number, say: (line: string) => void): Promise<RotateResult> {
  const old = steps.readOld();
  const oldId = old.accessKeyId;

  // 1. IAM allows two keys per user: a second one must go before a new one can be made.
  const keys = await steps.list(old);
  const others = keys.filter((k) => k.accessKeyId !== oldId);
  if (keys.length >= 2 && others.length) {
    const other = others[0];
    throw new KeyroleError('AccessKeyLimit',
      `the IAM user${other.userName ? ` ${other.userName}` : ''} already has two access keys (${redactKeyId(oldId)}, stored as source "${name}", and ${redactKeyId(other.accessKeyId)}, ${other.status.toLowerCase()}), the most IAM allows, so there is no room for a new one`,
      `delete the one keyrole does not use (aws iam list-access-keys shows its full id; aws iam delete-access-key --access-key-id <id>) and run keyrole rotate ${name} again`);
  }

  // 2. The new key. A failure here changes nothing.
  const created = await steps.create(old);
  const fresh: SourceKeys = { accessKeyId: created.accessKeyId, secretAccessKey: created.secretAccessKey, storedAt: new Date().toISOString() };
  say(`Created access key ${redactKeyId(fresh.accessKeyId)}${created.userName ? ` for IAM user ${created.userName}` : ''}.`);

  /** Undoes step 2 and explains; the old key stays stored and active. */
  const undo = async (cause: string, code: ErrorCode): Promise<never> => {
    try {
      await steps.remove(old, fresh.accessKeyId);
    } catch (err) {
      throw new KeyroleError(code, `${cause}; deleting the new key also failed (${why(err)})`,
        `source "${name}" still holds its old key ${redactKeyId(oldId)}, which works; delete the unused new key by hand: aws iam delete-access-key --access-key-id ${fresh.accessKeyId}`);
    }
    throw new KeyroleError(code, `${cause}; the new key was deleted`, `source "${name}" keeps its old key ${redactKeyId(oldId)}, which still works; fix the cause and run keyrole rotate ${name} again`);
  };

  // 3. The new key must sign for the same user. New keys can take a few seconds to reach STS.
  let identity: Identity | undefined;
  const attempts = Math.floor(verifyTimeoutMs / VERIFY_INTERVAL_MS) + 1;
  for (let attempt = 1; ; attempt++) {
    try {
      identity = await steps.verify(fresh);
      break;
    } catch (err) {
      const propagating = err instanceof KeyroleError && err.code === 'InvalidClientTokenId';
      if (propagating && attempt < attempts) {
        debug(`the new key is not accepted yet (attempt ${attempt} of ${attempts}); retrying in ${VERIFY_INTERVAL_MS / 1000} s`);
        await steps.sleep(VERIFY_INTERVAL_MS);
        continue;
      }
      return undo(`the new access key ${redactKeyId(fresh.accessKeyId)} did not work with STS (${why(err)})`, 'NewKeyUnverified');
    }
  }
  if (created.userName && !identity.arn.endsWith(`/${created.userName}`)) {
    return undo(`the new access key signs as ${identity.arn}, not as IAM user ${created.userName}`, 'NewKeyWrongUser');
  }
  say(`Checked it: GetCallerIdentity answers ${identity.arn}.`);

  // 4. Store it, and read it back: a keychain that silently kept the old value must not lose the new key.
  try {
    steps.store(fresh);
    const back = steps.readStored();
    if (back.accessKeyId !== fresh.accessKeyId || back.secretAccessKey !== fresh.secretAccessKey) throw new Error('the keychain returned another key after the write');
  } catch (err) {
    // The store may have half-happened: put the old key back before anything else.
    try { steps.store(old); } catch { /* the old key is still in IAM; reported below */ }
    return undo(`the new key could not be stored in the keychain (${why(err)})`, 'NewKeyNotStored');
  }
  say(`Stored it as source "${name}".`);

  // 5. Delete the old key, signed with the new one (it proves the new key can manage keys);
  // the old key can delete itself when the new one is not yet accepted by IAM.
  let firstErr: unknown;
  for (const signer of [fresh, old]) {
    try {
      await steps.remove(signer, oldId);
      return { oldKeyId: oldId, newKeyId: fresh.accessKeyId, arn: identity.arn };
    } catch (err) {
      firstErr ??= err;
      if (err instanceof KeyroleError && err.code === 'IamNoSuchEntity') return { oldKeyId: oldId, newKeyId: fresh.accessKeyId, arn: identity.arn };
    }
  }
  throw new KeyroleError('OldKeyNotDeleted',
    `source "${name}" now uses the new key ${redactKeyId(fresh.accessKeyId)}, but deleting the old key ${redactKeyId(oldId)} failed (${why(firstErr)})`,
    `delete it by hand so it cannot be misused: aws iam delete-access-key --access-key-id ${oldId}`);
}
