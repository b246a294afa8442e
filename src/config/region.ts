// A region becomes part of a host name (sts.<region>.amazonaws.com, oidc.<region>.…), so it
// must be a host label, checked as the SDKs check it (isValidHostLabel): otherwise
// AWS_REGION='x@127.0.0.1:47443#' turns https://sts.<region>.amazonaws.com into a URL whose
// host is 127.0.0.1, and a signed request goes there.

import { KeyroleError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';

const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function validRegion(region: string): boolean {
  return HOST_LABEL.test(region);
}

/** The region, or a one-line failure naming where it came from. */
export function checkRegion(region: string, from: string): string {
  if (validRegion(region)) return region;
  const shown = JSON.stringify(printable(region).slice(0, 80));
  throw new KeyroleError('BadRegion', `region ${shown} (from ${from}) is not a region name`, 'set it to a region such as eu-west-1 (lower-case letters, digits and hyphens)');
}
