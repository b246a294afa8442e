// The everyday commands end to end, with the built executable, a real gnome-keyring and
// the emulator: whoami, export, exec, rotate, configure and completion.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, readdirSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { baseEnv, KEYROLE, type RunResult } from './support/run.ts';
import { requireTool } from './support/tools.ts';
import { onPty } from './support/pty.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';

const ADMIN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;

interface Blob { Version: number; AccessKeyId: string; SecretAccessKey: string; SessionToken: string; Expiration: string }

function assertFails(r: RunResult, pattern: RegExp, code?: number) {
  assert.notEqual(r.code, 0, `expected failure, got success: ${r.stdout}`);
  if (code !== undefined) assert.equal(r.code, code);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^keyrole: [^;]+; /);
  assert.match(lines[0], pattern);
}

describe('whoami, export, exec', () => {
  let w: World;

  before(async () => {
    w = await startWorld();
    w.writeConfig(keyroleProfile('prod', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ADMIN }));
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  test('whoami prints the account, the assumed-role ARN and the time left', async () => {
    const r = await w.keyrole(['whoami', 'prod']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Account +${DEMO_ACCOUNT_ID}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^ARN +arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/keyrole-alice-`, 'm'));
    assert.match(r.stdout, /^Expires +in (59|60) min \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$/m);
    assert.equal(r.stderr, '');
  });

  test('whoami --json, and AWS_PROFILE as the default profile; the second call is a cache hit', async () => {
    const r = await w.keyrole(['whoami', '--json'], { env: { AWS_PROFILE: 'prod' } });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { Account: string; Arn: string; ExpiresInSeconds: number; FromCache: boolean };
    assert.equal(j.Account, DEMO_ACCOUNT_ID);
    assert.match(j.Arn, /assumed-role\/Admin\//);
    assert.ok(j.ExpiresInSeconds > 3000);
    assert.equal(j.FromCache, true);
  });

  test('whoami without a profile is a usage error', async () => {
    assertFails(await w.keyrole(['whoami']), /whoami needs a profile name/, 2);
  });

  test('export --format env|fish|powershell|json print the same credentials, quoted for each shell', async () => {
    const blob = JSON.parse((await w.keyrole(['export', 'prod', '--format', 'json'])).stdout) as Blob;
    assert.equal(blob.Version, 1);
    assert.match(blob.AccessKeyId, /^ASIA/);
    const env = await w.keyrole(['export', 'prod']);
    assert.equal(env.code, 0, env.stderr);
    assert.match(env.stdout, new RegExp(`^export AWS_ACCESS_KEY_ID='${blob.AccessKeyId}'$`, 'm'));
    assert.match(env.stdout, /^export AWS_REGION='eu-west-1'$/m);
    assert.match(env.stdout, /^export AWS_CREDENTIAL_EXPIRATION='\d{4}-.*Z'$/m);
    // The shell reads back exactly the values.
    const sh = await w.run('sh', ['-c', `eval "$(${KEYROLE} export prod)"; printf '%s\\n%s\\n' "$AWS_ACCESS_KEY_ID" "$AWS_SESSION_TOKEN"`]);
    assert.equal(sh.stdout, `${blob.AccessKeyId}\n${blob.SessionToken}\n`);
    const fish = await w.keyrole(['export', 'prod', '--format', 'fish']);
    assert.match(fish.stdout, new RegExp(`^set -gx AWS_SECRET_ACCESS_KEY '${blob.SecretAccessKey.replace(/[+/]/g, '\\$&')}'$`, 'm'));
    const ps = await w.keyrole(['export', 'prod', '--format', 'powershell']);
    assert.match(ps.stdout, new RegExp(`^\\$Env:AWS_SESSION_TOKEN = '${blob.SessionToken.replace(/[+/]/g, '\\$&')}'$`, 'm'));
    assertFails(await w.keyrole(['export', 'prod', '--format', 'xml']), /--format "xml".*use one of env, json, powershell, fish/, 2);
  });

  test('exec runs the command with the credentials and region set, AWS_PROFILE removed, and its exit status', async () => {
    const blob = JSON.parse((await w.keyrole(['export', 'prod', '--format', 'json'])).stdout) as Blob;
    const r = await w.keyrole(['exec', 'prod', '--', 'sh', '-c', 'echo "$AWS_ACCESS_KEY_ID|$AWS_REGION|$AWS_DEFAULT_REGION|${AWS_PROFILE-unset}|$KEYROLE_EXEC|$AWS_CREDENTIAL_EXPIRATION"; test -n "$AWS_SESSION_TOKEN" && test -n "$AWS_SECRET_ACCESS_KEY"; exit 7'], { env: { AWS_PROFILE: 'prod' } });
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, `${blob.AccessKeyId}|eu-west-1|eu-west-1|unset|prod|${blob.Expiration}\n`);
  });

  test('the AWS CLI inside exec uses the environment credentials', async () => {
    requireTool('aws');
    const r = await w.keyrole(['exec', 'prod', '--', 'aws', 'sts', 'get-caller-identity', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match((JSON.parse(r.stdout) as { Arn: string }).Arn, /assumed-role\/Admin\/keyrole-alice-/);
  });

  test('exec refuses to nest unless asked', async () => {
    const r = await w.keyrole(['exec', 'prod', '--', KEYROLE, 'exec', 'prod', '--', 'true']);
    // The outer exec started its command (and said its keys do not refresh); the inner one refuses in one line.
    const outer = /^keyrole: prod's credentials in this environment expire at .* do not refresh; .*\n/m;
    assert.match(r.stderr, outer);
    assertFails({ ...r, stderr: r.stderr.replace(outer, '') }, /already runs inside keyrole exec for profile "prod".*--allow-nested/);
    const ok = await w.keyrole(['exec', 'prod', '--', KEYROLE, 'exec', 'prod', '--allow-nested', '--', 'true']);
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('exec: a missing command is exit 127 with one line', async () => {
    assertFails(await w.keyrole(['exec', 'prod', '--', 'no-such-command-keyrole']), /cannot run "no-such-command-keyrole": no such command/, 127);
  });

  test('exec forwards SIGTERM to the command and dies of the same signal', async () => {
    // Its own process group, so a failure cannot leave the command running (and the test
    // waiting for its output to end).
    const child = spawn(KEYROLE, ['exec', 'prod', '--', 'sh', '-c', 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.1; done'], { env: baseEnv(w.env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    // Sent the moment the command has printed: regression, keyrole died of a SIGTERM that
    // came before its handlers were in place (a loaded CI machine) and orphaned the command.
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => { out += d; if (out.includes('ready')) resolve(); }));
    child.kill('SIGTERM');
    const [code, signal] = await exited;
    if (code !== 42) try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    await closed;
    assert.match(out, /got-term/, 'the command saw the signal');
    assert.equal(code, 42, `keyrole exits with the command's status (signal ${signal})`);
  });

  test('exec at a terminal: Ctrl-C reaches the command once (the terminal sends it; keyrole does not send it again)', async () => {
    // Terraform takes a second SIGINT as "stop now, without cleaning up".
    const script = join(w.home, 'count-sigint.cjs');
    writeFileSync(script, `let n = 0;
process.on('SIGINT', () => { if (++n === 1) setTimeout(() => { console.log('sigints=' + n); process.exit(0); }, 1000); });
console.log('ready');
setInterval(() => {}, 1000);
`);
    // `exec`: script(1) runs the line with $SHELL -c, and a shell that stays as keyrole's
    // parent (dash, where SHELL is unset, as on CI) dies of the Ctrl-C itself and makes script exit 130.
    const r = await onPty(`exec ${KEYROLE} exec prod -- '${process.execPath}' '${script}'`, [[/ready/, '\x03']], w.env);
    assert.match(r.screen, /sigints=1\b/, r.screen);
    assert.equal(r.code, 0, r.screen);
  });

  test('exec: the command killed by a signal makes keyrole die of it too', async () => {
    const r = await w.keyrole(['exec', 'prod', '--', 'sh', '-c', 'kill -KILL $$']);
    assert.equal(r.signal, 'SIGKILL', `code ${r.code} signal ${r.signal}`);
  });
});

describe('rotate', () => {
  let w: World;
  let env: Record<string, string>;
  const keysOf = async (user: string) => w.emu.control<{ accessKeyId: string; status: string }[]>('POST', 'access-keys', { userName: user });
  const stored = async (source: string) => {
    const r = await w.keyrole(['list']);
    return /(AKIA…\w{4})/.exec(r.stdout.split('\n').find((l) => l.startsWith(`${source} `)) ?? '')?.[1];
  };

  before(async () => {
    w = await startWorld();
    env = { AWS_ENDPOINT_URL_IAM: w.emu.url };
    w.writeConfig(keyroleProfile('prod', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ADMIN }));
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  test('creates a new key, checks it, stores it, deletes the old one; the profile keeps working', async () => {
    const r = await w.keyrole(['rotate', 'alice'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Created access key AKIA…\w{4} for IAM user alice\./);
    assert.match(r.stdout, /Checked it: GetCallerIdentity answers arn:aws:iam::111122223333:user\/alice\./);
    assert.match(r.stdout, /Rotated source "alice": AKIA…0001 → AKIA…\w{4} .*the old key is deleted\./);
    assert.ok(!r.stdout.includes(DEMO_SECRET_ACCESS_KEY) && !r.stderr.includes(DEMO_SECRET_ACCESS_KEY));
    const keys = await keysOf('alice');
    assert.equal(keys.length, 1);
    assert.notEqual(keys[0].accessKeyId, DEMO_ACCESS_KEY_ID);
    assert.equal(await stored('alice'), `AKIA…${keys[0].accessKeyId.slice(-4)}`);
    const p = await w.keyrole(['process', 'prod', '--cache', 'none']);
    assert.equal(p.code, 0, p.stderr);
    const q = (await w.emu.stats()).requests.filter((x) => x.action === 'AssumeRole').at(-1)!;
    assert.equal(q.accessKeyId, keys[0].accessKeyId, 'the role is assumed with the new key');
  });

  test('the IAM endpoint comes from the profile\'s services section too', async () => {
    const cfg = `${keyroleProfile('svc', { keyrole_source: 'alice', services: 'local' })}\n[services local]\niam =\n  endpoint_url = ${w.emu.url}\n`;
    writeFileSync(join(w.home, 'svc.ini'), cfg);
    const r = await w.keyrole(['rotate', 'alice', '--debug'], { env: { AWS_CONFIG_FILE: join(w.home, 'svc.ini') } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /IAM ListAccessKeys at http:\/\/127\.0\.0\.1:\d+ \(endpoint from \[services local\] iam\.endpoint_url\)/);
    assert.equal((await keysOf('alice')).length, 1);
  });

  test('with two keys already, nothing is created and the fix says which to delete', async () => {
    const extra = await w.emu.addUser('alice'); // IAM's second key for alice
    const before = await stored('alice');
    const r = await w.keyrole(['rotate', 'alice'], { env });
    assertFails(r, new RegExp(`already has two access keys .*AKIA…${extra.accessKeyId.slice(-4)}, active.*delete the one keyrole does not use`));
    assert.equal((await keysOf('alice')).length, 2);
    assert.equal(await stored('alice'), before);
    // Tidy up with the AWS CLI (the real client) so later tests start from one key.
    requireTool('aws');
    const del = await w.run('aws', ['iam', 'delete-access-key', '--access-key-id', extra.accessKeyId, '--endpoint-url', w.emu.url], { env: { AWS_ACCESS_KEY_ID: extra.accessKeyId, AWS_SECRET_ACCESS_KEY: extra.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1' } });
    assert.equal(del.code, 0, del.stderr);
    assert.equal((await keysOf('alice')).length, 1);
  });

  test('IAM\'s LimitExceeded from CreateAccessKey is one line with the quota', async () => {
    await w.emu.behaviour({ faults: [{ action: 'CreateAccessKey', kind: 'error', status: 409, code: 'LimitExceeded', message: 'Cannot exceed quota for AccessKeysPerUser: 2' }] });
    const before = await stored('alice');
    assertFails(await w.keyrole(['rotate', 'alice'], { env }), /two access keys, the most IAM allows \(Cannot exceed quota for AccessKeysPerUser: 2\)/);
    assert.equal(await stored('alice'), before);
  });

  test('a new key that STS does not accept is deleted again and the old one kept', async () => {
    await w.emu.behaviour({ faults: [{ action: 'GetCallerIdentity', kind: 'error', status: 403, code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.', times: 50 }] });
    const before = await stored('alice');
    const keysBefore = await keysOf('alice');
    const r = await w.keyrole(['rotate', 'alice', '--verify-timeout', '3'], { env });
    await w.emu.behaviour({ faults: [] });
    assertFails(r, /did not work with STS .*the new key was deleted; source "alice" keeps its old key/);
    assert.deepEqual(await keysOf('alice'), keysBefore);
    assert.equal(await stored('alice'), before);
    assert.equal((await w.keyrole(['process', 'prod', '--cache', 'none'])).code, 0, 'the old key still works');
  });

  test('an old key that cannot be deleted is named for deletion by hand; the new one is in use', async () => {
    await w.emu.behaviour({ faults: [{ action: 'DeleteAccessKey', kind: 'error', status: 500, code: 'ServiceFailure', message: 'Request processing has failed due to an internal error', times: 6 }] });
    const oldFull = (await keysOf('alice'))[0].accessKeyId;
    const r = await w.keyrole(['rotate', 'alice'], { env });
    await w.emu.behaviour({ faults: [] });
    assertFails(r, new RegExp(`now uses the new key AKIA…\\w{4}, but deleting the old key AKIA…${oldFull.slice(-4)} failed .*aws iam delete-access-key --access-key-id ${oldFull}`));
    const keys = await keysOf('alice');
    assert.equal(keys.length, 2);
    const fresh = keys.find((k) => k.accessKeyId !== oldFull)!;
    assert.equal(await stored('alice'), `AKIA…${fresh.accessKeyId.slice(-4)}`);
  });

  test('rotate of an unknown source says how to add it', async () => {
    assertFails(await w.keyrole(['rotate', 'nobody'], { env }), /source "nobody" is not in .*keyrole setup nobody/);
  });
});

describe('configure', () => {
  let w: World;
  const original = `# my AWS config — keep this comment
[default]
region = us-east-1   ; inline comment

[profile other]
# a hand-written profile
role_arn = arn:aws:iam::999999999999:role/Other
source_profile = default
s3 =
  max_concurrent_requests = 20

[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = eu-west-1
`;

  before(async () => {
    w = await startWorld();
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  const backups = () => readdirSync(join(w.home, '.aws')).filter((n) => n.startsWith('config.keyrole-backup-'));

  test('adds a profile with flags, keeps every other byte, and makes a backup', async () => {
    w.writeConfig(original);
    const r = await w.keyrole(['configure', 'prod', '--source', 'alice', '--role-arn', ADMIN, '--duration', '7200', '--region', 'eu-west-1']);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(w.configPath, 'utf8');
    assert.ok(text.startsWith(original), `the original text is untouched:\n${text}`);
    assert.match(text, /\n\[profile prod\]\ncredential_process = \S*keyrole process prod\nkeyrole_source = alice\nkeyrole_role_arn = arn:aws:iam::111122223333:role\/Admin\nkeyrole_duration_seconds = 7200\nregion = eu-west-1\n$/);
    const b = backups();
    assert.equal(b.length, 1);
    assert.equal(readFileSync(join(w.home, '.aws', b[0]), 'utf8'), original);
    assert.equal(statSync(join(w.home, '.aws', b[0])).mode & 0o777, 0o600);
    assert.match(r.stdout, /Wrote profile prod/);
    // And the profile works, through the AWS CLI.
    requireTool('aws');
    const cli = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'prod', '--output', 'json']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /assumed-role\/Admin/);
  });

  test('changes an existing profile in place: values replaced on their own lines, comments kept', async () => {
    const before = `# top\n[profile prod]\n# why this role\nkeyrole_source = alice\nkeyrole_role_arn = ${ADMIN}   # the admin role\nregion = eu-west-1\n\n[profile after]\nregion = us-west-2\n`;
    w.writeConfig(before);
    const r = await w.keyrole(['configure', 'prod', '--role-arn', `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly`]);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(w.configPath, 'utf8');
    const expected = before
      .replace(`keyrole_role_arn = ${ADMIN}   # the admin role`, `keyrole_role_arn = arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly   # the admin role`)
      .replace('region = eu-west-1\n', `region = eu-west-1\ncredential_process = ${/credential_process = (.*)\n/.exec(text)?.[1]}\n`);
    assert.equal(text, expected);
  });

  test('refuses to write a profile whose other keys would shadow credential_process, and writes nothing', async () => {
    w.writeConfig(original);
    const n = backups().length;
    const r = await w.keyrole(['configure', 'other', '--source', 'alice']);
    assertFails(r, /profile other has role_arn, source_profile.*credential_process would never run/);
    assert.equal(readFileSync(w.configPath, 'utf8'), original);
    assert.equal(backups().length, n);
  });

  test('without a terminal and without --source it says what to pass', async () => {
    w.writeConfig(original);
    assertFails(await w.keyrole(['configure', 'newone']), /no terminal.*--source/);
  });

  test('an invalid role ARN is refused before anything is written', async () => {
    w.writeConfig(original);
    assertFails(await w.keyrole(['configure', 'bad', '--source', 'alice', '--role-arn', 'arn:aws:iam::1:role/X']), /not an IAM role ARN/);
    assert.equal(readFileSync(w.configPath, 'utf8'), original);
  });

  test('at a terminal it asks for what the flags leave out, offering the stored source', async () => {
    w.writeConfig(original);
    const r = await onPty(`${KEYROLE} configure dev --duration 1800`, [
      [/Keychain source \(alice\) \[alice\]: /, '\r'],
      [/Role ARN to assume \(empty: none\): /, `${ADMIN}\r`],
      [/Region \(empty: none\): /, 'eu-west-1\r'],
      [/MFA device ARN \(empty: none\): /, '\r'],
    ], w.env);
    assert.equal(r.code, 0, r.screen);
    assert.doesNotMatch(r.screen, /Session duration/, 'a flag is not asked again');
    const text = readFileSync(w.configPath, 'utf8');
    assert.ok(text.startsWith(original));
    assert.match(text, /\[profile dev\]\ncredential_process = \S+ process dev\nkeyrole_source = alice\nkeyrole_role_arn = arn:aws:iam::111122223333:role\/Admin\nkeyrole_duration_seconds = 1800\nregion = eu-west-1\n$/);
  });

  test('regression: at a terminal an invalid role ARN is refused at its own question and asked again', async () => {
    w.writeConfig(original);
    const r = await onPty(`${KEYROLE} configure dev2`, [
      [/Keychain source \(alice\) \[alice\]: /, '\r'],
      [/Role ARN to assume \(empty: none\): /, 'arn:aws:iam::1:role/X\r'],
      [/not an IAM role ARN[^\n]*\n[^]*Role ARN to assume \(empty: none\): /, `${ADMIN}\r`],
      [/Session duration in seconds \[3600; - clears\]: /, '1800\r'],
      [/Region \(empty: none\): /, 'eu-west-1\r'],
      [/MFA device ARN \(empty: none\): /, '\r'],
    ], w.env);
    assert.equal(r.code, 0, r.screen);
    assert.match(readFileSync(w.configPath, 'utf8'), /\[profile dev2\]\ncredential_process = \S+ process dev2\nkeyrole_source = alice\nkeyrole_role_arn = arn:aws:iam::111122223333:role\/Admin\n/);
  });

  test('regression: "-" clears a value, at the terminal and as a flag', async () => {
    w.writeConfig(`[profile prod]\ncredential_process = ${KEYROLE} process prod\nkeyrole_source = alice\nkeyrole_role_arn = ${ADMIN}\n# keep me\nregion = eu-west-1\nkeyrole_mfa_serial = arn:aws:iam::111122223333:mfa/alice\n`);
    const r = await onPty(`${KEYROLE} configure prod`, [
      [/Keychain source \(alice\) \[alice\]: /, '\r'],
      [/Role ARN to assume \(empty: none\) \[arn:aws:iam::111122223333:role\/Admin; - clears\]: /, '-\r'],
      [/Session duration in seconds \[3600; - clears\]: /, '\r'],
      [/Region \(empty: none\) \[eu-west-1; - clears\]: /, '\r'],
      [/MFA device ARN \(empty: none\) \[[^\]]*; - clears\]: /, '\r'],
    ], w.env);
    assert.equal(r.code, 0, r.screen);
    assert.equal(readFileSync(w.configPath, 'utf8'), `[profile prod]\ncredential_process = ${KEYROLE} process prod\nkeyrole_source = alice\n# keep me\nregion = eu-west-1\nkeyrole_mfa_serial = arn:aws:iam::111122223333:mfa/alice\nkeyrole_duration_seconds = 3600\n`);
    const flag = await w.keyrole(['configure', 'prod', '--mfa-serial', '-']);
    assert.equal(flag.code, 0, flag.stderr);
    assert.doesNotMatch(readFileSync(w.configPath, 'utf8'), /mfa_serial/);
    assert.match(flag.stdout, /-keyrole_mfa_serial/);
  });

  test('regression: only the last 5 backups are kept, not one per run', async () => {
    w.writeConfig(original);
    for (let i = 0; i < 8; i++) {
      const r = await w.keyrole(['configure', 'prod', '--source', 'alice', '--duration', String(1000 + i)]);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal(backups().length, 5);
  });

  test('regression: credential_process names keyrole by absolute path, even when PATH finds it', async () => {
    w.writeConfig(original);
    const r = await w.keyrole(['configure', 'abs', '--source', 'alice'], { env: { PATH: `${join(KEYROLE, '..')}:${process.env.PATH}` } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(w.configPath, 'utf8').includes(`credential_process = ${KEYROLE} process abs\n`));
  });

  test('creates ~/.aws/config when there is none', async () => {
    const cfg = join(w.home, 'fresh', 'config');
    const r = await w.keyrole(['configure', 'prod', '--source', 'alice'], { env: { AWS_CONFIG_FILE: cfg } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(cfg));
    assert.equal(statSync(cfg).mode & 0o777, 0o600);
    assert.match(readFileSync(cfg, 'utf8'), /^\[profile prod\]\ncredential_process = .*\nkeyrole_source = alice\n$/);
  });
});

describe('completion', () => {
  let w: World;
  before(async () => {
    w = await startWorld();
    w.writeConfig(`${keyroleProfile('prod', { keyrole_source: 'alice' })}\n${keyroleProfile('dev', { keyrole_source: 'alice' })}\n[default]\nregion = eu-west-1\n[sso-session corp]\nsso_region = eu-west-1\n${keyroleProfile('111122223333.Admin', { keyrole_sso_session: 'corp', keyrole_sso_account_id: '111122223333', keyrole_sso_role_name: 'Admin' })}`);
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  test('lists profiles, sources and commands for the scripts', async () => {
    // regression: dotted names (what sso populate writes) were missing.
    assert.equal((await w.keyrole(['completion', '--list', 'profiles'])).stdout, '111122223333.Admin\ndefault\ndev\nprod\n');
    assert.equal((await w.keyrole(['completion', '--list', 'sessions'])).stdout, 'corp\n');
    assert.equal((await w.keyrole(['completion', '--list', 'sources'])).stdout, 'alice\n');
    const cmds = (await w.keyrole(['completion', '--list', 'commands'])).stdout.split('\n');
    for (const c of ['process', 'doctor', 'whoami', 'exec', 'export', 'configure', 'rotate', 'completion']) assert.ok(cmds.includes(c), c);
  });

  test('bash completes commands and profile names', async () => {
    requireTool('bash');
    const script = (await w.keyrole(['completion', 'bash'])).stdout;
    const file = join(w.home, 'keyrole.bash');
    writeFileSync(file, script);
    const complete = async (...words: string[]) => {
      const line = `source ${file}; COMP_WORDS=(keyrole ${words.map((x) => `'${x}'`).join(' ')}); COMP_CWORD=${words.length}; _keyrole; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = await w.run('bash', ['-c', line], { env: { PATH: `${join(KEYROLE, '..')}:${process.env.PATH}` } });
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean).sort();
    };
    assert.deepEqual(await complete('who'), ['whoami']);
    assert.deepEqual(await complete('whoami', 'p'), ['prod']);
    assert.deepEqual(await complete('exec', ''), ['111122223333.Admin', 'default', 'dev', 'prod']);
    // regression: login and sso fell back to file names.
    assert.deepEqual(await complete('login', 'c'), ['corp']);
    assert.deepEqual(await complete('sso', ''), ['logout', 'populate']);
    assert.deepEqual(await complete('sso', 'populate', ''), ['corp']);
    assert.deepEqual(await complete('import', '--d'), ['--dry-run']);
    assert.deepEqual(await complete('export', 'prod', '--format', ''), ['env', 'fish', 'json', 'powershell']);
    assert.deepEqual(await complete('rotate', ''), ['alice']);
  });

  // What a user typing `keyrole <words>⇥` is offered, in every shell: the same answers as bash's above.
  const CASES: [string[], string[]][] = [
    [['who'], ['whoami']],
    [['whoami', 'p'], ['prod']],
    [['exec', ''], ['111122223333.Admin', 'default', 'dev', 'prod']],
    [['rotate', ''], ['alice']],
    [['sso', 'populate', ''], ['corp']],
    [['export', 'prod', '--format', ''], ['env', 'fish', 'json', 'powershell']],
  ];
  const onPath = () => ({ env: { PATH: `${join(KEYROLE, '..')}:${process.env.PATH}` } });

  test('zsh: the script loads under compinit, registers _keyrole for keyrole, and it answers', async () => {
    const zsh = requireTool('zsh');
    const script = (await w.keyrole(['completion', 'zsh'])).stdout;
    assert.match(script, /^#compdef keyrole/);
    const file = join(w.home, 'keyrole.zsh');
    writeFileSync(file, script);
    // compadd works only inside a completion widget, which needs a terminal: the stand-in
    // prints what _keyrole offers (its words, or with -a the arrays it names). One zsh for all
    // the cases, each after a marker line.
    const line = [
      'autoload -Uz compinit && compinit -u -D',
      `source ${file}`,
      '[[ $_comps[keyrole] == _keyrole ]] || { print -u2 "compdef did not register _keyrole for keyrole"; exit 3 }',
      'compadd() { local arrays=0; while [[ $1 == -* ]]; do case $1 in -a) arrays=1 ;; --) shift; break ;; esac; shift; done; if (( arrays )); then local n; for n; do print -rl -- "${(@P)n}"; done; else print -rl -- "$@"; fi }',
      // Its status only says whether its last test matched; what it offered and said is the check.
      ...CASES.map(([words]) => `print -- '--case--'; words=(keyrole ${words.map((x) => `'${x}'`).join(' ')}); CURRENT=${words.length + 1}; _keyrole || true`),
    ].join('\n');
    const r = await w.run(zsh, ['-f', '-c', line], onPath());
    assert.equal(r.code, 0, `zsh: ${r.stderr}`);
    assert.equal(r.stderr, '');
    const offered = r.stdout.split('--case--\n').slice(1);
    assert.equal(offered.length, CASES.length, r.stdout);
    CASES.forEach(([words, expected], i) => {
      // zsh filters by the prefix itself once compadd hands it the candidates.
      const last = words.at(-1)!;
      assert.deepEqual(offered[i].split('\n').filter((x) => x && x.startsWith(last)).sort(), expected, `keyrole ${words.join(' ')}⇥`);
    });
  });

  test('fish: complete -C offers what the script says', async () => {
    const fish = requireTool('fish');
    const file = join(w.home, 'keyrole.fish');
    writeFileSync(file, (await w.keyrole(['completion', 'fish'])).stdout);
    for (const [words, expected] of CASES) {
      const r = await w.run(fish, ['--no-config', '-c', `source ${file}; complete -C ${JSON.stringify(`keyrole ${words.join(' ')}`)}`], onPath());
      assert.equal(r.code, 0, `fish: ${r.stderr}`);
      assert.deepEqual(r.stdout.split('\n').filter(Boolean).map((x) => x.split('\t')[0]).sort(), expected, `keyrole ${words.join(' ')}⇥`);
    }
  });

  test('an unknown shell is a usage error', async () => {
    assertFails(await w.keyrole(['completion', 'tcsh']), /shell "tcsh".*bash, zsh or fish/, 2);
  });
});
