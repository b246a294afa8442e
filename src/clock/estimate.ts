// The clock's pure decisions: the offset from an NTP reply or an HTTP Date header, one
// estimate from the two, and the verdict on it (in sync, corrected, rejected). No I/O.

import { signedSeconds } from '../util/duration.ts';
import type { NtpReply } from './ntp.ts';

/**
 * Below this the clock counts as right. NTP is good to milliseconds; the Date header has a
 * one-second resolution plus half the round trip. 5 s is far above both and far below
 * anything AWS cares about, so a healthy clock is never "corrected" by measurement noise.
 */
export const IN_SYNC_MS = 5_000;

/** STS (and SigV4 in general) rejects a request signed more than 15 minutes off. */
export const AWS_SKEW_LIMIT_MS = 15 * 60_000;

/**
 * Above this keyrole refuses. One minute under AWS's 15: the AWS CLI signs its own requests
 * on the local clock for as long as the credentials last, an unsynchronised clock keeps
 * drifting, and the measurement is remembered for an hour; within a minute of the limit
 * the user's requests are about to fail with "Signature expired", which is the error
 * keyrole exists to prevent. Failing now, with the fix, is the kinder answer.
 */
export const MAX_CORRECTABLE_MS = AWS_SKEW_LIMIT_MS - 60_000;

export type Verdict = 'unchecked' | 'in-sync' | 'corrected' | 'rejected';

export interface NtpSample {
  offsetMs: number;
  rttMs: number;
  server: string;
}

export interface DateSample {
  offsetMs: number;
  /** Half-width of the interval the true offset lies in. */
  uncertaintyMs: number;
  endpoint?: string;
}

export interface Estimate {
  /** Server clock minus local clock, ms; 0 when unchecked. */
  offsetMs: number;
  source: 'ntp' | 'date' | 'none';
  /** "against NTP server x" / "from the Date header of …": goes into messages. */
  label: string;
  /** Set when NTP and the Date header disagreed and the Date header was believed. */
  note?: string;
}

export function classify(e: Estimate): Verdict {
  if (e.source === 'none') return 'unchecked';
  const abs = Math.abs(e.offsetMs);
  if (abs < IN_SYNC_MS) return 'in-sync';
  if (abs <= MAX_CORRECTABLE_MS) return 'corrected';
  return 'rejected';
}

/** The offset keyrole acts on: signing offset and Expiration translation. 0 unless corrected. */
export function effectiveOffset(e: Estimate): number {
  const v = classify(e);
  return v === 'corrected' || v === 'rejected' ? Math.round(e.offsetMs) : 0;
}

/**
 * One estimate from the two sources. NTP is precise; the Date header is AWS's own clock,
 * the one that judges signatures. When they agree within the Date header's uncertainty,
 * NTP's figure is kept; when they do not (a wrong NTP server, a proxy's clock), AWS wins.
 */
export function combine(ntp: NtpSample | undefined, date: DateSample | undefined): Estimate {
  const dateLabel = `from the Date header of ${date?.endpoint ?? 'the AWS response'}`;
  if (ntp && date) {
    if (Math.abs(ntp.offsetMs - date.offsetMs) <= date.uncertaintyMs + 1000) {
      return { offsetMs: ntp.offsetMs, source: 'ntp', label: `against NTP server ${ntp.server}` };
    }
    return {
      offsetMs: date.offsetMs,
      source: 'date',
      label: dateLabel,
      note: `NTP server ${ntp.server} says ${signedSeconds(ntp.offsetMs)}, AWS's Date header ${signedSeconds(date.offsetMs)}: going with AWS`,
    };
  }
  if (ntp) return { offsetMs: ntp.offsetMs, source: 'ntp', label: `against NTP server ${ntp.server}` };
  if (date) return { offsetMs: date.offsetMs, source: 'date', label: dateLabel };
  return { offsetMs: 0, source: 'none', label: 'nowhere' };
}


const validDate = (d: unknown): d is Date => d instanceof Date && !isNaN(d.getTime());

/**
 * RFC 5905's on-wire offset and delay from one reply, or a reason to drop it: an
 * unsynchronised or kiss-o'-death server, a reply that is not a server reply, or one whose
 * origin is not the request this process sent (sentAfter: local ms just before sending).
 */
export function ntpSampleFrom(p: NtpReply, server: string, sentAfter: number): NtpSample | string {
  if (p.mode !== 4) return `not a server reply (mode ${p.mode})`;
  if (p.leapIndicator === 3) return 'the server is not synchronised';
  if (p.stratum === undefined || p.stratum < 1 || p.stratum > 15) return `unusable stratum ${p.stratum}`;
  const { originTimestamp: o, receiveTimestamp: r, transmitTimestamp: t, destinationTimestamp: d } = p;
  if (!validDate(o) || !validDate(r) || !validDate(t) || !validDate(d)) return 'malformed timestamps';
  const t1 = o.getTime(), t2 = r.getTime(), t3 = t.getTime(), t4 = d.getTime();
  if (t1 < sentAfter - 5 || t1 > t4 + 5) return 'the reply does not answer this request';
  const rttMs = (t4 - t1) - (t3 - t2);
  if (rttMs < -5) return 'inconsistent timestamps';
  return { offsetMs: ((t2 - t1) + (t3 - t4)) / 2, rttMs: Math.max(0, rttMs), server };
}

/**
 * The offset from an HTTP Date header (whole seconds) seen by a request sent at local
 * sentAt and answered at local receivedAt: the server stamped it somewhere in [D, D+1 s)
 * while the local clock was somewhere in [sentAt, receivedAt].
 */
export function dateSampleFrom(date: string | undefined, sentAt: number, receivedAt: number, endpoint?: string): DateSample | undefined {
  if (!date) return undefined;
  const d = Date.parse(date);
  if (isNaN(d) || receivedAt < sentAt) return undefined;
  return { offsetMs: d + 500 - (sentAt + receivedAt) / 2, uncertaintyMs: 500 + (receivedAt - sentAt) / 2, endpoint };
}

/** The Date header of a raw HTTP response from the SDK's handler (HttpResponse: headers with lower-case names). */
export function dateHeaderOf(response: unknown): string | undefined {
  const headers = (response as { headers?: Record<string, string | string[] | undefined> } | undefined)?.headers;
  if (!headers || typeof headers !== 'object') return undefined;
  const v = headers.date ?? headers.Date;
  return Array.isArray(v) ? v[0] : typeof v === 'string' ? v : undefined;
}
