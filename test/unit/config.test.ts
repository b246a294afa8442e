// resolveSettings / resolveEndpoint / shadowingKeys / defaultSessionName on hand-built AwsFiles.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DURATION, defaultSessionName, resolveSettings, validSourceName, type Overrides, type Settings } from '../../src/config/settings.ts';
import { resolveEndpoint, regionalStsEndpoint } from '../../src/config/endpoints.ts';
import { shadowingKeys } from '../../src/config/checks.ts';
import { type AwsFiles, type Section } from '../../src/config/files.ts';
import { withEnv as withEnvVars } from '../support/env.ts';
import { storeKind } from '../../src/config/cachestore.ts';
import { throwsKeyroleError } from '../support/errors.ts';

const STS_SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const ROLE = 'arn:aws:iam::111122223333:role/Admin';

// Every variable that can change region or endpoint resolution; each test starts from none.
const AWS_VARS = [
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_STS',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_STS_REGIONAL_ENDPOINTS',
];

/** Runs fn with only `vars` of the AWS_* variables above set, then restores the environment. */
const withEnv = <T>(vars: Record<string, string>, fn: () => T): T => withEnvVars(vars, fn, [...AWS_VARS, 'KEYROLE_CACHE']);

function files(config: Record<string, Section>, credentials: Record<string, Section> = {}): AwsFiles {
  return { configPath: '/nonexistent/keyrole-unit/config', credentialsPath: '/nonexistent/keyrole-unit/credentials', config, credentials };
}

function resolve(config: Record<string, Section>, profile: string | undefined, o: Overrides = {}, env: Record<string, string> = {}, user = 'alice'): Settings {
  return withEnv(env, () => resolveSettings(files(config), profile, o, user));
}

describe('resolveSettings: keyrole_* keys and flags', () => {
  test('reads source, role and duration from the profile', () => {
    const s = resolve({ prod: { keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_duration_seconds: '7200' } }, 'prod');
    assert.equal(s.profile, 'prod');
    assert.equal(s.source, 'alice');
    assert.equal(s.roleArn, ROLE);
    assert.equal(s.durationSeconds, 7200);
    assert.deepEqual(s.shadowing, []);
  });

  test('keyrole_ntp_servers is in the settings as written (the clock check parses it when NTP is due), so the clock check does not read the config again', () => {
    assert.equal(resolve({ prod: { keyrole_source: 'alice', keyrole_ntp_servers: 'ntp.example:123, 10.0.0.1' } }, 'prod').ntpServers, 'ntp.example:123, 10.0.0.1');
    assert.equal(resolve({ prod: { keyrole_source: 'alice' } }, 'prod').ntpServers, undefined);
  });

  test('flags override every keyrole_* key', () => {
    const other = 'arn:aws:iam::444455556666:role/path/Other';
    const s = resolve(
      { prod: { keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_duration_seconds: '7200', keyrole_role_session_name: 'from-profile', region: 'eu-west-1' } },
      'prod',
      { source: 'bob', roleArn: other, duration: '1800', sessionName: 'from-flag', region: 'ap-south-1', endpointUrl: 'http://127.0.0.1:4566' },
    );
    assert.equal(s.source, 'bob');
    assert.equal(s.roleArn, other);
    assert.equal(s.durationSeconds, 1800);
    assert.equal(s.sessionName, 'from-flag');
    assert.equal(s.region, 'ap-south-1');
    assert.equal(s.regionFrom, '--region');
    assert.equal(s.endpoint, 'http://127.0.0.1:4566');
    assert.equal(s.endpointFrom, '--endpoint-url');
  });

  test('a valid --duration wins over an invalid keyrole_duration_seconds in the profile', () => {
    const s = resolve({ prod: { keyrole_source: 'alice', keyrole_duration_seconds: 'soon' } }, 'prod', { duration: '900' });
    assert.equal(s.durationSeconds, 900);
  });

  test('no profile: everything from flags', () => {
    const s = resolve({}, undefined, { source: 'alice', roleArn: ROLE });
    assert.equal(s.profile, undefined);
    assert.equal(s.source, 'alice');
    assert.deepEqual(s.shadowing, []);
  });

  test('keyrole_role_session_name from the profile is used', () => {
    assert.equal(resolve({ p: { keyrole_source: 'alice', keyrole_role_session_name: 'ci-run@42' } }, 'p').sessionName, 'ci-run@42');
  });

  test('an invalid session name is refused', () => {
    throwsKeyroleError(() => resolve({ p: { keyrole_source: 'alice' } }, 'p', { sessionName: 'has space' }), 'BadSessionName');
    throwsKeyroleError(() => resolve({ p: { keyrole_source: 'alice' } }, 'p', { sessionName: 'x' }), 'BadSessionName');
  });

  test('no role ARN is allowed (GetSessionToken)', () => {
    assert.equal(resolve({ p: { keyrole_source: 'alice' } }, 'p').roleArn, undefined);
  });
});

