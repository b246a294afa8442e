// rotate's sequence with every step made to fail in turn: whatever happens, the source
// ends up holding a key that IAM still has (never none), and the message says which.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rotate, type RotateSteps } from '../../src/commands/rotate.ts';
import { KeyroleError, type ErrorCode } from '../../src/util/errors.ts';
import type { SourceKeys } from '../../src/keychain/sourcekeys.ts';
import { rejectsKeyroleError } from '../support/errors.ts';

const OLD: SourceKeys = { accessKeyId: 'AKIAOLDOLDOLDOLD0001', secretAccessKey: 'o'.repeat(40) };
const NEW = { accessKeyId: 'AKIANEWNEWNEWNEW0002', secretAccessKey: 'n'.repeat(40), userName: 'alice' };
const ARN = 'arn:aws:iam::111122223333:user/alice';

type Fail = Partial<Record<'list' | 'create' | 'verify' | 'store' | 'removeNew' | 'removeOld' | 'readStored', unknown>>;

/** A fake IAM + keychain; `fail` makes a step throw that error. */
function world(fail: Fail = {}, iamKeys: string[] = [OLD.accessKeyId]) {
  const iam = new Set(iamKeys);
  let stored: SourceKeys = { ...OLD };
  const calls: string[] = [];
  const steps: RotateSteps = {
    readOld: () => ({ ...stored }),
    async list() { calls.push('list'); if (fail.list) throw fail.list; return [...iam].map((id) => ({ accessKeyId: id, status: 'Active', userName: 'alice', created: undefined })); },
    async create() { calls.push('create'); if (fail.create) throw fail.create; iam.add(NEW.accessKeyId); return { ...NEW }; },
    async verify(k) { calls.push(`verify ${k.accessKeyId.slice(-4)}`); if (fail.verify) throw fail.verify; return { account: '111122223333', arn: ARN, userId: 'AIDA' }; },
    store(k) { calls.push(`store ${k.accessKeyId.slice(-4)}`); if (fail.store && k.accessKeyId === NEW.accessKeyId) throw fail.store; stored = { ...k }; },
    readStored() { if (fail.readStored) throw fail.readStored; return { ...stored }; },
    async remove(signer, id) {
      calls.push(`remove ${id.slice(-4)} as ${signer.accessKeyId.slice(-4)}`);
      if (id === NEW.accessKeyId && fail.removeNew) throw fail.removeNew;
      if (id === OLD.accessKeyId && fail.removeOld) throw fail.removeOld;
      iam.delete(id);
    },
    sleep: async () => {},
  };
  return { steps, iam, calls, stored: () => stored };
}

const err = (code: ErrorCode, message: string = code) => new KeyroleError(code, message, 'fix');

async function fails(p: Promise<unknown>, code: ErrorCode, line: RegExp): Promise<KeyroleError> {
  const e = await rejectsKeyroleError(p, code, { line });
  assert.ok(!e.line().includes(NEW.secretAccessKey) && !e.line().includes(OLD.secretAccessKey), 'no secret in the message');
  return e;
}

/** The invariant: the stored key exists in IAM. */
function assertWorking(w: ReturnType<typeof world>) {
  assert.ok(w.iam.has(w.stored().accessKeyId), `stored ${w.stored().accessKeyId} is not in IAM (${[...w.iam].join(', ')})`);
}

