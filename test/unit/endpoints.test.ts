// Where keyrole sends its calls: one rule for the configured endpoint of every service (STS,
// IAM, IAM Identity Center), and doctor probing the endpoint `keyrole process` would use.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { configuredEndpoint, resolveEndpoint } from '../../src/config/endpoints.ts';
import { resolveIamTarget } from '../../src/aws/iam.ts';
import { ssoEndpoints } from '../../src/sso/client.ts';
import { resolveSettings } from '../../src/config/settings.ts';
import { doctorStsTarget } from '../../src/commands/doctor/clock.ts';
import { endpointLabel } from '../../src/aws/sts.ts';
import type { AwsFiles } from '../../src/config/files.ts';
import { withEnv } from '../support/env.ts';

const ENDPOINT_VARS = [
  'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_STS', 'AWS_ENDPOINT_URL_IAM', 'AWS_ENDPOINT_URL_SSO', 'AWS_ENDPOINT_URL_SSO_OIDC',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'AWS_USE_FIPS_ENDPOINT', 'AWS_USE_DUALSTACK_ENDPOINT', 'AWS_STS_REGIONAL_ENDPOINTS',
  'AWS_REGION', 'AWS_DEFAULT_REGION',
];
const clean = <T>(vars: Record<string, string>, fn: () => T): T => withEnv(vars, fn, ENDPOINT_VARS);

const files = (config: AwsFiles['config']): AwsFiles => ({ configPath: '/nonexistent/config', credentialsPath: '/nonexistent/credentials', config, credentials: {} });

