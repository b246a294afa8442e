// `keyrole import` (issue 18): the layout every troubleshooting article shows (plaintext
// keys in ~/.aws/credentials, role_arn + source_profile profiles in ~/.aws/config) moved
// into the keychain in one command, with the real AWS CLI working the same before and
// after, nothing unrelated touched, no secret left on disk, and a SIGKILL at any step
// losing nothing (a second run finishes the job).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, type World } from './support/world.ts';
import { KEYROLE, ROOT } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { onPty } from './support/pty.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';

const ROLE = (name: string) => `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/${name}`;
const TEMP_ID = 'ASIAKEYROLEDEMO00077';
const TEMP_SECRET = 'tempSecretTempSecretTempSecretTempSecret';

function credentialsText(bob: { accessKeyId: string; secretAccessKey: string }): string {
  return `# written by aws configure, years ago
[default]
aws_access_key_id = ${DEMO_ACCESS_KEY_ID}
aws_secret_access_key = ${DEMO_SECRET_ACCESS_KEY}

[user1]
# the CI user
aws_access_key_id = ${bob.accessKeyId}
aws_secret_access_key=${bob.secretAccessKey}

[temp]
aws_access_key_id = ${TEMP_ID}
aws_secret_access_key = ${TEMP_SECRET}
aws_session_token = FwoGZXIvYXdzEXAMPLETOKEN
`;
}

/** The sections import must leave byte for byte: not keyrole's to convert. */
const UNTOUCHED = `[profile ec2]
role_arn = ${ROLE('Admin')}
credential_source = Ec2InstanceMetadata

[profile viatemp]
role_arn = ${ROLE('Admin')}
source_profile = temp

[sso-session unrelated]
sso_start_url = https://example.awsapps.com/start
sso_region = eu-west-1
`;

const CONFIG = `# my AWS config ; keep this comment
[default]
region = eu-west-1

[profile user1]
; Ireland
region = eu-west-1

[profile admin]
# the admin role (botocore reads a trailing comment as part of the value)
role_arn = ${ROLE('Admin')}
source_profile = user1
duration_seconds = 1800
role_session_name = me-admin

[profile deploy]
role_arn = ${ROLE('ReadOnly')}
source_profile = admin

[profile partner]
role_arn = ${ROLE('Partner')}
source_profile = default
external_id = keyrole-demo-external-id

${UNTOUCHED}`;

