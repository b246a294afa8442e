// The STS emulator, exercised by the clients keyrole will meet in the field: the AWS CLI v1
// (botocore), the AWS CLI v2, boto3 and the JS SDK v3. A missing client is a failure that
// names its install step, never a skip: a green run must mean every client was tried.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AssumeRoleCommand, GetCallerIdentityCommand, GetFederationTokenCommand, GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts';
import type { AssumeRoleCommandInput } from '@aws-sdk/client-sts';
import { SignatureV4 } from '@smithy/signature-v4';
import { DEFAULT_SEED, startEmulator } from '../emulator/server.ts';
import type { EmulatorOptions, RunningEmulator } from '../emulator/server.ts';
import {
  DEMO_ACCESS_KEY_ID,
  DEMO_ACCOUNT_ID,
  DEMO_MFA_SECRET,
  DEMO_MFA_SERIAL,
  DEMO_SECRET_ACCESS_KEY,
} from '../emulator/seed.ts';
import { NodeSha256 } from '../emulator/sigv4.ts';
import type { AssumeRoleCarried } from '../emulator/carried.ts';
import { base32Decode, base32Encode, hotp, totp } from '../emulator/totp.ts';

const NODE = process.execPath;
const MAIN_TS = fileURLToPath(new URL('../emulator/main.ts', import.meta.url));
const ADMIN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const READONLY = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly`;
const MFA_ADMIN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/MfaAdmin`;
const PARTNER = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Partner`;
const ALICE_ARN = `arn:aws:iam::${DEMO_ACCOUNT_ID}:user/alice`;
const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const MINUTE = 60_000;

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const ALICE: Creds = { accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY };

// ---------- helpers ----------

async function withEmulator(options: EmulatorOptions, fn: (emu: RunningEmulator) => Promise<void>): Promise<void> {
  const emu = await startEmulator(options);
  try {
    await fn(emu);
  } finally {
    await emu.close();
  }
}

function sts(emu: RunningEmulator, creds: Creds, extra: Record<string, unknown> = {}): STSClient {
  return new STSClient({ region: 'us-east-1', endpoint: emu.url, credentials: creds, maxAttempts: 1, ...extra });
}

async function assumeRole(emu: RunningEmulator, creds: Creds, input: Partial<AssumeRoleCommandInput> = {}): Promise<Creds & { expiration: Date }> {
  const out = await sts(emu, creds).send(new AssumeRoleCommand({ RoleArn: ADMIN, RoleSessionName: 'test', ...input }));
  const c = out.Credentials!;
  return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken!, expiration: c.Expiration! };
}

interface AwsError {
  name: string;
  message: string;
  status: number | undefined;
}

async function stsError(p: Promise<unknown>): Promise<AwsError> {
  try {
    await p;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  assert.fail('expected the STS call to fail');
}

// Shapes of the control endpoints' JSON, as far as the tests read them.
interface StatsJson {
  calls: Record<string, number>;
  requests: { action: string; accessKeyId: string | null; ok: boolean; code?: string; fault?: string; roleArn?: string; durationSeconds?: number; carried?: AssumeRoleCarried; time: string }[];
}
interface UserJson {
  accessKeyId: string;
  secretAccessKey: string;
  arn: string;
}

async function control<T = Record<string, unknown>>(emu: RunningEmulator, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${emu.url}/_emulator/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = await res.json();
  assert.equal(res.status, 200, `control ${path}: ${JSON.stringify(json)}`);
  return json as T;
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function rawRequest(emu: RunningEmulator, method: string, path: string, headers: Record<string, string>, body = ''): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: emu.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A hand-built Query request, signed with the SDK's signer, for cases the SDKs never send. */
async function signedPost(emu: RunningEmulator, params: Record<string, string>, creds: Creds = ALICE, opts: { region?: string; service?: string } = {}): Promise<RawResponse> {
  const body = new URLSearchParams(params).toString();
  const headers: Record<string, string> = {
    host: `127.0.0.1:${emu.port}`,
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
  };
  const signer = new SignatureV4({
    service: opts.service ?? 'sts',
    region: opts.region ?? 'us-east-1',
    credentials: creds,
    sha256: NodeSha256,
  });
  const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: emu.port, path: '/', query: {}, headers, body });
  return rawRequest(emu, 'POST', '/', signed.headers as Record<string, string>, body);
}

function xmlValue(xml: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
}

// ---------- real clients ----------

interface ProcResult {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: NodeJS.ErrnoException;
}

// A limit only against a hung process: the AWS CLI takes 10 s or more just to start on a busy
// machine, and a test runs several at once (30 s killed them there, with an empty stderr).
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 300_000): Promise<ProcResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      const spawnError = error && typeof error.code === 'string' ? (error as NodeJS.ErrnoException) : undefined;
      const killed = error?.killed ? `\n(${cmd} was killed after ${timeoutMs / 1000} s)` : '';
      resolve({ code, stdout, stderr: `${stderr}${killed}`, ...(spawnError ? { error: spawnError } : {}) });
    });
  });
}

/** The parent's environment minus anything AWS-related, so no real profile or key leaks in. */
function cleanEnv(creds: Creds, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  return {
    ...env,
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
    ...(creds.sessionToken ? { AWS_SESSION_TOKEN: creds.sessionToken } : {}),
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    AWS_MAX_ATTEMPTS: '1',
    AWS_RETRY_MODE: 'standard',
    ...extra,
  };
}

interface Cli {
  label: string;
  bin: string;
  major: string;
  install: string;
}

const CLI_V1: Cli = { label: 'AWS CLI v1', bin: 'aws', major: '1', install: 'pip install awscli (botocore-based v1, first on PATH)' };
const CLI_V2: Cli = { label: 'AWS CLI v2', bin: '/usr/bin/aws', major: '2', install: 'apt-get install awscli (Debian ships v2 at /usr/bin/aws)' };

const cliChecks = new Map<string, Promise<void>>();

function requireCli(cli: Cli): Promise<void> {
  let check = cliChecks.get(cli.bin);
  if (!check) {
    check = run(cli.bin, ['--version'], cleanEnv(ALICE)).then((r) => {
      if (r.error) assert.fail(`${cli.label} not found (${cli.bin}: ${r.error.code}). Install it: ${cli.install}`);
      const version = `${r.stdout}${r.stderr}`.trim();
      assert.match(version, new RegExp(`^aws-cli/${cli.major}\\.`), `${cli.bin} is not ${cli.label} (${version}). Install it: ${cli.install}`);
    });
    cliChecks.set(cli.bin, check);
  }
  return check;
}

async function aws(cli: Cli, emu: RunningEmulator, creds: Creds, args: string[]): Promise<ProcResult> {
  await requireCli(cli);
  return run(cli.bin, [...args, '--endpoint-url', emu.url, '--output', 'json'], cleanEnv(creds));
}

interface CliIdentity {
  UserId: string;
  Account: string;
  Arn: string;
}
interface CliAssumeRole {
  AssumedRoleUser: { AssumedRoleId: string; Arn: string };
  Credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string; Expiration: string };
}

async function awsJson<T>(cli: Cli, emu: RunningEmulator, creds: Creds, args: string[]): Promise<T> {
  const r = await aws(cli, emu, creds, args);
  assert.equal(r.code, 0, `${cli.label} ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