describe('resolveSettings: duration', () => {
  const base = { keyrole_source: 'alice' };

  test('defaults to 3600', () => {
    assert.equal(DEFAULT_DURATION, 3600);
    assert.equal(resolve({ p: base }, 'p').durationSeconds, 3600);
  });

  test('accepts the bounds 900 and 43200', () => {
    assert.equal(resolve({ p: { ...base, keyrole_duration_seconds: '900' } }, 'p').durationSeconds, 900);
    assert.equal(resolve({ p: { ...base, keyrole_duration_seconds: '43200' } }, 'p').durationSeconds, 43200);
    assert.equal(resolve({ p: base }, 'p', { duration: '43200' }).durationSeconds, 43200);
  });

  for (const bad of ['soon', '3600.5', '899', '43201', '', '-3600', '1e4', '0x0E10', '99999999999999999999999']) {
    test(`rejects keyrole_duration_seconds = ${JSON.stringify(bad)}`, () => {
      const e = throwsKeyroleError(() => resolve({ p: { ...base, keyrole_duration_seconds: bad } }, 'p'), 'BadDuration', { message: /keyrole_duration_seconds in profile p/ });
      assert.match(e.message, /900 to 43200/);
    });
    test(`rejects --duration ${JSON.stringify(bad)}`, () => {
      throwsKeyroleError(() => resolve({ p: base }, 'p', { duration: bad }), 'BadDuration', { message: /^--duration = / });
    });
  }
});

describe('resolveSettings: region precedence', () => {
  const profile = { p: { keyrole_source: 'alice', region: 'eu-west-1' } };
  const bare = { p: { keyrole_source: 'alice' } };

  test('--region beats AWS_REGION, AWS_DEFAULT_REGION and the profile', () => {
    const s = resolve(profile, 'p', { region: 'ap-south-1' }, { AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'ca-central-1' });
    assert.deepEqual([s.region, s.regionFrom], ['ap-south-1', '--region']);
  });

  test('AWS_REGION beats AWS_DEFAULT_REGION and the profile', () => {
    const s = resolve(profile, 'p', {}, { AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'ca-central-1' });
    assert.deepEqual([s.region, s.regionFrom], ['us-west-2', 'AWS_REGION']);
  });

  test('AWS_DEFAULT_REGION beats the profile', () => {
    const s = resolve(profile, 'p', {}, { AWS_DEFAULT_REGION: 'ca-central-1' });
    assert.deepEqual([s.region, s.regionFrom], ['ca-central-1', 'AWS_DEFAULT_REGION']);
  });

  test('the profile region when no flag or variable is set', () => {
    const s = resolve(profile, 'p');
    assert.deepEqual([s.region, s.regionFrom], ['eu-west-1', 'region in profile p']);
  });

  test('us-east-1 when nothing says otherwise', () => {
    const s = resolve(bare, 'p');
    assert.deepEqual([s.region, s.regionFrom], ['us-east-1', 'default']);
  });

  test('an empty AWS_REGION is ignored', () => {
    assert.equal(resolve(profile, 'p', {}, { AWS_REGION: '' }).region, 'eu-west-1');
  });

  test('the environment is restored between tests (no leak from the ones above)', () => {
    assert.equal(process.env.AWS_REGION === 'us-west-2', false);
    assert.equal(resolve(bare, 'p').region, 'us-east-1');
  });
});

