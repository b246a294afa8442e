// Where keyrole sends its calls: one rule for the configured endpoint of every service (STS,
// IAM, IAM Identity Center), one rule for a region's partition and hosts (checked against
// the AWS SDK's own endpoint rules), and doctor probing the endpoint `keyrole process` would use.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { STSClient } from '@aws-sdk/client-sts';
import { IAMClient } from '@aws-sdk/client-iam';
import { SSOClient } from '@aws-sdk/client-sso';
import { SSOOIDCClient, CreateTokenCommand } from '@aws-sdk/client-sso-oidc';
import { configuredEndpoint, dnsSuffix, partition, regionalStsEndpoint, resolveEndpoint } from '../../src/config/endpoints.ts';
import { iamEndpointLabel, iamRegion, resolveIamTarget } from '../../src/aws/iam.ts';
import { partitionOf } from '../../src/aws/federation.ts';
import { oidcApi, ssoEndpoints } from '../../src/sso/client.ts';
import { authorizeUrl } from '../../src/sso/authcode.ts';
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
    assert.deepEqual([e.oidc.from, e.portal.from], ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL']);
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
      assert.deepEqual([on.oidc.url, on.portal.url], ['http://oidc', 'http://portal']);
      const off = ssoEndpoints(sso({ ignore_configured_endpoint_urls: 'true' }));
      assert.deepEqual([off.oidc.url, off.portal.url], ['https://oidc.eu-west-1.amazonaws.com', 'https://portal.sso.eu-west-1.amazonaws.com']);
    });
  });

  test('the profile\'s [services] section names sso_oidc and sso', () => clean({}, () => {
    const e = ssoEndpoints(sso({ services: 'local' }));
    assert.deepEqual([e.oidc, e.portal], [{ url: 'http://svc-oidc', from: '[services local] sso_oidc.endpoint_url' }, { url: 'http://svc-portal', from: '[services local] sso.endpoint_url' }]);
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

describe('partitions and hosts: the same as the AWS SDK\'s endpoint rules', () => {
  // Every partition: its regions, its global pseudo-region, and a region it does not list yet.
  const REGIONS = [
    'us-east-1', 'eu-west-1', 'ap-southeast-7', 'mx-central-1', 'xx-new-1', 'aws-global',
    'cn-north-1', 'cn-northwest-1', 'cn-south-9', 'aws-cn-global',
    'us-gov-west-1', 'us-gov-east-1', 'aws-us-gov-global',
    'us-iso-east-1', 'us-isob-east-1', 'us-isof-south-1', 'eu-isoe-west-1', 'eusc-de-east-1',
  ];
  const VARIANTS = [{ fips: false, dual: false }, { fips: true, dual: false }, { fips: false, dual: true }, { fips: true, dual: true }];
  const href = (u: URL) => u.href.replace(/\/$/, '');
  const sts = new STSClient({ region: 'us-east-1' });
  const iam = new IAMClient({ region: 'us-east-1' });
  const portal = new SSOClient({ region: 'us-east-1' });
  const oidc = new SSOOIDCClient({ region: 'us-east-1' });

  test('China is amazonaws.com.cn, GovCloud and the rest of aws amazonaws.com', () => {
    assert.equal(dnsSuffix('cn-north-1'), 'amazonaws.com.cn');
    assert.equal(dnsSuffix('cn-northwest-1', true), 'api.amazonwebservices.com.cn');
    assert.equal(dnsSuffix('us-gov-west-1'), 'amazonaws.com');
    assert.equal(dnsSuffix('eu-west-1'), 'amazonaws.com');
    assert.equal(dnsSuffix('eu-west-1', true), 'api.aws');
    assert.deepEqual(['cn-north-1', 'aws-cn-global', 'us-gov-east-1', 'us-iso-east-1', 'eusc-de-east-1', 'xx-new-1'].map((r) => partition(r).id),
      ['aws-cn', 'aws-cn', 'aws-us-gov', 'aws-iso', 'aws-eusc', 'aws']);
  });

  test('STS: regional, FIPS, dual-stack', () => {
    for (const r of REGIONS) {
      for (const o of VARIANTS) {
        const sdk = href(sts.config.endpointProvider({ Region: r, UseFIPS: o.fips, UseDualStack: o.dual, UseGlobalEndpoint: false }).url);
        assert.equal(regionalStsEndpoint(r, o), sdk, `${r} ${JSON.stringify(o)}`);
      }
    }
  });

  test('IAM: the partition\'s endpoint and signing region', () => {
    for (const r of REGIONS) {
      const sdk = iam.config.endpointProvider({ Region: r, UseFIPS: false, UseDualStack: false });
      const signing = (sdk.properties?.authSchemes as { signingRegion: string }[])[0].signingRegion;
      const t = withEnv({}, () => resolveIamTarget(undefined, {}, r), ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_IAM']);
      assert.equal(iamEndpointLabel(t), href(sdk.url), r);
      assert.equal(iamRegion(r), signing, r);
      assert.equal(t.region, signing, r);
    }
  });

  test('IAM Identity Center: the portal and OIDC, regional, FIPS, dual-stack', () => {
    for (const r of REGIONS) {
      for (const o of VARIANTS) {
        const e = clean({ AWS_USE_FIPS_ENDPOINT: String(o.fips), AWS_USE_DUALSTACK_ENDPOINT: String(o.dual) }, () => ssoEndpoints({ ssoRegion: r }));
        assert.equal(e.portal.url, href(portal.config.endpointProvider({ Region: r, UseFIPS: o.fips, UseDualStack: o.dual }).url), `${r} ${JSON.stringify(o)}`);
        assert.equal(e.oidc.url, href(oidc.config.endpointProvider({ Region: r, UseFIPS: o.fips, UseDualStack: o.dual }).url), `${r} ${JSON.stringify(o)}`);
      }
    }
  });

  test('a cn- session signs in at the China OIDC host', () => clean({}, () => {
    const ref = { session: 'cn', startUrl: 'https://corp.awsapps.cn/start', ssoRegion: 'cn-north-1', registrationScopes: [] };
    const u = new URL(authorizeUrl(ref, { clientId: 'c', redirectUri: 'http://127.0.0.1:1/oauth/callback', state: 's', challenge: 'x' }));
    assert.equal(`${u.origin}${u.pathname}`, 'https://oidc.cn-north-1.amazonaws.com.cn/authorize');
    const e = ssoEndpoints(ref);
    assert.equal(e.portal.url, 'https://portal.sso.cn-north-1.amazonaws.com.cn');
  }));

  test('the console\'s partitions are the same', () => {
    assert.deepEqual(['eu-west-1', 'cn-northwest-1', 'us-gov-east-1'].map(partitionOf), ['aws', 'aws-cn', 'aws-us-gov']);
    for (const r of ['us-iso-east-1', 'us-isob-east-1', 'us-isof-south-1', 'eu-isoe-west-1', 'eusc-de-east-1']) assert.throws(() => partitionOf(r), { code: 'NoConsole' }, r);
  });

  test('the SDK client sends where keyrole says, even when the environment names another endpoint', async () => {
    const ref = { session: 'corp', startUrl: 'https://corp.awsapps.com/start', ssoRegion: 'eu-west-1', registrationScopes: [],
      endpointSettings: { files: files({}), profile: { ignore_configured_endpoint_urls: 'true' } } };
    // Set for the whole call: the SDK reads the variables when it sends, not when it is made.
    const saved = Object.fromEntries(ENDPOINT_VARS.map((k) => [k, process.env[k]]));
    for (const k of ENDPOINT_VARS) delete process.env[k];
    Object.assign(process.env, { AWS_ENDPOINT_URL_SSO_OIDC: 'http://127.0.0.1:1', AWS_USE_FIPS_ENDPOINT: 'true' });
    let host = '';
    try {
      const { c } = oidcApi(ref);
      c.middlewareStack.add(() => async (args) => {
        host = (args.request as { hostname: string }).hostname;
        throw new Error('stop before the network');
      }, { step: 'finalizeRequest' });
      await assert.rejects(c.send(new CreateTokenCommand({ clientId: 'a', clientSecret: 'b', grantType: 'refresh_token' })), /stop before the network/);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    // The profile ignores configured endpoints; AWS_USE_FIPS_ENDPOINT is the variable's (FIPS host).
    assert.equal(host, 'oidc-fips.eu-west-1.amazonaws.com');
  });
});
