// Where keyrole sends its STS calls and in which region, in the SDKs' order of precedence:
// the region (flag, AWS_REGION, AWS_DEFAULT_REGION, the profile, us-east-1) and the STS
// endpoint (flag, variables, [services], endpoint_url, FIPS/dual-stack, legacy global, the
// regional endpoint).

import { checkRegion } from './region.ts';
import type { Section } from './ini.ts';
import { section, type AwsFiles } from './files.ts';

// STS's own default signing region when nothing says otherwise (the SDKs' STS providers do the same).
export const DEFAULT_REGION = 'us-east-1';

const env = process.env;

/** A yes/no setting of the AWS tools: these spellings are yes, anything else is no. */
export function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

/** The region and where it came from, in the AWS CLI's order. `where` names the profile in `from`. */
export function resolveRegion(flag: string | undefined, profile: Section, where: string): { region: string; from: string } {
  const r = flag ? { region: flag, from: '--region' }
    : env.AWS_REGION ? { region: env.AWS_REGION, from: 'AWS_REGION' }
    : env.AWS_DEFAULT_REGION ? { region: env.AWS_DEFAULT_REGION, from: 'AWS_DEFAULT_REGION' }
    : profile.region ? { region: profile.region, from: `region in ${where}` }
    : { region: DEFAULT_REGION, from: 'default' };
  // The region becomes a host name: checked here, where every command gets it (src/config/region.ts).
  checkRegion(r.region, r.from);
  return r;
}

/** An endpoint a setting names, and which setting. */
export interface Configured { endpoint: string; from: string }

/**
 * The endpoint the settings name for one service, in the SDKs' order ("Service-specific
 * endpoints" in the AWS SDKs and Tools Reference Guide): AWS_ENDPOINT_URL_<SERVICE>,
 * AWS_ENDPOINT_URL, the profile's `[services]` section (`<service> = endpoint_url = …`), the
 * profile's endpoint_url; none of them when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the
 * profile's ignore_configured_endpoint_urls says so. `service` is the service's id as the
 * services section spells it (sts, iam, sso, sso_oidc); upper-cased, it names the variable.
 * The one rule for STS, IAM and IAM Identity Center; undefined when nothing is configured.
 */
export function configuredEndpoint(files: AwsFiles | undefined, profile: Section, service: string): Configured | undefined {
  if (truthy(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) || truthy(profile.ignore_configured_endpoint_urls)) return undefined;
  const own = `AWS_ENDPOINT_URL_${service.toUpperCase()}`;
  if (env[own]) return { endpoint: env[own], from: own };
  if (env.AWS_ENDPOINT_URL) return { endpoint: env.AWS_ENDPOINT_URL, from: 'AWS_ENDPOINT_URL' };
  const svc = profile.services && files ? section(files.config, `services.${profile.services}`)?.[`${service}.endpoint_url`] : undefined;
  if (svc) return { endpoint: svc, from: `[services ${profile.services}] ${service}.endpoint_url` };
  if (profile.endpoint_url) return { endpoint: profile.endpoint_url, from: 'endpoint_url' };
  return undefined;
}

/**
 * STS endpoint, in the SDKs' order: the flag, the configured endpoint (configuredEndpoint);
 * then FIPS/dual-stack, then the regional endpoint, unless sts_regional_endpoints = legacy
 * asks for the global one.
 */
export function resolveEndpoint(files: AwsFiles | undefined, profile: Section, region: string, flag?: string): { endpoint: string | undefined; from: string } {
  if (flag) return { endpoint: flag, from: '--endpoint-url' };
  const configured = configuredEndpoint(files, profile, 'sts');
  if (configured) return configured;
  const fd = fipsDualStack(profile);
  if (fd.fips || fd.dual) return { endpoint: regionalStsEndpoint(region, fd), from: fd.from };
  const mode = (env.AWS_STS_REGIONAL_ENDPOINTS || profile.sts_regional_endpoints || 'regional').trim();
  if (mode === 'legacy' && LEGACY_GLOBAL_REGIONS.has(region)) {
    return { endpoint: 'https://sts.amazonaws.com', from: 'sts_regional_endpoints = legacy' };
  }
  return { endpoint: undefined, from: `regional (${regionalStsEndpoint(region).slice('https://'.length)})` };
}

/** FIPS and dual-stack endpoints, as the SDKs read them: the variable first, then the profile; `from` names what asked. */
export function fipsDualStack(profile: Section): { fips: boolean; dual: boolean; from: string } {
  const fipsKey = env.AWS_USE_FIPS_ENDPOINT !== undefined ? 'AWS_USE_FIPS_ENDPOINT' : 'use_fips_endpoint';
  const dualKey = env.AWS_USE_DUALSTACK_ENDPOINT !== undefined ? 'AWS_USE_DUALSTACK_ENDPOINT' : 'use_dualstack_endpoint';
  const fips = truthy(env.AWS_USE_FIPS_ENDPOINT ?? profile.use_fips_endpoint);
  const dual = truthy(env.AWS_USE_DUALSTACK_ENDPOINT ?? profile.use_dualstack_endpoint);
  return { fips, dual, from: [fips && `${fipsKey} = true`, dual && `${dualKey} = true`].filter(Boolean).join(', ') };
}

