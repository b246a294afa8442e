// Where an AWS Sign-In session's calls go, from the config alone (the hot path plans with
// it, so it loads nothing else): the session a profile names and the sign-in endpoint, by
// the SDK's endpoint rules for `signin` (its ruleset in @aws-sdk/nested-clients/signin;
// test/unit/login-emulator.test.ts holds these hosts against it):
// https://<region>.signin.aws.amazon.com in `aws`, the other partitions' own hosts,
// signin-fips / dual-stack variants; AWS_ENDPOINT_URL_SIGNIN, [services] signin.endpoint_url
// and endpoint_url first, as for every service (src/config/endpoints.ts configuredEndpoint).

import { configuredEndpoint, fipsDualStack, partition, type Configured } from '../config/endpoints.ts';
import { checkRegion } from '../config/region.ts';
import type { Section } from '../config/ini.ts';
import type { AwsFiles } from '../config/files.ts';

/** The login session ARN as AWS writes it into the ID token's `sub` (an IAM user, root, or an assumed role). */
export const LOGIN_SESSION_ARN = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/:-]{1,512}$/;

/** What a profile's keyrole_login_session refers to, with where its refreshes go. */
export interface LoginRef {
  /** The session's ARN (keyrole_login_session). */
  session: string;
  region: string;
  /** The sign-in endpoint (signinEndpoint) and which setting chose it. */
  endpoint: string;
  endpointFrom: string;
}

// Hosts of the partitions whose sign-in host is not <region>.signin.<dnsSuffix>.
const SIGNIN_HOSTS: Record<string, string> = {
  aws: 'signin.aws.amazon.com',
  'aws-cn': 'signin.amazonaws.cn',
  'aws-us-gov': 'signin.amazonaws-us-gov.com',
  'aws-eusc': 'signin.amazonaws-eusc.eu',
  'aws-iso': 'signin.c2shome.ic.gov',
  'aws-iso-b': 'signin.sc2shome.sgov.gov',
  'aws-iso-e': 'signin.csphome.adc-e.uk',
  'aws-iso-f': 'signin.csphome.hci.ic.gov',
};

/** The regional sign-in endpoint by the SDK's rules (no configured endpoint). */
export function regionalSigninEndpoint(region: string, o: { fips?: boolean; dual?: boolean } = {}): string {
  const p = partition(region);
  if (o.fips && o.dual) return `https://signin-fips.${region}.${p.dualStackDnsSuffix}`;
  // GovCloud's FIPS hosts are special cases in the rules: us-gov-west-1 has the partition's one host.
  if (o.fips && p.id === 'aws-us-gov') return region === 'us-gov-west-1' ? 'https://signin-fips.amazonaws-us-gov.com' : `https://${region}.signin-fips.amazonaws-us-gov.com`;
  if (o.fips) return `https://signin-fips.${region}.${p.dnsSuffix}`;
  if (o.dual) return `https://signin.${region}.${p.dualStackDnsSuffix}`;
  return `https://${region}.${SIGNIN_HOSTS[p.id] ?? `signin.${p.dnsSuffix}`}`;
}

/** The sign-in endpoint for a profile, and which setting chose it. */
export function signinEndpoint(files: AwsFiles | undefined, profile: Section, region: string): Configured {
  checkRegion(region, 'region');
  const configured = configuredEndpoint(files, profile, 'signin');
  if (configured) return { endpoint: configured.endpoint.replace(/\/+$/, ''), from: configured.from };
  const fd = fipsDualStack(profile);
  return { endpoint: regionalSigninEndpoint(region, fd), from: fd.fips || fd.dual ? fd.from : 'regional' };
}