describe('keyrole import', () => {
  let w: World;
  let bob: { accessKeyId: string; secretAccessKey: string; arn: string };
  let credPath: string;

  before(async () => {
    requireTool('aws');
    w = await startWorld();
    bob = await w.emu.control('POST', 'users', { userName: 'bob' });
    credPath = join(w.home, '.aws', 'credentials');
  });
  after(() => w?.stop());

  const layout = () => {
    w.writeConfig(CONFIG);
    writeFileSync(credPath, credentialsText(bob), { mode: 0o600 });
  };
  const whoami = async (profile: string) => {
    const r = await w.run('aws', ['sts', 'get-caller-identity', '--profile', profile, '--output', 'json'], { env: { AWS_DEFAULT_REGION: 'eu-west-1' } });
    assert.equal(r.code, 0, `aws --profile ${profile}: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { Arn: string }).Arn;
  };
  // The role session name: botocore's default is botocore-session-<time>, keyrole's keyrole-<source>-<user>; a set one is kept.
  const role = (arn: string) => arn.replace(/(assumed-role\/[^/]+)\/(?!me-admin$).*$/, '$1/*');
  // The five AWS CLI runs are independent callers (as five terminals would be), so they run at
  // once: each CLI start costs most of a second of the processor, and there are two.
  const identities = async () => {
    const [d, user1, admin, deploy, partner] = await Promise.all(['default', 'user1', 'admin', 'deploy', 'partner'].map(whoami));
    return { default: d, user1, admin, deploy: role(deploy), partner: role(partner) };
  };
  const clean = async () => {
    for (const s of ['default', 'user1']) await w.keyrole(['remove', s, '--force']);
    await w.keyrole(['cache', 'clear']);
  };

  test('--dry-run shows the plan and changes nothing', async () => {
    await clean();
    layout();
    const r = await w.keyrole(['import', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /source default +AKIA…0001/);
    assert.match(r.stdout, /source user1 /);
    assert.match(r.stdout, /admin: role .*Admin with source user1 \(duration_seconds, role_session_name carried over\)/);
    assert.match(r.stdout, /deploy: role .*ReadOnly with profile admin's credentials/);
    assert.match(r.stdout, /\[temp\] .* left alone: it holds a temporary key/);
    assert.match(r.stdout, /profile ec2 left as it is: it uses credential_source/);
    assert.match(r.stdout, /profile viatemp left as it is: its source_profile temp holds a key keyrole does not import/);
    assert.match(r.stdout, /Dry run: nothing was changed/);
    assert.ok(!r.stdout.includes(DEMO_SECRET_ACCESS_KEY) && !r.stdout.includes(bob.secretAccessKey), 'a secret in the plan');
    assert.equal(readFileSync(w.configPath, 'utf8'), CONFIG);
    assert.equal(readFileSync(credPath, 'utf8'), credentialsText(bob));
    assert.match((await w.keyrole(['list'])).stdout, /No sources/);
  });

  test('regression: doctor flags plaintext long-term keys (not the temporary one) and names keyrole import', async () => {
    layout();
    const r = await w.keyrole(['doctor', 'user1', '--no-network']);
    assert.equal(r.code, 1, r.stdout);
    const l = r.stdout.split('\n').findIndex((x) => /^problem +plaintext keys/.test(x));
    assert.ok(l >= 0, r.stdout);
    assert.match(r.stdout.split('\n')[l], /2 long-term access keys are stored in plaintext in .*credentials \(\[default\], \[user1\]\)/);
    assert.match(r.stdout.split('\n')[l + 1], /fix: keyrole import moves them/);
  });

  test('without a terminal and without --yes it refuses, and changes nothing', async () => {
    layout();
    const r = await w.keyrole(['import']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^keyrole: there is no terminal to confirm the import; .*--yes\n$/);
    assert.equal(readFileSync(credPath, 'utf8'), credentialsText(bob));
  });

  test('at a terminal it shows the plan and asks: "n" changes nothing, "y" imports', async () => {
    await clean();
    layout();
    const no = await onPty(`${KEYROLE} import`, [[/rewrite the profiles\? \[y\/N\] /, 'n\r']], w.env);
    assert.equal(no.code, 1, no.screen);
    assert.match(no.screen, /source user1 /);
    assert.match(no.screen, /import cancelled; nothing was changed/);
    assert.equal(readFileSync(credPath, 'utf8'), credentialsText(bob));
    const yes = await onPty(`${KEYROLE} import`, [[/rewrite the profiles\? \[y\/N\] /, 'y\r']], w.env);
    assert.equal(yes.code, 0, yes.screen);
    assert.match(yes.screen, /Imported 2 keys/);
    assert.doesNotMatch(readFileSync(credPath, 'utf8'), new RegExp(bob.accessKeyId));
  });

  test('imports: the AWS CLI gets the same identities before and after, every byte unrelated kept, no secret left on disk', async () => {
    await clean();
    layout();
    const before = await identities();
    const r = await w.keyrole(['import', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Imported 2 keys \(default, user1\)/);

    const cred = readFileSync(credPath, 'utf8');
    assert.equal(cred, `# written by aws configure, years ago
[default]

[user1]
# the CI user

[temp]
aws_access_key_id = ${TEMP_ID}
aws_secret_access_key = ${TEMP_SECRET}
aws_session_token = FwoGZXIvYXdzEXAMPLETOKEN
`);
    assert.equal(statSync(credPath).mode & 0o777, 0o600);
    const cmd = `credential_process = ${KEYROLE}`;
    assert.equal(readFileSync(w.configPath, 'utf8'), `# my AWS config ; keep this comment
[default]
region = eu-west-1
${cmd} process default
keyrole_source = default

[profile user1]
; Ireland
region = eu-west-1
${cmd} process user1
keyrole_source = user1

[profile admin]
# the admin role (botocore reads a trailing comment as part of the value)
keyrole_role_arn = ${ROLE('Admin')}
keyrole_source = user1
keyrole_duration_seconds = 1800
keyrole_role_session_name = me-admin
${cmd} process admin

[profile deploy]
keyrole_role_arn = ${ROLE('ReadOnly')}
keyrole_source_profile = admin
${cmd} process deploy

[profile partner]
keyrole_role_arn = ${ROLE('Partner')}
keyrole_source = default
keyrole_external_id = keyrole-demo-external-id
${cmd} process partner

${UNTOUCHED}`);
    // No secret anywhere under HOME but the temporary key left alone (the keyring's own files are encrypted).
    const leaks: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) {
          const t = readFileSync(p, 'latin1');
          if (t.includes(DEMO_SECRET_ACCESS_KEY) || t.includes(bob.secretAccessKey)) leaks.push(p);
        }
      }
    };
    walk(w.home);
    assert.deepEqual(leaks, []);

    const after = await identities();
    assert.deepEqual(after, before, 'the AWS CLI gets the same identities through keyrole');
    // And the JS SDK (fromIni, which runs credential_process through a shell).
    const script = join(w.home, 'js-whoami.mjs');
    writeFileSync(script, `
      import { createRequire } from 'node:module';
      const require = createRequire(${JSON.stringify(join(ROOT, 'package.json'))});
      const { fromIni } = require('@aws-sdk/credential-providers');
      const { STSClient, GetCallerIdentityCommand } = require('@aws-sdk/client-sts');
      const out = {};
      for (const profile of ['user1', 'admin', 'deploy']) {
        const c = new STSClient({ region: 'eu-west-1', endpoint: process.env.AWS_ENDPOINT_URL_STS, credentials: fromIni({ profile }) });
        out[profile] = (await c.send(new GetCallerIdentityCommand({}))).Arn;
      }
      console.log(JSON.stringify(out));
    `);
    const js = await w.run(process.execPath, [script]);
    assert.equal(js.code, 0, js.stderr);
    const viaJs = JSON.parse(js.stdout) as Record<string, string>;
    assert.deepEqual({ user1: viaJs.user1, admin: viaJs.admin, deploy: role(viaJs.deploy) }, { user1: after.user1, admin: after.admin, deploy: after.deploy });
    assert.match(after.admin, /assumed-role\/Admin\/me-admin$/);
    const doctor = await w.keyrole(['doctor', 'user1', '--no-network']);
    assert.match(doctor.stdout, /^ok +plaintext keys +no long-term access key/m);
    const list = await w.keyrole(['list']);
    assert.match(list.stdout, /default +AKIA…0001/);

    // Run again: nothing left to do.
    const again = await w.keyrole(['import', '--yes']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Nothing to import/);
  });

  test('a different key already stored under the same name is left alone unless --force', async () => {
    await clean();
    layout();
    assert.equal((await w.setup('user1', DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY)).code, 0);
    const r = await w.keyrole(['import', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /user1 left alone: the keychain already holds a different key as source "user1"; pass --force/);
    // admin and deploy need user1's key: they stay as the AWS CLI runs them, and the key stays in the file.
    assert.match(readFileSync(credPath, 'utf8'), new RegExp(bob.accessKeyId));
    assert.match(readFileSync(w.configPath, 'utf8'), /\[profile admin\]\n# the admin role.*\nrole_arn = /);
    assert.match(await whoami('admin'), /assumed-role\/Admin\/me-admin$/);
    const forced = await w.keyrole(['import', '--yes', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.doesNotMatch(readFileSync(credPath, 'utf8'), new RegExp(bob.accessKeyId));
    assert.match(await whoami('admin'), /assumed-role\/Admin\/me-admin$/);
  });

  test('--profile imports only the named sections and the profiles that need only them', async () => {
    await clean();
    layout();
    const r = await w.keyrole(['import', '--yes', '--profile', 'default']);
    assert.equal(r.code, 0, r.stderr);
    const cred = readFileSync(credPath, 'utf8');
    assert.doesNotMatch(cred, new RegExp(DEMO_ACCESS_KEY_ID));
    assert.match(cred, new RegExp(bob.accessKeyId));
    assert.match(readFileSync(w.configPath, 'utf8'), /\[profile partner\]\nkeyrole_role_arn/);
    assert.match(readFileSync(w.configPath, 'utf8'), /\[profile admin\]\n# the admin role.*\nrole_arn/);
    assert.match(await whoami('partner'), /assumed-role\/Partner\//);
    assert.match(await whoami('admin'), /assumed-role\/Admin\/me-admin$/);
  });

  // A SIGKILL at each step (strace injects it at the Nth rename: the config's, then the
  // credentials file's; at the Nth connect: during the keychain writes). Whatever the
  // point, the AWS CLI keeps working, and a second import finishes the job.
  for (const [label, inject, configWritten] of [
    ['during the keychain writes', 'connect:signal=KILL:when=3', false],
    ['before the config is renamed into place', 'rename:signal=KILL:when=1', false],
    ['before the credentials file is renamed into place', 'rename:signal=KILL:when=2', true],
  ] as const) {
    test(`regression: a SIGKILL ${label} loses nothing, and import run again finishes`, async () => {
      requireTool('strace');
      await clean();
      layout();
      const before = await identities();
      const killed = await w.run('strace', ['-f', '-qq', '-o', '/dev/null', '-e', `inject=${inject}`, KEYROLE, 'import', '--yes']);
      assert.equal(killed.signal ?? (killed.code === 137 ? 'SIGKILL' : killed.code), 'SIGKILL', `not killed: ${killed.code} ${killed.stderr}`);
      assert.equal(readFileSync(credPath, 'utf8'), credentialsText(bob), 'the credentials file is the last to change');
      assert.equal(readFileSync(w.configPath, 'utf8') !== CONFIG, configWritten);
      assert.deepEqual(await identities(), before, 'the AWS CLI works right after the kill');
      const r = await w.keyrole(['import', '--yes']);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(readFileSync(credPath, 'utf8'), /aws_secret_access_key = keyrole|aws_secret_access_key=/);
      assert.match(readFileSync(w.configPath, 'utf8'), /\[profile deploy\]\nkeyrole_role_arn/);
      assert.deepEqual(await identities(), before, 'and after the second import');
      assert.deepEqual(readdirSync(join(w.home, '.aws')).filter((n) => n.endsWith('.tmp')), [], 'a temp file left');
    });
  }
});