describe('resolveEndpoint precedence', () => {
  const config: Record<string, Section> = {
    p: { keyrole_source: 'alice', services: 'local', endpoint_url: 'http://profile.example:1' },
    'services.local': { 'sts.endpoint_url': 'http://services.example:2' },
  };
  const ep = (env: Record<string, string>, flag?: string, cfg = config, region = 'eu-west-1') =>
    withEnv(env, () => resolveEndpoint(files(cfg), cfg.p, region, flag));
  const allEnv = { AWS_ENDPOINT_URL_STS: 'http://env-sts.example:3', AWS_ENDPOINT_URL: 'http://env-global.example:4' };

  test('flag first', () => {
    assert.deepEqual(ep(allEnv, 'http://flag.example:5'), { endpoint: 'http://flag.example:5', from: '--endpoint-url' });
  });

  test('AWS_ENDPOINT_URL_STS second', () => {
    assert.deepEqual(ep(allEnv), { endpoint: 'http://env-sts.example:3', from: 'AWS_ENDPOINT_URL_STS' });
  });

  test('AWS_ENDPOINT_URL third', () => {
    assert.deepEqual(ep({ AWS_ENDPOINT_URL: 'http://env-global.example:4' }), { endpoint: 'http://env-global.example:4', from: 'AWS_ENDPOINT_URL' });
  });

  test('[services x] sts.endpoint_url fourth', () => {
    assert.deepEqual(ep({}), { endpoint: 'http://services.example:2', from: '[services local] sts.endpoint_url' });
  });

  test('profile endpoint_url fifth', () => {
    const cfg = { p: { keyrole_source: 'alice', endpoint_url: 'http://profile.example:1' } };
    assert.deepEqual(ep({}, undefined, cfg), { endpoint: 'http://profile.example:1', from: 'endpoint_url' });
  });

  test('a services section without an sts entry falls through to endpoint_url', () => {
    const cfg = { p: { keyrole_source: 'alice', services: 'x', endpoint_url: 'http://profile.example:1' }, 'services.x': { 's3.endpoint_url': 'http://s3.example' } };
    assert.equal(ep({}, undefined, cfg).endpoint, 'http://profile.example:1');
  });

  test('regional by default', () => {
    assert.deepEqual(ep({}, undefined, { p: { keyrole_source: 'alice' } }), { endpoint: undefined, from: 'regional (sts.eu-west-1.amazonaws.com)' });
  });

  test('regional in the region\'s partition', () => {
    assert.equal(ep({}, undefined, { p: { keyrole_source: 'alice' } }, 'cn-north-1').from, 'regional (sts.cn-north-1.amazonaws.com.cn)');
    assert.equal(regionalStsEndpoint('us-gov-west-1'), 'https://sts.us-gov-west-1.amazonaws.com');
    assert.equal(regionalStsEndpoint('aws-global'), 'https://sts.amazonaws.com');
  });

  test('FIPS and dual-stack, from the environment before the profile', () => {
    const p = { p: { keyrole_source: 'alice', use_fips_endpoint: 'true' } };
    assert.deepEqual(ep({}, undefined, p), { endpoint: 'https://sts-fips.eu-west-1.amazonaws.com', from: 'use_fips_endpoint = true' });
    assert.deepEqual(ep({ AWS_USE_FIPS_ENDPOINT: 'false' }, undefined, p), { endpoint: undefined, from: 'regional (sts.eu-west-1.amazonaws.com)' });
    assert.deepEqual(ep({ AWS_USE_DUALSTACK_ENDPOINT: 'true' }, undefined, { p: { keyrole_source: 'alice' } }), { endpoint: 'https://sts.eu-west-1.api.aws', from: 'AWS_USE_DUALSTACK_ENDPOINT = true' });
    assert.equal(ep({ AWS_USE_DUALSTACK_ENDPOINT: 'true' }, undefined, p).endpoint, 'https://sts-fips.eu-west-1.api.aws');
    assert.equal(regionalStsEndpoint('us-gov-east-1', { fips: true }), 'https://sts.us-gov-east-1.amazonaws.com');
    assert.equal(regionalStsEndpoint('cn-northwest-1', { dual: true }), 'https://sts.cn-northwest-1.api.amazonwebservices.com.cn');
    // An explicit endpoint still wins.
    assert.equal(ep({ AWS_ENDPOINT_URL_STS: 'http://local:1', AWS_USE_FIPS_ENDPOINT: 'true' }).endpoint, 'http://local:1');
  });

  for (const v of ['true', 'TRUE', '1']) {
    test(`AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=${v} ignores env and config endpoints, not the flag`, () => {
      assert.equal(ep({ ...allEnv, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: v }).endpoint, undefined);
      assert.equal(ep({ ...allEnv, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: v }, 'http://flag.example:5').endpoint, 'http://flag.example:5');
    });
  }

  test('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=false changes nothing', () => {
    assert.equal(ep({ ...allEnv, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'false' }).endpoint, 'http://env-sts.example:3');
  });

  test('ignore_configured_endpoint_urls = true in the profile', () => {
    const cfg = { p: { ...config.p, ignore_configured_endpoint_urls: 'true' }, 'services.local': config['services.local'] };
    assert.equal(ep(allEnv, undefined, cfg).endpoint, undefined);
  });

  test('sts_regional_endpoints = legacy sends legacy regions to the global endpoint', () => {
    const cfg = { p: { keyrole_source: 'alice', sts_regional_endpoints: 'legacy' } };
    assert.deepEqual(ep({}, undefined, cfg, 'us-east-1'), { endpoint: 'https://sts.amazonaws.com', from: 'sts_regional_endpoints = legacy' });
    assert.equal(ep({}, undefined, cfg, 'eu-west-1').endpoint, 'https://sts.amazonaws.com');
  });

  test('sts_regional_endpoints = legacy keeps regions that were always regional', () => {
    const cfg = { p: { keyrole_source: 'alice', sts_regional_endpoints: 'legacy' } };
    assert.equal(ep({}, undefined, cfg, 'ap-east-1').endpoint, undefined);
  });

  test('AWS_STS_REGIONAL_ENDPOINTS=regional beats legacy in the profile', () => {
    const cfg = { p: { keyrole_source: 'alice', sts_regional_endpoints: 'legacy' } };
    assert.equal(ep({ AWS_STS_REGIONAL_ENDPOINTS: 'regional' }, undefined, cfg, 'us-east-1').endpoint, undefined);
    assert.equal(ep({ AWS_STS_REGIONAL_ENDPOINTS: 'legacy' }, undefined, { p: { keyrole_source: 'alice' } }, 'us-east-1').endpoint, 'https://sts.amazonaws.com');
  });

  test('a configured endpoint wins over legacy mode', () => {
    const cfg = { p: { keyrole_source: 'alice', sts_regional_endpoints: 'legacy', endpoint_url: 'http://profile.example:1' } };
    assert.equal(ep({}, undefined, cfg, 'us-east-1').endpoint, 'http://profile.example:1');
  });

  test('resolveSettings carries the endpoint and refuses one that is not http(s)', () => {
    const s = resolve(config, 'p');
    assert.deepEqual([s.endpoint, s.endpointFrom], ['http://services.example:2', '[services local] sts.endpoint_url']);
    throwsKeyroleError(() => resolve({ p: { keyrole_source: 'alice' } }, 'p', {}, { AWS_ENDPOINT_URL_STS: 'localhost:4566' }), 'BadEndpoint', { message: /AWS_ENDPOINT_URL_STS/ });
    throwsKeyroleError(() => resolve({ p: { keyrole_source: 'alice' } }, 'p', { endpointUrl: 'ftp://x' }), 'BadEndpoint', { message: /--endpoint-url/ });
  });
});