function assertCliError(r: ProcResult, code: string, operation: string, message?: string): void {
  assert.notEqual(r.code, 0, 'expected the CLI to fail');
  assert.match(r.stderr, new RegExp(`An error occurred \\(${code}\\) when calling the ${operation} operation`), r.stderr);
  if (message !== undefined) assert.ok(r.stderr.includes(message), `stderr lacks "${message}":\n${r.stderr}`);
}

const BOTO3_SCRIPT = String.raw`
import json, sys, urllib.request
try:
    import boto3, botocore
    from botocore.config import Config
except ImportError as e:
    print(json.dumps({"missing": str(e)})); sys.exit(0)
cfg = json.loads(sys.argv[1])
url = cfg["url"]
def client(ak, sk, tok=None):
    return boto3.client("sts", endpoint_url=url, region_name="us-east-1", aws_access_key_id=ak,
        aws_secret_access_key=sk, aws_session_token=tok,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}))
def err(fn):
    try:
        fn()
        return None
    except botocore.exceptions.ClientError as e:
        return {"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"],
                "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
out = {"botocore": botocore.__version__}
alice = client(cfg["ak"], cfg["sk"])
out["identity"] = alice.get_caller_identity()["Arn"]
r = alice.assume_role(RoleArn=cfg["role"], RoleSessionName="boto3-session", DurationSeconds=900)
c = r["Credentials"]
out["assumedRoleUser"] = r["AssumedRoleUser"]["Arn"]
out["expiration"] = c["Expiration"].isoformat()
sess = client(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
out["assumed"] = sess.get_caller_identity()["Arn"]
out["wrongSecret"] = err(lambda: client(cfg["ak"], "x" * 40).get_caller_identity())
out["unknownKey"] = err(lambda: client("AKIAUNKNOWNKEY000000", "x" * 40).get_caller_identity())
out["badToken"] = err(lambda: client(c["AccessKeyId"], c["SecretAccessKey"], "bogus").get_caller_identity())
req = urllib.request.Request(url + "/_emulator/expire", data=json.dumps({"accessKeyId": c["AccessKeyId"]}).encode(),
    method="POST", headers={"content-type": "application/json"})
urllib.request.urlopen(req).read()
out["expired"] = err(lambda: sess.get_caller_identity())
# As aws eks get-token does: botocore signs the operation's POST unless told GET.
presigned = alice.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
with urllib.request.urlopen(presigned) as resp:
    out["presigned"] = resp.read().decode()
print(json.dumps(out))
`;

// ---------- unit: TOTP ----------

test('TOTP matches RFC 6238 (SHA1) and base32 round-trips', () => {
  const key = Buffer.from('12345678901234567890');
  // RFC 6238 appendix B, truncated to the 6 digits MFA devices show.
  assert.equal(hotp(key, Math.floor(59 / 30), 8), '94287082');
  assert.equal(hotp(key, Math.floor(1111111109 / 30), 8), '07081804');
  assert.equal(hotp(key, Math.floor(20000000000 / 30)), '353130');
  assert.deepEqual(base32Decode(base32Encode(key)), key);
  assert.equal(totp(base32Encode(key), 59_000), '287082');
  assert.equal(base32Decode(DEMO_MFA_SECRET).length, 20);
});

test('default seed is realistic-looking and obviously fake', () => {
  assert.match(DEMO_ACCESS_KEY_ID, /^AKIA[A-Z0-9]{16}$/);
  assert.equal(DEMO_SECRET_ACCESS_KEY.length, 40);
  assert.deepEqual(
    DEFAULT_SEED.roles.map((r) => [r.roleArn.split('/')[1], r.maxSessionDuration, r.requireMfa ?? false]).slice(0, 3),
    [['Admin', 43200, false], ['ReadOnly', 3600, false], ['MfaAdmin', 43200, true]],
  );
  assert.equal(DEFAULT_SEED.mfaDevices[0]!.serial, DEMO_MFA_SERIAL);
});

// ---------- real clients against one shared emulator ----------