describe('rotate', () => {
  test('the happy path: create, verify with the new key, store, delete the old key signed by the new one', async () => {
    const w = world();
    const lines: string[] = [];
    const r = await rotate('alice', w.steps, 10_000, (l) => lines.push(l));
    assert.deepEqual(r, { oldKeyId: OLD.accessKeyId, newKeyId: NEW.accessKeyId, arn: ARN });
    assert.deepEqual(w.calls, ['list', 'create', 'verify 0002', 'store 0002', 'remove 0001 as 0002']);
    assert.deepEqual([...w.iam], [NEW.accessKeyId]);
    assert.equal(w.stored().accessKeyId, NEW.accessKeyId);
    assert.ok(lines.every((l) => !l.includes(NEW.secretAccessKey)));
  });

  test('two keys already: refused before anything is created', async () => {
    const w = world({}, [OLD.accessKeyId, 'AKIAOTHEROTHEROTHER3']);
    await fails(rotate('alice', w.steps, 0, () => {}), 'AccessKeyLimit', /already has two access keys \(AKIA…0001, stored as source "alice", and AKIA…HER3, active\)/);
    assert.deepEqual(w.calls, ['list']);
    assertWorking(w);
  });

  test('listing fails: nothing changes', async () => {
    const w = world({ list: err('IamAccessDenied', 'IAM denied ListAccessKeys') });
    await fails(rotate('alice', w.steps, 0, () => {}), 'IamAccessDenied', /denied/);
    assert.deepEqual(w.calls, ['list']);
    assertWorking(w);
  });

  test('create fails: nothing changes', async () => {
    const w = world({ create: err('AccessKeyLimit') });
    await fails(rotate('alice', w.steps, 0, () => {}), 'AccessKeyLimit', /AccessKeyLimit/);
    assert.equal(w.stored().accessKeyId, OLD.accessKeyId);
    assert.deepEqual([...w.iam], [OLD.accessKeyId]);
  });

  test('the new key is not accepted within the timeout: retried, then deleted again, the old one kept', async () => {
    const w = world({ verify: err('InvalidClientTokenId', 'STS does not recognise the key') });
    await fails(rotate('alice', w.steps, 5000, () => {}), 'NewKeyUnverified', /did not work with STS .*the new key was deleted; source "alice" keeps its old key AKIA…0001/);
    assert.ok(w.calls.filter((c) => c.startsWith('verify')).length >= 2, 'a not-yet-propagated key is retried');
    assert.deepEqual([...w.iam], [OLD.accessKeyId]);
    assert.equal(w.stored().accessKeyId, OLD.accessKeyId);
  });

  test('verification fails and deleting the new key fails too: the full new key id is given for deletion by hand', async () => {
    const w = world({ verify: err('StsUnreachable'), removeNew: err('IamUnreachable') });
    await fails(rotate('alice', w.steps, 0, () => {}), 'NewKeyUnverified', new RegExp(`still holds its old key AKIA…0001, which works; delete the unused new key by hand: aws iam delete-access-key --access-key-id ${NEW.accessKeyId}`));
    assertWorking(w);
  });

  test('the keychain write fails: the old key is put back, the new key deleted', async () => {
    const w = world({ store: err('KeychainLocked', 'the keychain is locked') });
    await fails(rotate('alice', w.steps, 0, () => {}), 'NewKeyNotStored', /could not be stored in the keychain \(the keychain is locked\); the new key was deleted/);
    assert.equal(w.stored().accessKeyId, OLD.accessKeyId);
    assert.deepEqual([...w.iam], [OLD.accessKeyId]);
  });

  test('the keychain returns something else after the write: treated as a failed write', async () => {
    const w = world({ readStored: new Error('the keychain returned another key after the write') });
    await fails(rotate('alice', w.steps, 0, () => {}), 'NewKeyNotStored', /returned another key/);
    assert.equal(w.stored().accessKeyId, OLD.accessKeyId);
    assertWorking(w);
  });

  test('deleting the old key fails with both signers: the new key stays in use, the old one named', async () => {
    const w = world({ removeOld: err('IamServiceFailure') });
    await fails(rotate('alice', w.steps, 0, () => {}), 'OldKeyNotDeleted', new RegExp(`now uses the new key AKIA…0002, but deleting the old key AKIA…0001 failed.*--access-key-id ${OLD.accessKeyId}`));
    assert.equal(w.stored().accessKeyId, NEW.accessKeyId);
    assert.deepEqual(w.calls.slice(-2), ['remove 0001 as 0002', 'remove 0001 as 0001'], 'the old key is also asked to delete itself');
    assertWorking(w);
  });

  test('a new key that signs as another user is refused and deleted', async () => {
    const w = world();
    w.steps.verify = async () => ({ account: '1', arn: 'arn:aws:iam::111122223333:user/mallory', userId: 'x' });
    await fails(rotate('alice', w.steps, 0, () => {}), 'NewKeyWrongUser', /signs as arn:aws:iam::111122223333:user\/mallory, not as IAM user alice/);
    assert.deepEqual([...w.iam], [OLD.accessKeyId]);
  });
});