describe('resolveSettings: errors', () => {
  test('unknown profile names the file, says it does not exist, and shows the section header', () => {
    const e = throwsKeyroleError(() => resolve({ other: { keyrole_source: 'alice' } }, 'prod'), 'UnknownProfile');
    assert.equal(e.message, 'profile "prod" is not in /nonexistent/keyrole-unit/config (the file does not exist)');
    assert.match(e.fix ?? '', /\[profile prod\]/);
    assert.match(e.line(), /^keyrole: profile "prod" is not in .*; add a \[profile prod\] section/);
  });

  test('unknown default profile suggests [default]', () => {
    const e = throwsKeyroleError(() => resolve({}, 'default'), 'UnknownProfile');
    assert.match(e.fix ?? '', /\[default\] section/);
  });

  test('a profile only in the credentials file is unknown (keyrole keys live in config)', () => {
    throwsKeyroleError(() => withEnv({}, () => resolveSettings(files({}, { prod: { keyrole_source: 'alice' } }), 'prod', {}, 'alice')), 'UnknownProfile');
  });

  // Bug: resolveSettings looks the profile up with files.config[name], so a name that is a
  // member of Object.prototype finds a "profile" that is not in the file.
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    test(`regression: a profile named ${name} that is not in the file is UnknownProfile`, () => {
      throwsKeyroleError(() => resolve({ prod: { keyrole_source: 'alice' } }, name), 'UnknownProfile');
    });
  }

  test('no source', () => {
    const e = throwsKeyroleError(() => resolve({ p: { region: 'eu-west-1' } }, 'p'), 'NoSource', { message: /^profile p names no source$/ });
    assert.match(e.fix ?? '', /keyrole_source/);
  });

  test('no source, with source_profile: says why keyrole is bypassed and to rename it', () => {
    const e = throwsKeyroleError(() => resolve({ p: { source_profile: 'base', role_arn: ROLE } }, 'p'), 'NoSource');
    assert.match(e.message, /source_profile/);
    assert.match(e.message, /rename it keyrole_source/);
  });

  test('no source on the command line', () => {
    throwsKeyroleError(() => resolve({}, undefined), 'NoSource', { message: /the command line/ });
  });

  for (const src of ['has space', 'a/b', 'x'.repeat(65), 'über']) {
    test(`invalid source name ${JSON.stringify(src).slice(0, 20)}`, () => {
      throwsKeyroleError(() => resolve({ p: { keyrole_source: src } }, 'p'), 'BadSource');
      assert.equal(validSourceName(src), false);
    });
  }

  for (const arn of [
    'Admin',
    'arn:aws:iam::12345:role/Admin',
    'arn:aws:iam::111122223333:user/alice',
    'arn:aws:sts::111122223333:assumed-role/Admin/s',
    'arn:aws:iam::111122223333:role/',
    ` ${ROLE}`,
  ]) {
    test(`invalid role ARN ${JSON.stringify(arn)}`, () => {
      throwsKeyroleError(() => resolve({ p: { keyrole_source: 'alice', keyrole_role_arn: arn } }, 'p'), 'BadRoleArn', { message: /is not an IAM role ARN/ });
      throwsKeyroleError(() => resolve({ p: { keyrole_source: 'alice' } }, 'p', { roleArn: arn }), 'BadRoleArn');
    });
  }

  for (const arn of ['arn:aws:iam::111122223333:role/path/to/Admin', 'arn:aws-cn:iam::111122223333:role/R', 'arn:aws-us-gov:iam::111122223333:role/R+=,.@-_']) {
    test(`valid role ARN ${arn}`, () => {
      assert.equal(resolve({ p: { keyrole_source: 'alice', keyrole_role_arn: arn } }, 'p').roleArn, arn);
    });
  }
});

