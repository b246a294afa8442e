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
  // FIPS and dual-stack, as the SDKs read them: the variable first, then the profile.
  const fipsKey = env.AWS_USE_FIPS_ENDPOINT !== undefined ? 'AWS_USE_FIPS_ENDPOINT' : profile.use_fips_endpoint !== undefined ? 'use_fips_endpoint' : undefined;
  const dualKey = env.AWS_USE_DUALSTACK_ENDPOINT !== undefined ? 'AWS_USE_DUALSTACK_ENDPOINT' : profile.use_dualstack_endpoint !== undefined ? 'use_dualstack_endpoint' : undefined;
  const fips = truthy(env.AWS_USE_FIPS_ENDPOINT ?? profile.use_fips_endpoint);
  const dual = truthy(env.AWS_USE_DUALSTACK_ENDPOINT ?? profile.use_dualstack_endpoint);
  if (fips || dual) {
    return { endpoint: regionalStsEndpoint(region, { fips, dual }), from: [fips && `${fipsKey} = true`, dual && `${dualKey} = true`].filter(Boolean).join(', ') };
  }
  const mode = (env.AWS_STS_REGIONAL_ENDPOINTS || profile.sts_regional_endpoints || 'regional').trim();
  if (mode === 'legacy' && LEGACY_GLOBAL_REGIONS.has(region)) {
    return { endpoint: 'https://sts.amazonaws.com', from: 'sts_regional_endpoints = legacy' };
  }
  return { endpoint: undefined, from: `regional (${regionalStsEndpoint(region).slice('https://'.length)})` };
}

/**
 * STS's regional endpoint, as the SDKs' endpoint rules give it: the partition's DNS suffix
 * (its dual-stack one when asked), sts-fips for FIPS (the GovCloud regions' plain endpoint
 * is already FIPS), and the global endpoint for the aws-global pseudo-region.
 */
export function regionalStsEndpoint(region: string, o: { fips?: boolean; dual?: boolean } = {}): string {
  if (region === 'aws-global' && !o.fips && !o.dual) return 'https://sts.amazonaws.com';
  const [suffix, dualSuffix] = /^cn-/.test(region) ? ['amazonaws.com.cn', 'api.amazonwebservices.com.cn']
    : /^us-isob-/.test(region) ? ['sc2s.sgov.gov', 'sc2s.sgov.gov']
    : /^us-isof-/.test(region) ? ['csp.hci.ic.gov', 'csp.hci.ic.gov']
    : /^us-iso-/.test(region) ? ['c2s.ic.gov', 'c2s.ic.gov']
    : /^eu-isoe-/.test(region) ? ['cloud.adc-e.uk', 'cloud.adc-e.uk']
    : /^eusc-/.test(region) ? ['amazonaws.eu', 'amazonaws.eu']
    : ['amazonaws.com', 'api.aws'];
  const name = o.fips && !(/^us-gov-/.test(region) && !o.dual) ? 'sts-fips' : 'sts';
  return `https://${name}.${region}.${o.dual ? dualSuffix : suffix}`;
}

// Regions that botocore's legacy mode sends to the global endpoint.
const LEGACY_GLOBAL_REGIONS = new Set([
  'ap-northeast-1', 'ap-south-1', 'ap-southeast-1', 'ap-southeast-2', 'aws-global', 'ca-central-1',
  'eu-central-1', 'eu-north-1', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'sa-east-1',
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
]);