/**
 * The partitions, as the SDKs' endpoint rules know them: copied from the AWS SDK's partition
 * table (@aws-sdk/core 3.981, dist-es/submodules/client/util-endpoints/lib/aws/partitions.js:
 * each partition's regionRegex, its global pseudo-region, dnsSuffix and dualStackDnsSuffix).
 * As the SDK's partition() does, a region none of them matches is in `aws`. So China is
 * amazonaws.com.cn (api.amazonwebservices.com.cn dual-stack), GovCloud amazonaws.com.
 * Copied, not imported, because a cache hit builds endpoints without loading the SDK;
 * test/unit/endpoints.test.ts holds every host built here against the SDK's own STS, IAM,
 * SSO and SSO-OIDC endpoint rules, so an SDK that moves a partition fails a test.
 */
const PARTITIONS: readonly (Partition & { regionRegex: RegExp; global: string | undefined })[] = [
  { id: 'aws', regionRegex: /^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$/, global: 'aws-global', dnsSuffix: 'amazonaws.com', dualStackDnsSuffix: 'api.aws' },
  { id: 'aws-cn', regionRegex: /^cn-\w+-\d+$/, global: 'aws-cn-global', dnsSuffix: 'amazonaws.com.cn', dualStackDnsSuffix: 'api.amazonwebservices.com.cn' },
  { id: 'aws-eusc', regionRegex: /^eusc-(de)-\w+-\d+$/, global: undefined, dnsSuffix: 'amazonaws.eu', dualStackDnsSuffix: 'api.amazonwebservices.eu' },
  { id: 'aws-iso', regionRegex: /^us-iso-\w+-\d+$/, global: 'aws-iso-global', dnsSuffix: 'c2s.ic.gov', dualStackDnsSuffix: 'api.aws.ic.gov' },
  { id: 'aws-iso-b', regionRegex: /^us-isob-\w+-\d+$/, global: 'aws-iso-b-global', dnsSuffix: 'sc2s.sgov.gov', dualStackDnsSuffix: 'api.aws.scloud' },
  { id: 'aws-iso-e', regionRegex: /^eu-isoe-\w+-\d+$/, global: 'aws-iso-e-global', dnsSuffix: 'cloud.adc-e.uk', dualStackDnsSuffix: 'api.cloud-aws.adc-e.uk' },
  { id: 'aws-iso-f', regionRegex: /^us-isof-\w+-\d+$/, global: 'aws-iso-f-global', dnsSuffix: 'csp.hci.ic.gov', dualStackDnsSuffix: 'api.aws.hci.ic.gov' },
  { id: 'aws-us-gov', regionRegex: /^us-gov-\w+-\d+$/, global: 'aws-us-gov-global', dnsSuffix: 'amazonaws.com', dualStackDnsSuffix: 'api.aws' },
];

export interface Partition { id: string; dnsSuffix: string; dualStackDnsSuffix: string }

/** The partition a region is in (see PARTITIONS). */
export function partition(region: string): Partition {
  return PARTITIONS.find((p) => p.global === region) ?? PARTITIONS.find((p) => p.regionRegex.test(region)) ?? PARTITIONS[0];
}

/** The DNS suffix of the region's partition (its dual-stack one when asked): amazonaws.com, amazonaws.com.cn, … */
export function dnsSuffix(region: string, dual = false): string {
  const p = partition(region);
  return dual ? p.dualStackDnsSuffix : p.dnsSuffix;
}

/**
 * A service's regional endpoint, as the SDKs' endpoint rules build it for STS, SSO-OIDC and
 * the SSO portal: <host>[-fips].<region>.<DNS suffix>, the dual-stack suffix when asked; in
 * GovCloud the plain endpoint is already FIPS, so FIPS alone keeps the plain host. `host` is
 * the service's host prefix: sts, oidc, portal.sso.
 */
export function regionalEndpoint(host: string, region: string, o: { fips?: boolean; dual?: boolean } = {}): string {
  const name = o.fips && !(partition(region).id === 'aws-us-gov' && !o.dual) ? `${host}-fips` : host;
  return `https://${name}.${region}.${dnsSuffix(region, o.dual)}`;
}

/** STS's regional endpoint (regionalEndpoint), and the global endpoint for the aws-global pseudo-region. */
export function regionalStsEndpoint(region: string, o: { fips?: boolean; dual?: boolean } = {}): string {
  if (region === 'aws-global' && !o.fips && !o.dual) return 'https://sts.amazonaws.com';
  return regionalEndpoint('sts', region, o);
}

// Regions that botocore's legacy mode sends to the global endpoint.
const LEGACY_GLOBAL_REGIONS = new Set([
  'ap-northeast-1', 'ap-south-1', 'ap-southeast-1', 'ap-southeast-2', 'aws-global', 'ca-central-1',
  'eu-central-1', 'eu-north-1', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'sa-east-1',
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
]);