describe('shadowingKeys', () => {
  test('lists config keys that beat credential_process, in a fixed order', () => {
    const f = files({ p: { credential_process: 'keyrole process p', source_profile: 'base', role_arn: ROLE, region: 'x', sso_session: 's' } });
    assert.deepEqual(shadowingKeys(f, 'p'), ['role_arn', 'source_profile', 'sso_session']);
  });

  test('marks keys found only in the credentials file', () => {
    const f = files({ p: { keyrole_source: 'alice', role_arn: ROLE } }, { p: { aws_access_key_id: 'AKIA', aws_secret_access_key: 's', role_arn: 'x' } });
    assert.deepEqual(shadowingKeys(f, 'p'), ['role_arn', 'aws_access_key_id (credentials file)', 'aws_secret_access_key (credentials file)']);
  });

  test('covers web identity, credential_source, SSO and session tokens', () => {
    const f = files({ p: { web_identity_token_file: '/t', credential_source: 'Environment', sso_start_url: 'u', sso_account_id: '1', sso_role_name: 'r' } }, { p: { aws_session_token: 't' } });
    assert.deepEqual(shadowingKeys(f, 'p'), ['credential_source', 'web_identity_token_file', 'sso_start_url', 'sso_account_id', 'sso_role_name', 'aws_session_token (credentials file)']);
  });

  test('nothing for a clean profile or an absent one; resolveSettings reports them', () => {
    const f = files({ p: { keyrole_source: 'alice', region: 'eu-west-1' } });
    assert.deepEqual(shadowingKeys(f, 'p'), []);
    assert.deepEqual(shadowingKeys(f, 'absent'), []);
    const s = withEnv({}, () => resolveSettings(files({ p: { keyrole_source: 'alice', role_arn: ROLE } }, { p: { aws_access_key_id: 'AKIA' } }), 'p', {}, 'alice'));
    assert.deepEqual(s.shadowing, ['role_arn', 'aws_access_key_id (credentials file)']);
  });
});

