// The system clock, checked on the way to AWS (a cache miss; never a hit).
//
// Two sources: NTP (src/clock/ntp.ts, against `keyrole_ntp_servers` / `KEYROLE_NTP_SERVERS`,
// default time.aws.com) measured before the call and bounded to NTP_BUDGET_MS, and the
// `Date` header of the AWS response itself, free with every call. Both measure
// offset = server clock - local clock (ms). The decision is made on that offset alone:
//
//   |offset| <  IN_SYNC_MS              in sync: nothing to do (offset treated as 0)
//   |offset| <= MAX_CORRECTABLE_MS      corrected: requests signed on the corrected clock,
//                                       Expiration translated into the local clock's frame
//   |offset| >  MAX_CORRECTABLE_MS      rejected: one line with the offset and the OS's fix
//
// The pure functions (classify, combine, ntpSampleFrom, dateSampleFrom,
// clockError, ...) make every decision; the rest measures and remembers. The measurement
// is remembered in <keyrole home>/clock.json so a burst of misses queries NTP once an hour.
//
// The AWS SDK corrects its own clock from the Date header of a "Signature expired" answer
// and retries, so keyrole's own request can get through a 20-minute skew. keyrole still
// fails such an offset: the credentials it would print are used by the AWS CLI, which signs
// on the local clock and would be rejected. The Date header is read on every attempt (the
// failed one too), so that case ends with the measured offset, not a bare "Signature
// expired".
//
// Wiring: a ClockHook (clockSession()) per run goes into StsTarget.clock; src/aws/sts.ts calls
// begin() before each call (the first one measures), feeds it every raw response, and
// settle()s or explain()s the outcome. Any other AWS client (SSO) can do the same.
//
// The parts: estimate.ts (the pure decisions), messages.ts (what is said), servers.ts (which
// NTP servers), memory.ts (clock.json), measure.ts and ntp.ts (NTP); this module is the
// check around the AWS calls of one run.

import { KeyroleError } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { formatDuration, signedSeconds } from '../util/duration.ts';
import { classify, combine, dateHeaderOf, dateSampleFrom, effectiveOffset, type DateSample, type Estimate, type NtpSample } from './estimate.ts';
import { clockError, describeEstimate } from './messages.ts';
import { clockConfig, OFF, serversKey, type ClockConfig } from './servers.ts';
import { memoryPath, readMemory, stampNow, stillValid, writeMemory, type ClockMemory, type RememberedNtp, type Stamp } from './memory.ts';
import { queryNtp } from './measure.ts';

/** How long an NTP answer is trusted before asking again. */
export const NTP_REMEMBER_MS = 60 * 60_000;
/** How long "NTP did not answer" is remembered, so an offline burst of misses pays once. */
export const NTP_FAILURE_REMEMBER_MS = 15 * 60_000;
/** How long a Date-header measurement is used to sign the next call. */
export const DATE_REMEMBER_MS = 60 * 60_000;

export interface ClockOptions {
  /** The run's profile's keyrole_ntp_servers (Settings.ntpServers); asked for only when NTP is due. */
  profileServers?: () => Promise<string | undefined> | string | undefined;
  /** Where the measurement is remembered (tests); default <keyrole home>/clock.json. */
  memoryPath?: string;
  env?: NodeJS.ProcessEnv;
  platform?: string;
}

/**
 * What an AWS client needs from the clock (StsTarget.clock). One per run: the first
 * begin() measures (or recalls) the offset, later ones return the current figure.
 */
export interface ClockHook {
  /** Before a call: the offset to sign with (the SDK's systemClockOffset), or a ClockWrong error. */
  begin(): Promise<number>;
  /** Every raw HTTP response (each attempt, errors included) and when it was sent and answered, local ms. */
  onResponse(response: unknown, sentAt: number, receivedAt: number, endpoint?: string): void;
  /** After a successful call: the offset to keep with its credentials, or a ClockWrong error. */
  settle(): number;
  /** After a failed call: the error, replaced by a ClockWrong error when the Date header explains it. */
  explain(err: unknown): unknown;
  /** The current estimate (for --debug and doctor); undefined before begin(). */
  estimate(): Estimate | undefined;
}

interface NtpOutcome {
  sample?: NtpSample;
  error?: string;
  remembered: boolean;
  record?: RememberedNtp;
}

function fromMemory(m: RememberedNtp): NtpOutcome {
  return m.ok && m.offsetMs !== undefined
    ? { sample: { offsetMs: m.offsetMs, rttMs: m.rttMs ?? 0, server: m.server ?? m.servers }, remembered: true, record: m }
    : { error: m.error ?? 'no answer', remembered: true, record: m };
}