describe('configuredEndpoint: one order for every service', () => {
  const f = files({ 'services.local': { 'sts.endpoint_url': 'http://svc-sts', 'iam.endpoint_url': 'http://svc-iam', 'sso.endpoint_url': 'http://svc-sso', 'sso_oidc.endpoint_url': 'http://svc-oidc' } });
  const p = { services: 'local', endpoint_url: 'http://profile' };
  for (const service of ['sts', 'iam', 'sso', 'sso_oidc']) {
    const own = `AWS_ENDPOINT_URL_${service.toUpperCase()}`;
    test(`${service}: ${own}, AWS_ENDPOINT_URL, [services] ${service}.endpoint_url, endpoint_url, none`, () => {
      clean({ [own]: 'http://own', AWS_ENDPOINT_URL: 'http://all' }, () => assert.deepEqual(configuredEndpoint(f, p, service), { endpoint: 'http://own', from: own }));
      clean({ AWS_ENDPOINT_URL: 'http://all' }, () => assert.deepEqual(configuredEndpoint(f, p, service), { endpoint: 'http://all', from: 'AWS_ENDPOINT_URL' }));
      const svc = { sts: 'http://svc-sts', iam: 'http://svc-iam', sso: 'http://svc-sso', sso_oidc: 'http://svc-oidc' }[service];
      clean({}, () => assert.deepEqual(configuredEndpoint(f, p, service), { endpoint: svc, from: `[services local] ${service}.endpoint_url` }));
      clean({}, () => assert.deepEqual(configuredEndpoint(f, { endpoint_url: 'http://profile' }, service), { endpoint: 'http://profile', from: 'endpoint_url' }));
      clean({}, () => assert.equal(configuredEndpoint(f, {}, service), undefined));
      // Another service's variable is not this one's.
      clean({ AWS_ENDPOINT_URL_EC2: 'http://ec2' }, () => assert.equal(configuredEndpoint(f, {}, service), undefined));
    });
    test(`${service}: AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the profile's ignore_configured_endpoint_urls turns them all off`, () => {
      clean({ [own]: 'http://own', AWS_ENDPOINT_URL: 'http://all', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, () => assert.equal(configuredEndpoint(f, p, service), undefined));
      clean({ [own]: 'http://own', AWS_ENDPOINT_URL: 'http://all' }, () => assert.equal(configuredEndpoint(f, { ...p, ignore_configured_endpoint_urls: 'true' }, service), undefined));
      clean({ [own]: 'http://own', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'false' }, () => assert.equal(configuredEndpoint(f, p, service)?.endpoint, 'http://own'));
    });
  }

  test('STS, IAM and SSO all take it', () => clean({ AWS_ENDPOINT_URL: 'http://all' }, () => {
    assert.deepEqual(resolveEndpoint(f, {}, 'eu-west-1'), { endpoint: 'http://all', from: 'AWS_ENDPOINT_URL' });
    assert.equal(resolveIamTarget(f, {}).endpointFrom, 'AWS_ENDPOINT_URL');
    const e = ssoEndpoints({ ssoRegion: 'eu-west-1' });
    assert.deepEqual([e.oidcFrom, e.portalFrom], ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL']);
  }));
});

describe('IAM Identity Center endpoints follow the profile that uses the session', () => {
  const config = (extra: Record<string, string>) => files({
    dev: { keyrole_sso_session: 'corp', keyrole_sso_account_id: '123456789012', keyrole_sso_role_name: 'Dev', ...extra },
    'sso-session.corp': { sso_start_url: 'https://corp.awsapps.com/start', sso_region: 'eu-west-1' },
    'services.local': { 'sso_oidc.endpoint_url': 'http://svc-oidc', 'sso.endpoint_url': 'http://svc-portal' },
  });
  const sso = (extra: Record<string, string>) => resolveSettings(config(extra), 'dev', {}, 'tester').sso!;

  test('the profile\'s ignore_configured_endpoint_urls turns AWS_ENDPOINT_URL_SSO* off, as it does for STS', () => {
    clean({ AWS_ENDPOINT_URL_SSO_OIDC: 'http://oidc', AWS_ENDPOINT_URL_SSO: 'http://portal' }, () => {
      const on = ssoEndpoints(sso({}));
      assert.deepEqual([on.oidcFrom, on.portalFrom], ['AWS_ENDPOINT_URL_SSO_OIDC', 'AWS_ENDPOINT_URL_SSO']);
      const off = ssoEndpoints(sso({ ignore_configured_endpoint_urls: 'true' }));
      assert.match(off.oidcFrom, /^regional/);
      assert.match(off.portalFrom, /^regional/);
    });
  });

  test('the profile\'s [services] section names sso_oidc and sso', () => clean({}, () => {
    const e = ssoEndpoints(sso({ services: 'local' }));
    assert.deepEqual([e.oidcFrom, e.portalFrom], ['[services local] sso_oidc.endpoint_url', '[services local] sso.endpoint_url']);
  }));
});

describe('doctor probes the STS endpoint keyrole process would use', () => {
  const f = files({ p: { keyrole_source: 'alice', region: 'eu-central-1' } });

  test('with a profile: the profile\'s settings', () => clean({ AWS_REGION: 'ap-south-1' }, () => {
    const settings = resolveSettings(f, 'p', {}, 'tester');
    assert.equal(endpointLabel(doctorStsTarget({ settings, files: f })), 'https://sts.ap-south-1.amazonaws.com');
  }));

  test('without one: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1; the configured endpoint unless ignored', () => {
    const label = () => endpointLabel(doctorStsTarget({ settings: undefined, files: f }));
    clean({}, () => assert.equal(label(), 'https://sts.us-east-1.amazonaws.com'));
    clean({ AWS_DEFAULT_REGION: 'eu-west-3' }, () => assert.equal(label(), 'https://sts.eu-west-3.amazonaws.com'));
    clean({ AWS_REGION: 'cn-north-1', AWS_DEFAULT_REGION: 'eu-west-3' }, () => assert.equal(label(), 'https://sts.cn-north-1.amazonaws.com.cn'));
    clean({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }, () => assert.equal(label(), 'http://127.0.0.1:9'));
    clean({ AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:8', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }, () => assert.equal(label(), 'http://127.0.0.1:8'));
    clean({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true', AWS_REGION: 'eu-west-1' }, () => assert.equal(label(), 'https://sts.eu-west-1.amazonaws.com'));
    clean({ AWS_USE_FIPS_ENDPOINT: 'true' }, () => assert.equal(label(), 'https://sts-fips.us-east-1.amazonaws.com'));
  });

  test('a region that is no region is the check\'s one-line failure', () => clean({ AWS_REGION: 'x@127.0.0.1:1#' }, () => {
    assert.throws(() => doctorStsTarget({ settings: undefined, files: f }), { code: 'BadRegion' });
  }));
});
