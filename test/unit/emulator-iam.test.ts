// The emulator's IAM access-key calls, through the real @aws-sdk/client-iam: list, create
// (with AWS's two-keys quota), update, delete, and the keys' effect on authentication.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { IAMClient, ListAccessKeysCommand, CreateAccessKeyCommand, DeleteAccessKeyCommand, UpdateAccessKeyCommand, GetUserCommand } from '@aws-sdk/client-iam';
import { STSClient, GetCallerIdentityCommand, AssumeRoleCommand } from '@aws-sdk/client-sts';
import { SignatureV4 } from '@smithy/signature-v4';
import { startEmulator, type RunningEmulator } from '../../emulator/server.ts';
import { NodeSha256 } from '../../emulator/sigv4.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from '../../emulator/seed.ts';

describe('emulator IAM', () => {
  let emu: RunningEmulator;
  const alice = { accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY };
  const iam = (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) => new IAMClient({ region: 'us-east-1', endpoint: emu.url, credentials, maxAttempts: 1 });
  const sts = (credentials: { accessKeyId: string; secretAccessKey: string }) => new STSClient({ region: 'us-east-1', endpoint: emu.url, credentials, maxAttempts: 1 });

  before(async () => { emu = await startEmulator(); });
  after(() => emu?.close());

  test('ListAccessKeys and GetUser answer for the signing user', async () => {
    const out = await iam(alice).send(new ListAccessKeysCommand({}));
    assert.deepEqual(out.AccessKeyMetadata?.map((k) => [k.UserName, k.AccessKeyId, k.Status]), [['alice', DEMO_ACCESS_KEY_ID, 'Active']]);
    const user = await iam(alice).send(new GetUserCommand({}));
    assert.equal(user.User?.Arn, `arn:aws:iam::${DEMO_ACCOUNT_ID}:user/alice`);
  });

  test('CreateAccessKey makes a working key; a third key hits the quota of two', async () => {
    const created = (await iam(alice).send(new CreateAccessKeyCommand({}))).AccessKey!;
    assert.match(created.AccessKeyId!, /^AKIA[A-Z2-7]{16}$/);
    assert.equal(created.SecretAccessKey!.length, 40);
    assert.equal(created.Status, 'Active');
    const id = await sts({ accessKeyId: created.AccessKeyId!, secretAccessKey: created.SecretAccessKey! }).send(new GetCallerIdentityCommand({}));
    assert.equal(id.Arn, `arn:aws:iam::${DEMO_ACCOUNT_ID}:user/alice`);
    await assert.rejects(iam(alice).send(new CreateAccessKeyCommand({})), (e: Error & { $metadata: { httpStatusCode: number } }) => {
      assert.equal(e.name, 'LimitExceededException');
      assert.equal(e.message, 'Cannot exceed quota for AccessKeysPerUser: 2');
      assert.equal(e.$metadata.httpStatusCode, 409);
      return true;
    });
    await iam(alice).send(new DeleteAccessKeyCommand({ AccessKeyId: created.AccessKeyId! }));
    await assert.rejects(sts({ accessKeyId: created.AccessKeyId!, secretAccessKey: created.SecretAccessKey! }).send(new GetCallerIdentityCommand({})), { name: 'InvalidClientTokenId' });
  });

  test('an Inactive key no longer authenticates; Active again, it does', async () => {
    const created = (await iam(alice).send(new CreateAccessKeyCommand({}))).AccessKey!;
    const k = { accessKeyId: created.AccessKeyId!, secretAccessKey: created.SecretAccessKey! };
    await iam(alice).send(new UpdateAccessKeyCommand({ AccessKeyId: k.accessKeyId, Status: 'Inactive' }));
    await assert.rejects(sts(k).send(new GetCallerIdentityCommand({})), { name: 'InvalidClientTokenId' });
    await iam(alice).send(new UpdateAccessKeyCommand({ AccessKeyId: k.accessKeyId, Status: 'Active' }));
    await sts(k).send(new GetCallerIdentityCommand({}));
    await iam(k).send(new DeleteAccessKeyCommand({ AccessKeyId: k.accessKeyId }));
  });

  test('deleting a key that is not the user\'s is NoSuchEntity; role sessions must name the user', async () => {
    await assert.rejects(iam(alice).send(new DeleteAccessKeyCommand({ AccessKeyId: 'AKIAAAAAAAAAAAAAAAAA' })), (e: Error) => e.name === 'NoSuchEntityException' && /cannot be found/.test(e.message));
    const role = (await sts(alice).send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`, RoleSessionName: 's1' }))).Credentials!;
    await assert.rejects(iam({ accessKeyId: role.AccessKeyId!, secretAccessKey: role.SecretAccessKey!, sessionToken: role.SessionToken! }).send(new ListAccessKeysCommand({})), /Must specify userName when calling with non-User credentials/);
    const named = await iam({ accessKeyId: role.AccessKeyId!, secretAccessKey: role.SecretAccessKey!, sessionToken: role.SessionToken! }).send(new ListAccessKeysCommand({ UserName: 'alice' }));
    assert.equal(named.AccessKeyMetadata?.length, 1);
  });

  test('IAM\'s Version routes to IAM, with IAM\'s XML namespace; STS still answers STS calls', async () => {
    const res = await fetch(emu.url, { method: 'POST', body: 'Action=ListAccessKeys&Version=2010-05-08', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const text = await res.text();
    assert.match(text, /xmlns="https:\/\/iam\.amazonaws\.com\/doc\/2010-05-08\/"/);
    assert.equal((await sts(alice).send(new GetCallerIdentityCommand({}))).Account, DEMO_ACCOUNT_ID);
    // An IAM call signed for sts is refused by IAM, as AWS refuses a wrongly scoped signature.
    const signer = new SignatureV4({ service: 'sts', region: 'us-east-1', credentials: alice, sha256: NodeSha256 });
    const body = 'Action=ListAccessKeys&Version=2010-05-08';
    const headers = { host: new URL(emu.url).host, 'content-type': 'application/x-www-form-urlencoded' };
    const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: '/', query: {}, headers, body });
    const wrong = await fetch(emu.url, { method: 'POST', body, headers: signed.headers as Record<string, string> });
    assert.equal(wrong.status, 403);
    assert.match(await wrong.text(), /<Code>SignatureDoesNotMatch<\/Code>[\s\S]*scoped to correct service: 'iam'/);
  });
});