async function measureNtp(cfg: ClockConfig): Promise<NtpOutcome> {
  const stamp = stampNow();
  const r = await queryNtp(cfg.servers);
  const servers = serversKey(cfg);
  if (r.ok) {
    debug(`clock: NTP server ${r.sample.server} answered in ${r.ms.toFixed(1)} ms: offset ${signedSeconds(r.sample.offsetMs)} (round trip ${r.sample.rttMs.toFixed(1)} ms)`);
    return { sample: r.sample, remembered: false, record: { ...stamp, servers, ok: true, offsetMs: r.sample.offsetMs, rttMs: r.sample.rttMs, server: r.sample.server } };
  }
  debug(`clock: could not be checked by NTP after ${r.ms.toFixed(1)} ms (${r.error}); relying on the Date header of the AWS response`);
  return { error: r.error, remembered: false, record: { ...stamp, servers, ok: false, error: r.error } };
}

const ago = (s: Stamp, now: Stamp) => formatDuration(now.at - s.at);

/**
 * The clock check for one run. Nothing happens until begin(), so creating it on a cache hit
 * costs nothing. An unreachable NTP server is never an error; a malformed
 * keyrole_ntp_servers / KEYROLE_NTP_SERVERS is.
 */
export function clockSession(o: ClockOptions = {}): ClockHook {
  const env = o.env ?? process.env;
  const path = o.memoryPath ?? memoryPath();
  let mem: ClockMemory = { v: 1 };
  let ntp: NtpOutcome | undefined;
  let current: Estimate | undefined;
  let last: { sample: DateSample; stamp: Stamp } | undefined;
  let started: Promise<void> | undefined;

  const save = () => {
    mem = { v: 1, ntp: ntp?.record ?? mem.ntp, date: last ? { ...last.stamp, ...last.sample } : mem.date };
    writeMemory(mem, path);
  };

  const measure = async () => {
    mem = readMemory(path);
    const now = stampNow();
    const off = OFF.has(env.KEYROLE_NTP?.trim().toLowerCase() ?? '');
    const cfg = clockConfig(env, !off && !env.KEYROLE_NTP_SERVERS?.trim() ? await o.profileServers?.() : undefined);
    if (!cfg.ntp) {
      debug(`clock: NTP off (${cfg.from}); using the Date header of the AWS response`);
    } else {
      const m = mem.ntp;
      if (m && m.servers === serversKey(cfg) && stillValid(m, now, m.ok ? NTP_REMEMBER_MS : NTP_FAILURE_REMEMBER_MS)) {
        ntp = fromMemory(m);
        debug(m.ok
          ? `clock: NTP offset ${signedSeconds(m.offsetMs ?? 0)} from ${m.server} remembered from ${ago(m, now)} ago`
          : `clock: could not be checked by NTP ${ago(m, now)} ago (${m.error}); not asking again for ${formatDuration(NTP_FAILURE_REMEMBER_MS)}`);
      } else {
        ntp = await measureNtp(cfg);
      }
    }
    const date: DateSample | undefined = mem.date && stillValid(mem.date, now, DATE_REMEMBER_MS) ? mem.date : undefined;
    if (date) debug(`clock: Date header offset ${signedSeconds(date.offsetMs)} remembered from ${ago(mem.date!, now)} ago`);
    let before = combine(ntp?.sample, date);
    // A remembered measurement may let a call through, never fail it: measure again first.
    if (classify(before) === 'rejected' && (ntp?.remembered || before.source === 'date')) {
      debug('clock: the remembered offset is beyond correction; measuring again');
      mem.date = undefined;
      if (cfg.ntp && ntp?.remembered) ntp = await measureNtp(cfg);
      before = combine(ntp?.sample, undefined);
    }
    if (before.note) debug(`clock: ${before.note}`);
    current = before;
    if (classify(before) === 'rejected') {
      save();
      throw clockError(before, o.platform);
    }
    if (ntp && !ntp.remembered) save();
    const signing = effectiveOffset(before);
    debug(`clock: before the call, ${describeEstimate(before)}${signing ? `; signing with systemClockOffset ${signing} ms` : ''}`);
  };

  return {
    async begin() {
      started ??= measure();
      await started;
      return current ? effectiveOffset(current) : 0;
    },
    onResponse(response, sentAt, receivedAt, endpoint) {
      const header = dateHeaderOf(response);
      const sample = dateSampleFrom(header, sentAt, receivedAt, endpoint);
      if (!sample) return;
      last = { sample, stamp: stampNow() };
      debug(`clock: Date header "${header}": offset ${signedSeconds(sample.offsetMs)} ± ${(sample.uncertaintyMs / 1000).toFixed(1)} s`);
    },
    settle() {
      const after = last ? combine(ntp?.sample, last.sample) : (current ?? combine(undefined, undefined));
      current = after;
      save();
      if (after.note) debug(`clock: ${after.note}`);
      if (classify(after) === 'rejected') throw clockError(after, o.platform);
      debug(`clock: ${describeEstimate(after)}`);
      return effectiveOffset(after);
    },
    explain(err) {
      if (!last) return err;
      const after = combine(undefined, last.sample);
      save();
      if (classify(after) === 'rejected' && err instanceof KeyroleError && err.code === 'ClockSkew') {
        current = after;
        return clockError(after, o.platform);
      }
      return err;
    },
    estimate: () => current,
  };
}
