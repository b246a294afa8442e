// loadAwsFiles() against real files named by AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configPath, credentialsPath, loadAwsFiles, profileNames, usesKeyrole, type AwsFiles } from '../../src/config/files.ts';
import { configSections, parseIni } from '../../src/config/ini.ts';
import { resolveSettings } from '../../src/config/settings.ts';
import { shadowingKeys } from '../../src/config/checks.ts';
import { KeyroleError } from '../../src/util/errors.ts';
import { tempDir } from '../support/tmp.ts';

const VARS = ['AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'HOME', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_STS', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'AWS_STS_REGIONAL_ENDPOINTS'];

let dir: string;
const saved = new Map<string, string | undefined>();

before(() => {
  dir = tempDir('unit-config-');
  for (const k of VARS) {
    saved.set(k, process.env[k]);
    delete process.env[k];
  }
});

after(() => {
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
async function load(config: string | undefined, credentials?: string): Promise<AwsFiles> {
  n++;
  const cfg = join(dir, `config-${n}`);
  const creds = join(dir, `credentials-${n}`);
  if (config !== undefined) writeFileSync(cfg, config);
  if (credentials !== undefined) writeFileSync(creds, credentials);
  process.env.AWS_CONFIG_FILE = cfg;
  process.env.AWS_SHARED_CREDENTIALS_FILE = creds;
  return loadAwsFiles();
}

const CONFIG = `# ~/.aws/config written by hand
; another comment style
[default]
region = us-west-2

[profile prod]
region = eu-west-1   # trailing comment
credential_process = keyrole process prod
keyrole_source = alice
keyrole_role_arn = arn:aws:iam::111122223333:role/Admin
keyrole_duration_seconds = 7200
services = local-sts

[services local-sts]
sts =
  endpoint_url = http://127.0.0.1:4566

[sso-session corp]
sso_region = us-east-1
sso_start_url = https://corp.awsapps.com/start
`;

describe('loadAwsFiles', () => {
  test('honours AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE', async () => {
    const f = await load(CONFIG, '[prod]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n');
    assert.equal(f.configPath, process.env.AWS_CONFIG_FILE);
    assert.equal(f.credentialsPath, process.env.AWS_SHARED_CREDENTIALS_FILE);
    assert.equal(configPath(), f.configPath);
    assert.equal(credentialsPath(), f.credentialsPath);
  });

  test('[default], [profile x], comments and nested services sections', async () => {
    const f = await load(CONFIG);
    assert.equal(f.config.default?.region, 'us-west-2');
    assert.equal(f.config.prod?.region, 'eu-west-1');
    assert.equal(f.config.prod?.keyrole_source, 'alice');
    assert.equal(f.config.prod?.keyrole_duration_seconds, '7200');
    assert.equal(f.config['services.local-sts']?.['sts.endpoint_url'], 'http://127.0.0.1:4566');
    assert.equal(f.config['profile prod'], undefined);
    assert.ok(!Object.values(f.config).some((s) => Object.keys(s).some((k) => k.startsWith('#') || k.startsWith(';'))), 'comments are not keys');
  });

  test('resolveSettings on the loaded files: services endpoint, duration, region, shadowing from the credentials file', async () => {
    const f = await load(CONFIG, '[prod]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n');
    const s = resolveSettings(f, 'prod', {}, 'alice');
    assert.equal(s.source, 'alice');
    assert.equal(s.durationSeconds, 7200);
    assert.equal(s.region, 'eu-west-1');
    assert.equal(s.endpoint, 'http://127.0.0.1:4566');
    assert.equal(s.endpointFrom, '[services local-sts] sts.endpoint_url');
    assert.deepEqual(s.shadowing, ['aws_access_key_id (credentials file)']);
    assert.deepEqual(shadowingKeys(f, 'prod'), ['aws_access_key_id (credentials file)']);
  });

  test('CRLF line endings give the same values, with no stray \\r', async () => {
    const f = await load(CONFIG.replace(/\n/g, '\r\n'), '[prod]\r\nrole_arn = arn:aws:iam::111122223333:role/X\r\n');
    assert.equal(f.config.prod?.keyrole_source, 'alice');
    assert.equal(f.config.prod?.keyrole_role_arn, 'arn:aws:iam::111122223333:role/Admin');
    assert.equal(f.config['services.local-sts']?.['sts.endpoint_url'], 'http://127.0.0.1:4566');
    const s = resolveSettings(f, 'prod', {}, 'alice');
    assert.equal(s.durationSeconds, 7200);
    assert.equal(s.endpoint, 'http://127.0.0.1:4566');
    assert.deepEqual(s.shadowing, ['role_arn (credentials file)']);
    for (const section of [...Object.values(f.config), ...Object.values(f.credentials)]) {
      for (const [k, v] of Object.entries(section)) assert.doesNotMatch(`${k}=${v}`, /\r/);
    }
  });

  test('missing files load as empty, and an unknown profile then says the file does not exist', async () => {
    const f = await load(undefined, undefined);
    assert.deepEqual({ ...f.config }, {});
    assert.deepEqual({ ...f.credentials }, {});
    assert.throws(() => resolveSettings(f, 'prod', {}, 'alice'), (e: unknown) =>
      e instanceof KeyroleError && e.code === 'UnknownProfile' && e.message.endsWith('(the file does not exist)') && e.message.includes(f.configPath));
  });

  test('an unknown profile in an existing file names the file without "does not exist"', async () => {
    const f = await load(CONFIG);
    assert.throws(() => resolveSettings(f, 'staging', {}, 'alice'), (e: unknown) =>
      e instanceof KeyroleError && e.code === 'UnknownProfile' && e.message === `profile "staging" is not in ${f.configPath}`);
  });

  test('a [profile default] / [default] config is found as "default"', async () => {
    const f = await load('[default]\nkeyrole_source = bob\n');
    assert.equal(resolveSettings(f, 'default', {}, 'u').source, 'bob');
    const g = await load('[profile default]\nkeyrole_source = carol\n');
    assert.equal(resolveSettings(g, 'default', {}, 'u').source, 'carol');
  });

  test('without AWS_CONFIG_FILE, paths follow HOME', async () => {
    delete process.env.AWS_CONFIG_FILE;
    delete process.env.AWS_SHARED_CREDENTIALS_FILE;
    process.env.HOME = join(dir, 'home');
    assert.equal(configPath(), join(dir, 'home', '.aws', 'config'));
    assert.equal(credentialsPath(), join(dir, 'home', '.aws', 'credentials'));
    const f = await loadAwsFiles();
    assert.deepEqual({ ...f.config }, {});
  });
});

test('profileNames: the config view\'s profiles (default and dotted names included, not sso-session or services); the credentials file\'s bare sections only', () => {
  const text = '[default]\nregion = x\n[profile a.b]\nregion = x\n[sso-session s]\nsso_region = x\n[services v]\ns3 =\n  endpoint_url = http://x\n[profile c]\nregion = x\n';
  assert.deepEqual(profileNames(configSections(parseIni(text))), ['default', 'a.b', 'c']);
  assert.deepEqual(profileNames(parseIni(`[alice]\naws_access_key_id = A\n${text}`), 'credentials'), ['alice', 'default']);
});

test('usesKeyrole: a credential_process running keyrole, or any keyrole_ key', () => {
  assert.equal(usesKeyrole({ credential_process: '/usr/bin/keyrole process p' }), true);
  assert.equal(usesKeyrole({ keyrole_source: 'alice' }), true);
  assert.equal(usesKeyrole({ credential_process: 'aws-vault export p', role_arn: 'arn' }), false);
});