describe('defaultSessionName', () => {
  const users = [
    'alice',
    'Jane Doe',
    'DOMAIN\\jane',
    'josé.garcía',
    '山田太郎',
    '👩‍💻',
    '',
    'x'.repeat(300),
    'a/b:c;d"e\'f\tg\nh',
    '   ',
  ];
  for (const user of users) {
    test(`valid for STS with user ${JSON.stringify(user).slice(0, 24)}`, () => {
      const name = defaultSessionName('alice', user);
      assert.match(name, STS_SESSION_NAME);
      assert.ok(name.startsWith('keyrole-alice'), name);
    });
  }

  test('valid with the longest source name and a long user', () => {
    const src = 'S'.repeat(64);
    assert.ok(validSourceName(src));
    assert.match(defaultSessionName(src, 'u'.repeat(64)), STS_SESSION_NAME);
  });

  test('valid even for a source name keyrole would refuse', () => {
    assert.match(defaultSessionName('a b/c', 'd e'), STS_SESSION_NAME);
  });

  test('keeps characters STS allows', () => {
    assert.equal(defaultSessionName('ops', 'j.doe+ci@example.com'), 'keyrole-ops-j.doe+ci@example.com');
  });

  test('resolveSettings uses it for an odd local user', () => {
    const s = resolve({ p: { keyrole_source: 'alice' } }, 'p', {}, {}, 'Jane Doe (Ops) ü');
    assert.match(s.sessionName, STS_SESSION_NAME);
    assert.ok(s.sessionName.startsWith('keyrole-alice-Jane_Doe'), s.sessionName);
  });
});

describe('resolveSettings: the cache store (keyrole_cache moved into Settings; docs/configuration.md gives the order)', () => {
  const cfg = (extra: Section = {}) => ({ prod: { keyrole_source: 'alice', keyrole_role_arn: ROLE, ...extra } });

  test('--cache wins over KEYROLE_CACHE and keyrole_cache', () => {
    const s = resolve(cfg({ keyrole_cache: 'keychain' }), 'prod', { cache: 'none' }, { KEYROLE_CACHE: 'file' });
    assert.deepEqual(s.cache, { value: 'none', from: '--cache' });
    assert.equal(storeKind(s.cache), 'none');
  });

  test('KEYROLE_CACHE wins over keyrole_cache', () => {
    const s = resolve(cfg({ keyrole_cache: 'none' }), 'prod', {}, { KEYROLE_CACHE: 'file' });
    assert.equal(storeKind(s.cache), 'file');
  });

  test("the profile's keyrole_cache, else the keychain", () => {
    assert.equal(storeKind(resolve(cfg({ keyrole_cache: 'file' }), 'prod').cache), 'file');
    assert.equal(storeKind(resolve(cfg(), 'prod').cache), 'keychain');
  });

  test('a bad keyrole_cache does not stop the profile resolving (remove and sso logout clear it all the same); opening its store names it', () => {
    const s = resolve(cfg({ keyrole_cache: 'disk' }), 'prod');
    throwsKeyroleError(() => storeKind(s.cache), 'BadCacheChoice', { message: /^keyrole_cache in profile prod = "disk" is not a cache store keyrole knows/ });
  });

  test('a bad --cache names the flag', () => {
    const s = resolve(cfg({ keyrole_cache: 'file' }), 'prod', { cache: 'disk' });
    throwsKeyroleError(() => storeKind(s.cache), 'BadCacheChoice', { message: /^--cache = "disk"/ });
  });
});