describe('real clients', { concurrency: 4 }, () => {
  let emu: RunningEmulator;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.close());

  for (const cli of [CLI_V1, CLI_V2]) {
    test(`${cli.label}: identity, AssumeRole, session identity, wrong secret, unknown key, duration cap`, async () => {
      const id = await awsJson<CliIdentity>(cli, emu, ALICE, ['sts', 'get-caller-identity']);
      assert.deepEqual(id, { UserId: 'AIDAKEYROLEDEMOALICE1', Account: DEMO_ACCOUNT_ID, Arn: ALICE_ARN });

      const session = `cli-v${cli.major}`;
      const ar = await awsJson<CliAssumeRole>(cli, emu, ALICE, ['sts', 'assume-role', '--role-arn', ADMIN, '--role-session-name', session]);
      assert.equal(ar.AssumedRoleUser.Arn, `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/${session}`);
      assert.match(ar.AssumedRoleUser.AssumedRoleId, new RegExp(`^AROA[A-Z0-9]{17}:${session}$`));
      assert.match(ar.Credentials.AccessKeyId, /^ASIA[A-Z0-9]{16}$/);
      const expiresIn = Date.parse(ar.Credentials.Expiration) - Date.now();
      assert.ok(expiresIn > 3590_000 && expiresIn <= 3600_000, `default duration is 1 h, got ${expiresIn} ms`);

      const roleCreds = {
        accessKeyId: ar.Credentials.AccessKeyId,
        secretAccessKey: ar.Credentials.SecretAccessKey,
        sessionToken: ar.Credentials.SessionToken,
      };
      const sid = await awsJson<CliIdentity>(cli, emu, roleCreds, ['sts', 'get-caller-identity']);
      assert.equal(sid.Arn, `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/${session}`);

      const [wrong, unknown, capped] = await Promise.all([
        aws(cli, emu, { ...ALICE, secretAccessKey: 'x'.repeat(40) }, ['sts', 'get-caller-identity']),
        aws(cli, emu, { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x'.repeat(40) }, ['sts', 'get-caller-identity']),
        aws(cli, emu, ALICE, ['sts', 'assume-role', '--role-arn', READONLY, '--role-session-name', 'capped', '--duration-seconds', '7200']),
      ]);
      assertCliError(wrong, 'SignatureDoesNotMatch', 'GetCallerIdentity', SIGNATURE_MISMATCH);
      assertCliError(unknown, 'InvalidClientTokenId', 'GetCallerIdentity', 'The security token included in the request is invalid.');
      assertCliError(capped, 'ValidationError', 'AssumeRole', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    });
  }

  test('boto3: identity, AssumeRole, wrong secret, unknown key, bad token, ExpiredToken, presigned URL', async () => {
    const r = await run('python3', ['-c', BOTO3_SCRIPT, JSON.stringify({ url: emu.url, ak: ALICE.accessKeyId, sk: ALICE.secretAccessKey, role: ADMIN })], cleanEnv(ALICE));
    if (r.error) assert.fail(`python3 not found (${r.error.code}). Install it: apt-get install python3 python3-pip && pip install boto3`);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    if (out.missing) assert.fail(`boto3 is not importable (${out.missing}). Install it: pip install boto3`);
    assert.equal(out.identity, ALICE_ARN);
    assert.equal(out.assumedRoleUser, `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/boto3-session`);
    assert.equal(out.assumed, out.assumedRoleUser);
    const expiresIn = Date.parse(out.expiration) - Date.now();
    assert.ok(expiresIn > 890_000 && expiresIn <= 900_000, `DurationSeconds=900 honoured, got ${expiresIn} ms`);
    assert.deepEqual(out.wrongSecret, { code: 'SignatureDoesNotMatch', message: SIGNATURE_MISMATCH, status: 403 });
    assert.deepEqual(out.unknownKey, { code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.', status: 403 });
    assert.deepEqual(out.badToken, { code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.', status: 403 });
    assert.deepEqual(out.expired, { code: 'ExpiredToken', message: 'The security token included in the request is expired', status: 403 });
    assert.equal(xmlValue(out.presigned, 'Arn'), ALICE_ARN);
  });

  test('@aws-sdk/client-sts: identity, AssumeRole, session identity, wrong secret, unknown key', async () => {
    const id = await sts(emu, ALICE).send(new GetCallerIdentityCommand({}));
    assert.equal(id.Arn, ALICE_ARN);
    assert.equal(id.UserId, 'AIDAKEYROLEDEMOALICE1');
    assert.equal(id.Account, DEMO_ACCOUNT_ID);
    const role = await assumeRole(emu, ALICE, { RoleSessionName: 'sdk', DurationSeconds: 43200 });
    const remaining = role.expiration.getTime() - Date.now();
    assert.ok(remaining > 43190_000 && remaining <= 43200_000, `12 h allowed by Admin's MaxSessionDuration, got ${remaining}`);
    const sid = await sts(emu, role).send(new GetCallerIdentityCommand({}));
    assert.equal(sid.Arn, `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/Admin/sdk`);
    assert.match(sid.UserId!, /^AROA[A-Z0-9]{17}:sdk$/);

    const wrong = await stsError(sts(emu, { ...ALICE, secretAccessKey: 'y'.repeat(40) }).send(new GetCallerIdentityCommand({})));
    assert.deepEqual(wrong, { name: 'SignatureDoesNotMatch', message: SIGNATURE_MISMATCH, status: 403 });
    const unknown = await stsError(sts(emu, { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'y'.repeat(40) }).send(new GetCallerIdentityCommand({})));
    assert.deepEqual(unknown, { name: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.', status: 403 });
    // A leftover AWS_SESSION_TOKEN next to long-term keys: a classic field failure.
    const stray = await stsError(sts(emu, { ...ALICE, sessionToken: role.sessionToken! }).send(new GetCallerIdentityCommand({})));
    assert.equal(stray.name, 'InvalidClientTokenId');
  });
});

// ---------- clock skew ----------

describe('clock skew (server clock shifted with clockOffsetMs)', { concurrency: true }, () => {
  const STAMP = '(\\d{8}T\\d{6}Z)';
  const parseStamp = (s: string) =>
    Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(9, 11), +s.slice(11, 13), +s.slice(13, 15));

  function checkExpired(message: string): void {
    const m = new RegExp(`Signature expired: ${STAMP} is now earlier than ${STAMP} \\(${STAMP} - 15 min\\.\\)`).exec(message);
    assert.ok(m, message);
    const [signed, limit, now] = [m[1]!, m[2]!, m[3]!].map(parseStamp) as [number, number, number];
    assert.equal(now - limit, 15 * MINUTE);
    assert.ok(Math.abs(now - signed - 20 * MINUTE) < MINUTE, message);
  }

  function checkFuture(message: string): void {
    const m = new RegExp(`Signature not yet current: ${STAMP} is still later than ${STAMP} \\(${STAMP} \\+ 15 min\\.\\)`).exec(message);
    assert.ok(m, message);
    const [signed, limit, now] = [m[1]!, m[2]!, m[3]!].map(parseStamp) as [number, number, number];
    assert.equal(limit - now, 15 * MINUTE);
    assert.ok(Math.abs(signed - now - 20 * MINUTE) < MINUTE, message);
  }

  /** CLI v1, CLI v2 and the JS SDK each refuse GetCallerIdentity with SignatureDoesNotMatch; `check` reads each message. */
  async function everyCallerRefused(emu: RunningEmulator, check: (message: string) => void): Promise<AwsError> {
    const clis = await Promise.all([CLI_V1, CLI_V2].map((cli) => aws(cli, emu, ALICE, ['sts', 'get-caller-identity'])));
    for (const r of clis) {
      assertCliError(r, 'SignatureDoesNotMatch', 'GetCallerIdentity');
      check(r.stderr);
    }
    const e = await stsError(sts(emu, ALICE).send(new GetCallerIdentityCommand({})));
    assert.equal(e.name, 'SignatureDoesNotMatch');
    check(e.message);
    return e;
  }

  test('server 20 min ahead: "Signature expired" from CLI v1, CLI v2, the SDK; Date header follows the server clock', () =>
    withEmulator({ clockOffsetMs: 20 * MINUTE }, async (emu) => {
      const e = await everyCallerRefused(emu, checkExpired);
      assert.equal(e.status, 403);

      const res = await rawRequest(emu, 'GET', '/', {});
      assert.ok(Math.abs(Date.parse(res.headers.date!) - (Date.now() + 20 * MINUTE)) < 2000, res.headers.date);
      // The JS SDK learns the offset from that Date header and retries once: that must work.
      const healed = await sts(emu, ALICE, { maxAttempts: 3 }).send(new GetCallerIdentityCommand({}));
      assert.equal(healed.Arn, ALICE_ARN);
      assert.equal(healed.$metadata.attempts, 2);
    }));

  test('server 20 min behind: "Signature not yet current" from CLI v1, CLI v2, the SDK', () =>
    withEmulator({ clockOffsetMs: -20 * MINUTE }, async (emu) => {
      await everyCallerRefused(emu, checkFuture);
    }));

  test('14 min of skew is tolerated; behaviour.clockOffsetMs can change it at run time', () =>
    withEmulator({}, async (emu) => {
      await control(emu, 'behaviour', { clockOffsetMs: 14 * MINUTE });
      assert.equal((await sts(emu, ALICE).send(new GetCallerIdentityCommand({}))).Arn, ALICE_ARN);
      await control(emu, 'behaviour', { clockOffsetMs: -14 * MINUTE });
      assert.equal((await sts(emu, ALICE).send(new GetCallerIdentityCommand({}))).Arn, ALICE_ARN);
      await control(emu, 'behaviour', { clockOffsetMs: 16 * MINUTE });
      checkExpiredLoose((await stsError(sts(emu, ALICE).send(new GetCallerIdentityCommand({})))).message);
    }));

  function checkExpiredLoose(message: string): void {
    assert.match(message, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/);
  }
});

// ---------- STS semantics (SDK; fast, in-process) ----------

describe('STS semantics', { concurrency: true }, () => {
  test('session credentials: ExpiredToken after /_emulator/expire, wrong token rejected', () =>
    withEmulator({}, async (emu) => {
      const role = await assumeRole(emu, ALICE);
      const bad = await stsError(sts(emu, { ...role, sessionToken: 'IQoJnotthetoken' }).send(new GetCallerIdentityCommand({})));
      assert.equal(bad.name, 'InvalidClientTokenId');
      await control(emu, 'expire', { accessKeyId: role.accessKeyId });
      const e = await stsError(sts(emu, role).send(new GetCallerIdentityCommand({})));
      assert.deepEqual(e, { name: 'ExpiredToken', message: 'The security token included in the request is expired', status: 403 });
    }));

  test('credentialLifetimeSeconds shortens issued credentials; they expire on the emulator clock', () =>
    withEmulator({}, async (emu) => {
      await control(emu, 'behaviour', { credentialLifetimeSeconds: 120 });
      const role = await assumeRole(emu, ALICE, { DurationSeconds: 3600 });
      const left = role.expiration.getTime() - Date.now();
      assert.ok(left > 110_000 && left <= 120_000, `got ${left}`);
      // Moving the emulator clock past expiry is how cache tests age credentials.
      await control(emu, 'behaviour', { clockOffsetMs: 121_000, credentialLifetimeSeconds: null });
      const e = await stsError(sts(emu, role).send(new GetCallerIdentityCommand({})));
      assert.equal(e.name, 'ExpiredToken');
    }));

  test('AssumeRole duration rules: bounds, MaxSessionDuration, role chaining 1 h cap', () =>
    withEmulator({}, async (emu) => {
      const e1 = await stsError(assumeRole(emu, ALICE, { RoleArn: READONLY, DurationSeconds: 3601 }));
      assert.deepEqual(e1, { name: 'ValidationError', message: 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.', status: 400 });
      const e2 = await stsError(assumeRole(emu, ALICE, { DurationSeconds: 899 }));
      assert.equal(e2.message, "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900");
      const e3 = await stsError(assumeRole(emu, ALICE, { DurationSeconds: 43201 }));
      assert.equal(e3.message, "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200");

      const admin = await assumeRole(emu, ALICE, { DurationSeconds: 43200 });
      const chained = await stsError(assumeRole(emu, admin, { RoleArn: ADMIN, DurationSeconds: 7200 }));
      assert.deepEqual(chained, {
        name: 'ValidationError',
        message: 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.',
        status: 400,
      });
      const ok = await assumeRole(emu, admin, { RoleArn: READONLY, RoleSessionName: 'chained', DurationSeconds: 3600 });
      assert.equal((await sts(emu, ok).send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/ReadOnly/chained`);
    }));

  test('AssumeRole parameter validation and authorization messages', () =>
    withEmulator({}, async (emu) => {
      const name = await stsError(assumeRole(emu, ALICE, { RoleSessionName: 'bad name/x' }));
      assert.deepEqual(name, {
        name: 'ValidationError',
        message: "1 validation error detected: Value 'bad name/x' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        status: 400,
      });
      const two = await stsError(assumeRole(emu, ALICE, { RoleSessionName: 'x', DurationSeconds: 100 }));
      assert.equal(
        two.message,
        "2 validation errors detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2; Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
      );
      const tags = Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
      assert.match((await stsError(assumeRole(emu, ALICE, { Tags: tags }))).message, /at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50/);

      const missing = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/DoesNotExist`;
      const denied = await stsError(assumeRole(emu, ALICE, { RoleArn: missing }));
      assert.deepEqual(denied, { name: 'AccessDenied', message: `User: ${ALICE_ARN} is not authorized to perform: sts:AssumeRole on resource: ${missing}`, status: 403 });

      assert.equal((await stsError(assumeRole(emu, ALICE, { RoleArn: PARTNER }))).name, 'AccessDenied');
      assert.equal((await stsError(assumeRole(emu, ALICE, { RoleArn: PARTNER, ExternalId: 'wrong-id' }))).name, 'AccessDenied');
      const partner = await assumeRole(emu, ALICE, { RoleArn: PARTNER, ExternalId: 'keyrole-demo-external-id' });
      assert.match(partner.accessKeyId, /^ASIA/);

      const out = await sts(emu, ALICE).send(
        new AssumeRoleCommand({
          RoleArn: ADMIN,
          RoleSessionName: 'tagged',
          Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] }),
          PolicyArns: [{ arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }],
          Tags: [{ Key: 'team', Value: 'core' }],
          TransitiveTagKeys: ['team'],
          SourceIdentity: 'alice',
        }),
      );
      assert.equal(out.SourceIdentity, 'alice');
      assert.ok(out.PackedPolicySize! > 0 && out.PackedPolicySize! <= 100);
      const malformed = await stsError(assumeRole(emu, ALICE, { Policy: '{not json' }));
      // Wire code MalformedPolicyDocument; the SDK maps it to its modelled exception.
      assert.equal(malformed.name, 'MalformedPolicyDocumentException');
    }));

  test('MFA: required role, good / adjacent / bad / reused TOTP, GetSessionToken MFA carries over', () =>
    withEmulator({}, async (emu) => {
      const now = () => emu.state.now();
      const noMfa = await stsError(assumeRole(emu, ALICE, { RoleArn: MFA_ADMIN }));
      assert.deepEqual(noMfa, { name: 'AccessDenied', message: `User: ${ALICE_ARN} is not authorized to perform: sts:AssumeRole on resource: ${MFA_ADMIN}`, status: 403 });

      let bad = totp(DEMO_MFA_SECRET, now(), 5);
      for (let k = 6; [-1, 0, 1].some((s) => totp(DEMO_MFA_SECRET, now(), s) === bad); k++) bad = totp(DEMO_MFA_SECRET, now(), k);
      const badCode = await stsError(assumeRole(emu, ALICE, { RoleArn: MFA_ADMIN, SerialNumber: DEMO_MFA_SERIAL, TokenCode: bad }));
      assert.deepEqual(badCode, { name: 'AccessDenied', message: 'MultiFactorAuthentication failed with invalid MFA one time pass code.', status: 403 });

      const code = totp(DEMO_MFA_SECRET, now());
      const ok = await assumeRole(emu, ALICE, { RoleArn: MFA_ADMIN, SerialNumber: DEMO_MFA_SERIAL, TokenCode: code });
      assert.equal((await sts(emu, ok).send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:sts::${DEMO_ACCOUNT_ID}:assumed-role/MfaAdmin/test`);
      const reused = await stsError(assumeRole(emu, ALICE, { RoleArn: MFA_ADMIN, SerialNumber: DEMO_MFA_SERIAL, TokenCode: code }));
      assert.equal(reused.message, 'MultiFactorAuthentication failed with invalid MFA one time pass code.');
      // The previous step's code is still accepted (±1 step of drift).
      await assumeRole(emu, ALICE, { RoleArn: MFA_ADMIN, SerialNumber: DEMO_MFA_SERIAL, TokenCode: totp(DEMO_MFA_SECRET, now(), -1) });

      const wrongSerial = await stsError(
        assumeRole(emu, ALICE, { RoleArn: MFA_ADMIN, SerialNumber: `arn:aws:iam::${DEMO_ACCOUNT_ID}:mfa/nobody`, TokenCode: '123456' }),
      );
      assert.match(wrongSerial.message, /^MultiFactorAuthentication failed, unable to validate MFA code\./);
      const half = await stsError(assumeRole(emu, ALICE, { RoleArn: MFA_ADMIN, SerialNumber: DEMO_MFA_SERIAL }));
      assert.equal(half.message, 'MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.');

      // MFA'd role sessions may chain into MFA-required roles without a new code.
      const chained = await assumeRole(emu, ok, { RoleArn: MFA_ADMIN, RoleSessionName: 'chain' });
      assert.match(chained.accessKeyId, /^ASIA/);

      // GetSessionToken with MFA: the session is the user, MFA-authenticated, and can assume MfaAdmin.
      const gst = await sts(emu, ALICE).send(
        new GetSessionTokenCommand({ DurationSeconds: 3600, SerialNumber: DEMO_MFA_SERIAL, TokenCode: totp(DEMO_MFA_SECRET, now(), 1) }),
      );
      const sess: Creds = { accessKeyId: gst.Credentials!.AccessKeyId!, secretAccessKey: gst.Credentials!.SecretAccessKey!, sessionToken: gst.Credentials!.SessionToken! };
      assert.equal((await sts(emu, sess).send(new GetCallerIdentityCommand({}))).Arn, ALICE_ARN);
      // AWS's 1-hour rule holds for an MFA session too (the next test): up to an hour on top of it.
      const viaGst = await assumeRole(emu, sess, { RoleArn: MFA_ADMIN, DurationSeconds: 3600 });
      assert.ok(viaGst.expiration.getTime() - Date.now() > 3500_000);
    }));

  // The bug: the emulator capped only role sessions, so keyrole's MFA profile at 43200 s
  // (AssumeRole with its GetSessionToken MFA session) passed here and failed against AWS.
  test("AWS's 1-hour rule: AssumeRole over 3600 s is refused with temporary credentials of every kind, an MFA session's included; long-term keys get up to 43200 s", () =>
    withEmulator({}, async (emu) => {
      const now = () => emu.state.now();
      const creds = (c: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string }): Creds => ({ accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! });
      const ONE_HOUR = { name: 'ValidationError', message: 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.', status: 400 };
      const kinds: [string, Creds][] = [
        ['a GetSessionToken session', creds((await sts(emu, ALICE).send(new GetSessionTokenCommand({}))).Credentials!)],
        ['a GetSessionToken session with MFA', creds((await sts(emu, ALICE).send(new GetSessionTokenCommand({ SerialNumber: DEMO_MFA_SERIAL, TokenCode: totp(DEMO_MFA_SECRET, now()) }))).Credentials!)],
        ["a role's session", await assumeRole(emu, ALICE, { DurationSeconds: 43200 })],
      ];
      for (const [kind, c] of kinds) {
        assert.match(c.accessKeyId, /^ASIA/, kind);
        for (const d of [3601, 7200, 43200]) assert.deepEqual(await stsError(assumeRole(emu, c, { RoleArn: ADMIN, DurationSeconds: d })), ONE_HOUR, `${kind}, ${d} s`);
        const ok = await assumeRole(emu, c, { RoleArn: ADMIN, DurationSeconds: 3600 });
        assert.ok(ok.expiration.getTime() - Date.now() > 3500_000, kind);
      }
      // A federated user's credentials may not call AssumeRole at all (IAM Identity Center's are
      // covered in test/unit/sso-emulator.test.ts).
      const fed = creds((await sts(emu, ALICE).send(new GetFederationTokenCommand({ Name: 'alice', Policy: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' }))).Credentials!);
      assert.equal((await stsError(assumeRole(emu, fed, { DurationSeconds: 7200 }))).name, 'AccessDenied');
      // The long-term key with the code sent along (the way for an MFA role over an hour).
      const direct = await assumeRole(emu, ALICE, { RoleArn: MFA_ADMIN, DurationSeconds: 43200, SerialNumber: DEMO_MFA_SERIAL, TokenCode: totp(DEMO_MFA_SECRET, now(), 1) });
      assert.ok(direct.expiration.getTime() - Date.now() > 43100_000);
    }));

  test('GetSessionToken: durations, default 12 h, refused with session credentials', () =>
    withEmulator({}, async (emu) => {
      const out = await sts(emu, ALICE).send(new GetSessionTokenCommand({}));
      const left = out.Credentials!.Expiration!.getTime() - Date.now();
      assert.ok(left > 43190_000 && left <= 43200_000, `default 43200 s, got ${left}`);
      const tooLong = await stsError(sts(emu, ALICE).send(new GetSessionTokenCommand({ DurationSeconds: 129601 })));
      assert.equal(tooLong.message, "1 validation error detected: Value '129601' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 129600");
      const role = await assumeRole(emu, ALICE);
      const denied = await stsError(sts(emu, role).send(new GetSessionTokenCommand({})));
      assert.deepEqual(denied, { name: 'AccessDenied', message: 'Cannot call GetSessionToken with session credentials', status: 403 });
    }));

  test('GetFederationToken: long-term keys only, Name 2-32, 900-129600 s, a user\'s explicit deny, federation credentials call no STS action', () =>
    withEmulator({}, async (emu) => {
      const policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}';
      const out = await sts(emu, ALICE).send(new GetFederationTokenCommand({ Name: 'alice', Policy: policy, DurationSeconds: 900 }));
      assert.equal(out.FederatedUser!.Arn, `arn:aws:sts::${DEMO_ACCOUNT_ID}:federated-user/alice`);
      assert.equal(out.FederatedUser!.FederatedUserId, `${DEMO_ACCOUNT_ID}:alice`);
      const left = out.Credentials!.Expiration!.getTime() - Date.now();
      assert.ok(left > 890_000 && left <= 900_000, `900 s, got ${left}`);
      const fed = { accessKeyId: out.Credentials!.AccessKeyId!, secretAccessKey: out.Credentials!.SecretAccessKey!, sessionToken: out.Credentials!.SessionToken! };
      assert.equal((await sts(emu, fed).send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:sts::${DEMO_ACCOUNT_ID}:federated-user/alice`);
      assert.deepEqual(await stsError(sts(emu, fed).send(new AssumeRoleCommand({ RoleArn: ADMIN, RoleSessionName: 'xx' }))), { name: 'AccessDenied', message: 'Cannot call AssumeRole with federation credentials', status: 403 });
      const defaults = await sts(emu, ALICE).send(new GetFederationTokenCommand({ Name: 'bob' }));
      const dl = defaults.Credentials!.Expiration!.getTime() - Date.now();
      assert.ok(dl > 43190_000 && dl <= 43200_000, `default 43200 s, got ${dl}`);
      for (const [input, constraint] of [
        [{ Name: 'a' }, "Value 'a' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 2"],
        [{ Name: 'x'.repeat(33) }, `Value '${'x'.repeat(33)}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 32`],
        [{ Name: 'a b' }, "Value 'a b' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"],
        [{ Name: 'alice', DurationSeconds: 899 }, "Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"],
        [{ Name: 'alice', DurationSeconds: 129601 }, "Value '129601' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 129600"],
      ] as const) {
        assert.equal((await stsError(sts(emu, ALICE).send(new GetFederationTokenCommand(input)))).message, `1 validation error detected: ${constraint}`);
      }
      assert.equal((await stsError(sts(emu, ALICE).send(new GetFederationTokenCommand({ Name: 'alice', Policy: '{' })))).name, 'MalformedPolicyDocumentException');
      const session = await sts(emu, ALICE).send(new GetSessionTokenCommand({}));
      const sc = { accessKeyId: session.Credentials!.AccessKeyId!, secretAccessKey: session.Credentials!.SecretAccessKey!, sessionToken: session.Credentials!.SessionToken! };
      assert.deepEqual(await stsError(sts(emu, sc).send(new GetFederationTokenCommand({ Name: 'alice' }))), { name: 'AccessDenied', message: 'Cannot call GetFederationToken with session credentials', status: 403 });
      assert.equal((await stsError(sts(emu, await assumeRole(emu, ALICE)).send(new GetFederationTokenCommand({ Name: 'alice' })))).name, 'AccessDenied');
      const carol = await control<UserJson>(emu, 'users', { userName: 'carol', deny: ['sts:GetFederationToken'] });
      const deny = await stsError(sts(emu, carol).send(new GetFederationTokenCommand({ Name: 'carol' })));
      assert.deepEqual(deny, { name: 'AccessDenied', status: 403, message: `User: ${carol.arn} is not authorized to perform: sts:GetFederationToken on resource: arn:aws:sts::${DEMO_ACCOUNT_ID}:federated-user/carol with an explicit deny in an identity-based policy` });
    }));

  test('federation endpoint: live role, SSO-like and federation credentials only; SessionDuration rules; single-use 15-minute tokens; the stub console', () =>
    withEmulator({}, async (emu) => {
      const fedUrl = `${emu.url}/federation`;
      const signin = async (c: Creds, duration?: number) => {
        const q = new URLSearchParams({ Action: 'getSigninToken', Session: JSON.stringify({ sessionId: c.accessKeyId, sessionKey: c.secretAccessKey, sessionToken: c.sessionToken }) });
        if (duration !== undefined) q.set('SessionDuration', String(duration));
        const res = await fetch(`${fedUrl}?${q}`);
        return { status: res.status, body: await res.text() };
      };
      const token = (r: { status: number; body: string }) => { assert.equal(r.status, 200, r.body); return (JSON.parse(r.body) as { SigninToken: string }).SigninToken; };
      const role = await assumeRole(emu, ALICE);
      const t = token(await signin(role, 43200));
      assert.match(t, /^[\w-]{200,}$/);
      // GetSessionToken credentials, long-term keys, wrong secrets and expired sessions: the Knowledge Center's 400.
      const session = await sts(emu, ALICE).send(new GetSessionTokenCommand({}));
      const sc = { accessKeyId: session.Credentials!.AccessKeyId!, secretAccessKey: session.Credentials!.SecretAccessKey!, sessionToken: session.Credentials!.SessionToken! };
      for (const bad of [sc, { ...ALICE, sessionToken: 'x' }, { ...role, secretAccessKey: 'wrong' }]) {
        const r = await signin(bad);
        assert.equal(r.status, 400);
        assert.match(r.body, /<title>HTTP Status 400 - Invalid credentials parameter<\/title>/);
      }
      // A chained role and a federated user take no SessionDuration; out-of-range values are refused.
      const chained = await assumeRole(emu, role, { RoleArn: READONLY });
      token(await signin(chained));
      assert.equal((await signin(chained, 3600)).status, 400);
      const fedOut = await sts(emu, ALICE).send(new GetFederationTokenCommand({ Name: 'alice', Policy: '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' }));
      const fed = { accessKeyId: fedOut.Credentials!.AccessKeyId!, secretAccessKey: fedOut.Credentials!.SecretAccessKey!, sessionToken: fedOut.Credentials!.SessionToken! };
      const ft = token(await signin(fed));
      assert.equal((await signin(fed, 3600)).status, 400);
      for (const d of [899, 43201]) assert.match((await signin(role, d)).body, /Invalid SessionDuration parameter/);
      await control(emu, 'expire', { accessKeyId: role.accessKeyId });
      assert.equal((await signin(role)).status, 400, 'expired credentials are refused');

      // login: a console URL destination, the token once, then the stub console shows who.
      const login = (tok: string, dest = 'https://eu-west-1.console.aws.amazon.com/s3/home?region=eu-west-1') =>
        fetch(`${fedUrl}?${new URLSearchParams({ Action: 'login', Issuer: 'test', Destination: dest, SigninToken: tok })}`, { redirect: 'manual' });
      assert.equal((await login(ft, 'https://evil.example.com/')).status, 400, 'a destination off the console is refused');
      const ok = await login(ft);
      assert.equal(ok.status, 302);
      assert.match(ok.headers.get('location')!, /^\/console\/home\?destination=/);
      const page = await fetch(`${emu.url}${ok.headers.get('location')}`, { headers: { cookie: ok.headers.get('set-cookie')!.split(';')[0]! } });
      const html = await page.text();
      assert.match(html, new RegExp(`Signed in as arn:aws:sts::${DEMO_ACCOUNT_ID}:federated-user/alice`));
      assert.match(html, /Permissions: the user(&#39;|')s own/);
      assert.equal((await login(ft)).status, 400, 'a token is good once');
      assert.equal((await fetch(`${emu.url}/console/home`)).status, 401, 'no cookie, no console');
      const late = token(await signin(chained));
      await control(emu, 'signin/age-tokens', {});
      assert.equal((await login(late)).status, 400, 'a token is good for 15 minutes');
      const stats = await control<{ getSigninToken: number; login: number; refused: number }>(emu, 'signin/stats');
      assert.deepEqual([stats.getSigninToken, stats.login], [4, 1]);
    }));

  test('wire format: XML envelopes, status codes, x-amzn-RequestId and Date on every response', () =>
    withEmulator({}, async (emu) => {
      const missing = await rawRequest(emu, 'POST', '/', { 'content-type': 'application/x-www-form-urlencoded' }, 'Action=GetCallerIdentity&Version=2011-06-15');
      assert.equal(missing.status, 403);
      assert.match(missing.headers['content-type']!, /^text\/xml/);
      assert.match(missing.body, /^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">/);
      assert.equal(xmlValue(missing.body, 'Type'), 'Sender');
      assert.equal(xmlValue(missing.body, 'Code'), 'MissingAuthenticationToken');
      assert.equal(xmlValue(missing.body, 'Message'), 'Request is missing Authentication Token');
      assert.equal(xmlValue(missing.body, 'RequestId'), missing.headers['x-amzn-requestid']);
      assert.match(missing.headers.date!, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);

      const ok = await signedPost(emu, { Action: 'GetCallerIdentity', Version: '2011-06-15' });
      assert.equal(ok.status, 200);
      assert.match(ok.body, /^<GetCallerIdentityResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">\n {2}<GetCallerIdentityResult>/);
      assert.equal(xmlValue(ok.body, 'RequestId'), ok.headers['x-amzn-requestid']);
      assert.match(ok.headers['x-amzn-requestid'] as string, /^[0-9a-f-]{36}$/);

      // The Query protocol also takes GET with the parameters in the query string.
      const getSigner = new SignatureV4({ service: 'sts', region: 'eu-west-1', credentials: ALICE, sha256: NodeSha256 });
      const query = { Action: 'GetCallerIdentity', Version: '2011-06-15' };
      const signedGet = await getSigner.sign({ method: 'GET', protocol: 'http:', hostname: '127.0.0.1', path: '/', query, headers: { host: `127.0.0.1:${emu.port}` } });
      const viaGet = await rawRequest(emu, 'GET', `/?${new URLSearchParams(query)}`, signedGet.headers as Record<string, string>);
      assert.equal(viaGet.status, 200, viaGet.body);
      assert.equal(xmlValue(viaGet.body, 'Arn'), ALICE_ARN);

      const unknown = await signedPost(emu, { Action: 'GetFlightPlan', Version: '2011-06-15' });
      assert.equal(unknown.status, 400);
      assert.equal(xmlValue(unknown.body, 'Code'), 'InvalidAction');
      const noVersion = await signedPost(emu, { Action: 'GetCallerIdentity' });
      assert.equal(xmlValue(noVersion.body, 'Message'), 'Could not find operation GetCallerIdentity for version NO_VERSION_SPECIFIED');

      const wrongService = await signedPost(emu, { Action: 'GetCallerIdentity', Version: '2011-06-15' }, ALICE, { service: 'iam' });
      assert.equal(wrongService.status, 403);
      assert.equal(xmlValue(wrongService.body, 'Code'), 'SignatureDoesNotMatch');

      const tampered = await (async () => {
        const body = 'Action=GetCallerIdentity&Version=2011-06-15';
        const signer = new SignatureV4({ service: 'sts', region: 'us-east-1', credentials: ALICE, sha256: NodeSha256 });
        const headers = { host: `127.0.0.1:${emu.port}`, 'content-type': 'application/x-www-form-urlencoded' };
        const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: '/', query: {}, headers, body });
        return rawRequest(emu, 'POST', '/', signed.headers as Record<string, string>, `${body}&DurationSeconds=900`);
      })();
      assert.equal(xmlValue(tampered.body, 'Code'), 'SignatureDoesNotMatch', 'body changed after signing');

      const malformed = await rawRequest(emu, 'POST', '/', { authorization: 'AWS4-HMAC-SHA256 Credential=AKIAKEYROLEDEMO00001/20261122/us-east-1/sts/aws4_request', 'x-amz-date': '20261122T080000Z' }, 'Action=GetCallerIdentity&Version=2011-06-15');
      assert.equal(malformed.status, 400);
      assert.equal(xmlValue(malformed.body, 'Code'), 'IncompleteSignature');
    }));
});

// ---------- controls: stats, latency, faults, users/roles/mfa ----------

describe('test controls', { concurrency: true }, () => {
  test('stats count calls per action and keep request records', () =>
    withEmulator({}, async (emu) => {
      await assumeRole(emu, ALICE, { RoleArn: READONLY, DurationSeconds: 900 });
      await stsError(assumeRole(emu, ALICE, { RoleArn: READONLY, DurationSeconds: 7200 }));
      await sts(emu, ALICE).send(new GetCallerIdentityCommand({}));
      const stats = await control<StatsJson>(emu, 'stats');
      assert.deepEqual(stats.calls, { AssumeRole: 2, GetCallerIdentity: 1 });
      assert.equal(stats.requests.length, 3);
      const [first, second] = stats.requests as [StatsJson['requests'][0], StatsJson['requests'][0]];
      assert.equal(first.action, 'AssumeRole');
      assert.equal(first.accessKeyId, DEMO_ACCESS_KEY_ID);
      assert.equal(first.ok, true);
      assert.equal(first.roleArn, READONLY);
      assert.equal(first.durationSeconds, 900);
      assert.ok(!Number.isNaN(Date.parse(first.time)));
      assert.equal(second.ok, false);
      assert.equal(second.code, 'ValidationError');
      await control(emu, 'reset-stats', {});
      assert.deepEqual(await control(emu, 'stats'), { calls: {}, requests: [] });
    }));

  test('stats keep every parameter an AssumeRole carried, the MFA code only as present, and nothing for other actions', () =>
    withEmulator({}, async (emu) => {
      const code = totp(DEMO_MFA_SECRET, emu.state.now());
      await assumeRole(emu, ALICE, {
        RoleArn: MFA_ADMIN,
        RoleSessionName: 'carried',
        DurationSeconds: 1800,
        SerialNumber: DEMO_MFA_SERIAL,
        TokenCode: code,
        Policy: '{"Version":"2012-10-17","Statement":[]}',
        PolicyArns: [{ arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }],
        Tags: [{ Key: 'team', Value: 'core' }],
        TransitiveTagKeys: ['team'],
        SourceIdentity: 'alice-laptop',
      });
      await assumeRole(emu, ALICE, { RoleArn: PARTNER, ExternalId: 'keyrole-demo-external-id' });
      await sts(emu, ALICE).send(new GetCallerIdentityCommand({}));
      const stats = await control<StatsJson>(emu, 'stats');
      assert.deepEqual(stats.requests.map((r) => r.carried), [
        {
          roleArn: MFA_ADMIN, roleSessionName: 'carried', durationSeconds: '1800', serialNumber: DEMO_MFA_SERIAL, tokenCode: true,
          policy: '{"Version":"2012-10-17","Statement":[]}', policyArns: ['arn:aws:iam::aws:policy/ReadOnlyAccess'],
          tags: [{ key: 'team', value: 'core' }], transitiveTagKeys: ['team'], sourceIdentity: 'alice-laptop',
        },
        { roleArn: PARTNER, roleSessionName: 'test', externalId: 'keyrole-demo-external-id', tokenCode: false, policyArns: [], tags: [], transitiveTagKeys: [] },
        undefined,
      ]);
      assert.ok(!JSON.stringify(stats.requests[0].carried).includes(code), 'the MFA code itself is not kept');
    }));

  test('latencyMs delays every STS response (not the controls)', () =>
    withEmulator({ latencyMs: 0 }, async (emu) => {
      await control(emu, 'behaviour', { latencyMs: 300 });
      const t0 = Date.now();
      await sts(emu, ALICE).send(new GetCallerIdentityCommand({}));
      const took = Date.now() - t0;
      assert.ok(took >= 290, `took ${took} ms`);
      const t1 = Date.now();
      await control(emu, 'stats');
      assert.ok(Date.now() - t1 < 250);
    }));

  test('faults: error, throttling, reset, hang, bad XML, wrong content type; consumed in order; SDK retries through 5xx', () =>
    withEmulator({}, async (emu) => {
      await control(emu, 'behaviour', {
        faults: [
          { action: 'AssumeRole', times: 1, kind: 'error', status: 500, code: 'InternalFailure' },
          { action: 'AssumeRole', times: 1, kind: 'error', code: 'Throttling' },
          { action: 'AssumeRole', times: 1, kind: 'reset' },
          { action: 'AssumeRole', times: 1, kind: 'badxml' },
          { action: 'AssumeRole', times: 1, kind: 'wrongContentType' },
          { action: 'AssumeRole', times: 1, kind: 'hang' },
        ],
      });
      // GetCallerIdentity is not targeted and passes untouched.
      assert.equal((await sts(emu, ALICE).send(new GetCallerIdentityCommand({}))).Arn, ALICE_ARN);
      const e500 = await stsError(assumeRole(emu, ALICE));
      assert.deepEqual([e500.name, e500.status], ['InternalFailure', 500]);
      const throttled = await stsError(assumeRole(emu, ALICE));
      assert.deepEqual([throttled.name, throttled.message, throttled.status], ['Throttling', 'Rate exceeded', 400]);
      const reset = await stsError(assumeRole(emu, ALICE));
      assert.match(`${reset.name} ${reset.message}`, /ECONNRESET|socket hang up|reset/i);
      const badXml = await stsError(assumeRole(emu, ALICE));
      assert.match(badXml.message, /XML parse error|Deserialization error/);
      // A 200 text/html page (captive portal, proxy) parses to an empty result in the JS SDK:
      // no error at all, just no Credentials. Callers must check for that themselves.
      const html = await sts(emu, ALICE).send(new AssumeRoleCommand({ RoleArn: ADMIN, RoleSessionName: 'html' }));
      assert.equal(html.$metadata.httpStatusCode, 200);
      assert.equal(html.Credentials, undefined);
      const t0 = Date.now();
      const hung = await stsError(
        sts(emu, ALICE, { requestHandler: { requestTimeout: 400, throwOnRequestTimeout: true } }).send(new AssumeRoleCommand({ RoleArn: ADMIN, RoleSessionName: 'h' })),
      );
      assert.match(`${hung.name} ${hung.message}`, /timeout|timed out/i);
      assert.ok(Date.now() - t0 < 5000);
      assert.deepEqual((await control<{ faults: unknown[] }>(emu, 'behaviour')).faults, []);

      await control(emu, 'reset-stats', {});
      await control(emu, 'behaviour', { faults: [{ action: '*', times: 2, kind: 'error', status: 503, code: 'ServiceUnavailable' }] });
      const recovered = await sts(emu, ALICE, { maxAttempts: 3 }).send(new AssumeRoleCommand({ RoleArn: ADMIN, RoleSessionName: 'retry' }));
      assert.equal(recovered.$metadata.attempts, 3);
      const stats = await control<StatsJson>(emu, 'stats');
      assert.deepEqual(stats.requests.map((r) => [r.ok, r.fault ?? null]), [
        [false, 'error'],
        [false, 'error'],
        [true, null],
      ]);
    }));

  test('users, roles and MFA devices can be added at run time', () =>
    withEmulator({}, async (emu) => {
      const bob = await control<UserJson>(emu, 'users', { userName: 'bob', accountId: '444455556666' });
      assert.match(bob.accessKeyId, /^AKIA[A-Z0-9]{16}$/);
      assert.equal(bob.secretAccessKey.length, 40);
      assert.equal(bob.arn, 'arn:aws:iam::444455556666:user/bob');
      const bobCreds = { accessKeyId: bob.accessKeyId, secretAccessKey: bob.secretAccessKey };
      assert.equal((await sts(emu, bobCreds).send(new GetCallerIdentityCommand({}))).Arn, bob.arn);

      const roleArn = 'arn:aws:iam::444455556666:role/team/Deployer';
      await control(emu, 'roles', { roleArn, maxSessionDuration: 7200, requireExternalId: 'ext-123' });
      const role = await assumeRole(emu, bobCreds, { RoleArn: roleArn, ExternalId: 'ext-123', DurationSeconds: 7200 });
      // IAM paths are not part of the assumed-role ARN.
      assert.equal((await sts(emu, role).send(new GetCallerIdentityCommand({}))).Arn, 'arn:aws:sts::444455556666:assumed-role/Deployer/test');
      assert.equal((await stsError(assumeRole(emu, bobCreds, { RoleArn: roleArn, ExternalId: 'ext-123', DurationSeconds: 7201 }))).name, 'ValidationError');

      const device = await control<{ serial: string; secret: string }>(emu, 'mfa', { serial: 'arn:aws:iam::444455556666:mfa/bob' });
      assert.match(device.secret, /^[A-Z2-7]{32}$/);
      const { code } = await control<{ code: string }>(emu, 'totp', { serial: device.serial });
      assert.equal(code, totp(device.secret, emu.state.now()));
      const gst = await sts(emu, bobCreds).send(new GetSessionTokenCommand({ SerialNumber: device.serial, TokenCode: code }));
      assert.match(gst.Credentials!.AccessKeyId!, /^ASIA/);

      const bad = await fetch(`${emu.url}/_emulator/roles`, { method: 'POST', body: JSON.stringify({ roleArn: 'not-an-arn' }) });
      assert.equal(bad.status, 400);
    }));
});

// ---------- the CLI entry point ----------

test('node emulator/main.ts prints one JSON line, serves STS, exits 0 on SIGTERM', async () => {
  const child = spawn(NODE, [MAIN_TS, '--port', '0', '--log'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout });
      rl.once('line', resolve);
      child.once('exit', () => reject(new Error(`emulator exited early: ${stderr}`)));
    });
    const info = JSON.parse(line);
    assert.deepEqual(Object.keys(info).sort(), ['pid', 'port', 'url']);
    assert.equal(info.pid, child.pid);
    assert.equal(info.url, `http://127.0.0.1:${info.port}`);
    const client = new STSClient({ region: 'us-east-1', endpoint: info.url, credentials: ALICE, maxAttempts: 1 });
    assert.equal((await client.send(new GetCallerIdentityCommand({}))).Arn, ALICE_ARN);
    const role = await client.send(new AssumeRoleCommand({ RoleArn: ADMIN, RoleSessionName: 'cli' }));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(stderr, /GetCallerIdentity AKIAKEYROLEDEMO00001 200 OK/);
    // --log must never print secrets or tokens.
    assert.ok(!stderr.includes(DEMO_SECRET_ACCESS_KEY));
    assert.ok(!stderr.includes(role.Credentials!.SecretAccessKey!));
    assert.ok(!stderr.includes(role.Credentials!.SessionToken!.slice(0, 40)));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
