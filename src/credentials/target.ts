// Where a profile's STS calls go and whom they trust: the one place Settings become an
// StsTarget (the region, the endpoint and where it came from, the CA bundle, the clock).

import type { StsTarget } from '../aws/sts.ts';
import type { Settings } from '../config/settings.ts';
import { clockFor } from '../clock/run.ts';

/** The target without a clock check (doctor's and console's calls, and the offset a cache entry was stored with). */
export function stsTarget(s: Settings, clockOffsetMs = 0): StsTarget {
  return { region: s.region, endpoint: s.endpoint, endpointFrom: s.endpointFrom, caBundle: s.caBundle, clockOffsetMs };
}

/** An STS target with this run's clock check (also for calls made on credentials keyrole already holds: whoami). */
export async function target(s: Settings): Promise<StsTarget> {
  return { ...stsTarget(s), clock: await clockFor(s) };
}
