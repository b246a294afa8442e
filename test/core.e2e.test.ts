// The core path end to end: `keyrole setup` into a real gnome-keyring, then each real
// caller (AWS CLI v1, Debian's AWS CLI v2, boto3, the JS SDK) runs `keyrole process`
// through credential_process against the emulator.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { requireTool } from './support/tools.ts';
import { ROOT } from './support/run.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID } from './support/emulator.ts';

const ADMIN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;

interface Blob { Version: number; AccessKeyId: string; SecretAccessKey: string; SessionToken: string; Expiration: string; AccountId?: string }

describe('core path: keychain source → AssumeRole → credential_process blob', () => {
  let w: World;

  before(async () => {
    w = await startWorld();
    w.writeConfig(keyroleProfile('prod', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ADMIN, keyrole_duration_seconds: 7200 }));
    const r = await w.setup('alice');
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => w?.stop());

  test('keyrole process prints a valid blob for the assumed role, with the configured duration', async () => {
    await w.emu.resetStats();
    const r = await w.keyrole(['process', 'prod', '--cache', 'none']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const blob = JSON.parse(r.stdout) as Blob;
    assert.equal(blob.Version, 1);
    assert.match(blob.AccessKeyId, /^ASIA[A-Z0-9]{16}$/);
    assert.ok(blob.SecretAccessKey.length >= 40);
    assert.ok(blob.SessionToken.length > 20);
    assert.match(blob.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(blob.AccountId, DEMO_ACCOUNT_ID);
    const left = Date.parse(blob.Expiration) - Date.now();
    assert.ok(left > 7100_000 && left <= 7200_000, `expires in ${left} ms, want about 7200 s`);
    const { requests } = await w.emu.stats();
    const assume = requests.filter((q) => q.action === 'AssumeRole');
    assert.equal(assume.length, 1);
    assert.equal(assume[0].accessKeyId, DEMO_ACCESS_KEY_ID, 'signed with the source key from the keychain');
    assert.equal(assume[0].roleArn, ADMIN);
    assert.equal(assume[0].durationSeconds, 7200);
    assert.equal(assume[0].ok, true);
  });

  async function assertCallerUsedKeyrole(output: string) {
    const arn = (JSON.parse(output) as { Arn: string }).Arn;
    assert.match(arn, new RegExp(`^arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/keyrole-alice-`));
    // The emulator saw GetCallerIdentity signed with exactly the session key keyrole prints.
    const printed = JSON.parse((await w.keyrole(['process', 'prod'])).stdout) as Blob;
    const { requests } = await w.emu.stats();
    const gci = requests.filter((q) => q.action === 'GetCallerIdentity' && q.ok);
    assert.ok(gci.length >= 1, 'the caller reached the emulator');
    assert.equal(gci.at(-1)!.accessKeyId, printed.AccessKeyId);
  }

  /** Fails with why unless `cli --version` is the major version the test means to check. */
  async function requireCliMajor(cli: string, major: number) {
    requireTool(cli);
    const v = await w.run(cli, ['--version']);
    const said = `${v.stdout}${v.stderr}`.trim();
    assert.match(said, new RegExp(`^aws-cli/${major}\\.`), `${cli} is not the AWS CLI v${major} this test checks (it says ${JSON.stringify(said)}): put the v${major} first on PATH (scripts/prepare.sh)`);
  }

  test('the AWS CLI v1 (botocore) gets the role through credential_process', async () => {
    await requireCliMajor('aws', 1);
    const r = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'prod', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    await assertCallerUsedKeyrole(r.stdout);
  });

  test("Debian's AWS CLI v2 gets the role through credential_process", async () => {
    await requireCliMajor('/usr/bin/aws', 2);
    // CLI v2.9 ignores AWS_ENDPOINT_URL_STS for its own calls (botocore 1.43's CLI v1 honours it); keyrole still honours it.
    const r = await w.run('/usr/bin/aws', ['sts', 'get-caller-identity', '--profile', 'prod', '--output', 'json', '--endpoint-url', w.emu.url]);
    assert.equal(r.code, 0, r.stderr);
    await assertCallerUsedKeyrole(r.stdout);
  });

  test('boto3 gets the role through credential_process', async () => {
    requireTool('python3');
    const py = 'import boto3, json, os; s = boto3.Session(profile_name="prod"); print(json.dumps(s.client("sts", endpoint_url=os.environ["AWS_ENDPOINT_URL_STS"]).get_caller_identity()))';
    const r = await w.run('python3', ['-c', py]);
    assert.equal(r.code, 0, r.stderr);
    await assertCallerUsedKeyrole(r.stdout);
  });

  test("the JS SDK's fromIni gets the role through credential_process", async () => {
    const script = join(w.home, 'js-sdk-caller.mjs');
    writeFileSync(script, `
      import { createRequire } from 'node:module';
      const require = createRequire(${JSON.stringify(join(ROOT, 'package.json'))});
      const { fromIni } = require('@aws-sdk/credential-providers');
      const { STSClient, GetCallerIdentityCommand } = require('@aws-sdk/client-sts');
      const c = new STSClient({ region: 'eu-west-1', endpoint: process.env.AWS_ENDPOINT_URL_STS, credentials: fromIni({ profile: 'prod' }) });
      const out = await c.send(new GetCallerIdentityCommand({}));
      console.log(JSON.stringify({ Arn: out.Arn }));
    `);
    const r = await w.run(process.execPath, [script]);
    assert.equal(r.code, 0, r.stderr);
    await assertCallerUsedKeyrole(r.stdout);
  });

  test('--debug traces profile, source, endpoint and timings on stderr, and never a secret', async () => {
    const r = await w.keyrole(['process', 'prod', '--debug', '--cache', 'none']);
    assert.equal(r.code, 0, r.stderr);
    const blob = JSON.parse(r.stdout) as Blob;
    assert.match(r.stderr, /profile prod/);
    assert.match(r.stderr, /source "alice"/);
    assert.match(r.stderr, new RegExp(`STS AssumeRole .* at ${w.emu.url.replace(/[.]/g, '\\.')}`));
    assert.match(r.stderr, /endpoint from AWS_ENDPOINT_URL_STS/);
    assert.match(r.stderr, /\[ *\d+\.\d ms\]/);
    assert.ok(!r.stderr.includes(blob.SecretAccessKey) && !r.stderr.includes(blob.SessionToken), 'no session secret in the trace');
    assert.ok(!r.stderr.includes('keyroleDemoSecret'), 'no long-term secret in the trace');
    assert.ok(!r.stderr.includes(DEMO_ACCESS_KEY_ID), 'access key ids are shortened');
  });

  test('flags override the profile: a profile without keyrole_ keys works from the process line', async () => {
    await w.emu.resetStats();
    const r = await w.keyrole(['process', 'plain', '--source', 'alice', '--role-arn', `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly`, '--duration', '900', '--region', 'us-west-2', '--cache', 'none'], { env: { AWS_CONFIG_FILE: join(w.home, 'plain.ini') } });
    // The profile must exist even when everything comes from flags: a typo in the profile name is still caught.
    assert.notEqual(r.code, 0);
    writeFileSync(join(w.home, 'plain.ini'), '[profile plain]\nregion = eu-west-1\n');
    const ok = await w.keyrole(['process', 'plain', '--source', 'alice', '--role-arn', `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly`, '--duration', '900', '--region', 'us-west-2', '--cache', 'none'], { env: { AWS_CONFIG_FILE: join(w.home, 'plain.ini') } });
    assert.equal(ok.code, 0, ok.stderr);
    const blob = JSON.parse(ok.stdout) as Blob;
    const left = Date.parse(blob.Expiration) - Date.now();
    assert.ok(left > 800_000 && left <= 900_000, `duration 900 s from --duration, got ${left} ms`);
    const q = (await w.emu.stats()).requests.filter((x) => x.action === 'AssumeRole').at(-1)!;
    assert.equal(q.roleArn, `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly`);
  });

  test('without a role, the source gets a GetSessionToken session rather than its long-term key', async () => {
    writeFileSync(join(w.home, 'session.ini'), '[profile s]\nkeyrole_source = alice\n');
    const r = await w.keyrole(['process', 's', '--cache', 'none'], { env: { AWS_CONFIG_FILE: join(w.home, 'session.ini') } });
    assert.equal(r.code, 0, r.stderr);
    const blob = JSON.parse(r.stdout) as Blob;
    assert.match(blob.AccessKeyId, /^ASIA/);
    assert.notEqual(blob.AccessKeyId, DEMO_ACCESS_KEY_ID);
  });

  test('help and version', async () => {
    const v = await w.keyrole(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^keyrole \d+\.\d+\.\d+/);
    const h = await w.keyrole(['--help']);
    assert.equal(h.code, 0);
    for (const c of ['process', 'setup', 'cache']) assert.match(h.stdout, new RegExp(`\\b${c}\\b`));
    const hp = await w.keyrole(['process', '--help']);
    assert.match(hp.stdout, /--role-arn/);
    const hs = await w.keyrole(['setup', '--help']);
    assert.match(hs.stdout, /never taken from the command line/i);
  });
});
