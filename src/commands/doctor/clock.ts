// doctor's clock check.

import { oneLine } from '../../util/errors.ts';
import { endpointLabel, type StsTarget } from '../../aws/sts.ts';
import { classify, combine, dateSampleFrom, type DateSample, type Estimate } from '../../clock/estimate.ts';
import { clockConfig } from '../../clock/servers.ts';
import { clockFix, describeOffset } from '../../clock/messages.ts';
import { queryNtp } from '../../clock/measure.ts';
import { signedSeconds } from '../../util/duration.ts';
import { stsTarget } from '../../credentials/target.ts';
import { resolveEndpoint, resolveRegion } from '../../config/endpoints.ts';
import { fromError, ok, problem, skipped, warning, type Check, type DoctorContext } from './check.ts';

/**
 * The clock check: NTP (src/clock/measure.ts, the servers keyrole itself uses) and the Date
 * header of a live request to the profile's STS endpoint, combined the way a cache miss
 * combines them (AWS's clock wins when the two disagree).
 */
export async function clockCheck(ctx: DoctorContext): Promise<Check> {
  if (!ctx.network) return skipped('clock', 'not checked (--no-network)');
  let cfg;
  let url;
  try {
    cfg = clockConfig(process.env, ctx.section?.keyrole_ntp_servers);
    url = endpointLabel(doctorStsTarget(ctx));
  } catch (err) {
    return fromError('clock', err);
  }
  const [ntp, date] = await Promise.all([
    cfg.ntp ? queryNtp(cfg.servers) : Promise.resolve(undefined),
    stsDateSample(url).catch((err: Error) => oneLine(err.message)),
  ]);
  const parts = [
    !ntp ? `NTP off (${cfg.from})` : ntp.ok ? `NTP ${ntp.sample.server} ${signedSeconds(ntp.sample.offsetMs)}` : `NTP not answering (${ntp.error})`,
    typeof date === 'string' ? `STS Date header unavailable (${date})` : `STS Date header ${signedSeconds(date.offsetMs)} ± ${(date.uncertaintyMs / 1000).toFixed(1)} s`,
  ];
  return judgeClock(combine(ntp?.ok ? ntp.sample : undefined, typeof date === 'string' ? undefined : date), parts.join('; '));
}

/**
 * The STS endpoint doctor talks to: the profile's, as `keyrole process` would use it; without
 * a profile (or one whose settings do not resolve), the same rules with no profile settings:
 * the region from AWS_REGION / AWS_DEFAULT_REGION (else us-east-1) and the configured or
 * regional endpoint (src/config/endpoints.ts). Throws a region that is not one.
 */
export function doctorStsTarget(ctx: Pick<DoctorContext, 'settings' | 'files'>): StsTarget {
  if (ctx.settings) return stsTarget(ctx.settings);
  const { region } = resolveRegion(undefined, {}, 'no profile');
  const { endpoint, from } = resolveEndpoint(ctx.files, {}, region);
  return { region, endpoint, endpointFrom: from };
}

/** A Date-header sample from any answer of the STS endpoint (an unsigned GET is enough). */
export async function stsDateSample(url: string): Promise<DateSample> {
  const sentAt = Date.now();
  const res = await fetch(url, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(4000) });
  const receivedAt = Date.now();
  await res.arrayBuffer().catch(() => undefined);
  const sample = dateSampleFrom(res.headers.get('date') ?? undefined, sentAt, receivedAt, url);
  if (!sample) throw new Error('the answer had no Date header');
  return sample;
}

/** ok under a minute off, a warning up to what AWS accepts, a problem beyond. */
export function judgeClock(e: Estimate, measured: string): Check {
  const verdict = classify(e);
  const off = Math.abs(e.offsetMs);
  const where = `${measured}${e.note ? ` (${e.note})` : ''}`;
  if (verdict === 'unchecked') return warning('clock', `could not be checked: ${where}`, 'check the network; the identity check below shows whether AWS accepts this clock');
  if (verdict === 'rejected') {
    return problem('clock', `this machine's clock is ${describeOffset(e.offsetMs)}: AWS rejects signatures more than 15 minutes off ("Signature expired" / "not yet current"), so the AWS CLI fails; ${where}`, clockFix());
  }
  if (off >= 60_000) return warning('clock', `this machine's clock is ${describeOffset(e.offsetMs)}; keyrole corrects its own requests, but the clock is drifting; ${where}`, clockFix());
  return ok('clock', `right (${where})`);
}
