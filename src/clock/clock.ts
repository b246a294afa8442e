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
// The pure functions (classify, combine, toLocalFrame, ntpSampleFrom, dateSampleFrom,
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
// Wiring: a ClockHook (clockSession()) per run goes into StsTarget.clock; sts.ts calls
// begin() before each call (the first one measures), feeds it every raw response, and
// settle()s or explain()s the outcome. Any other AWS client (SSO) can do the same.

import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { writeAtomic } from '../util/atomic.ts';
import { formatDuration } from '../util/duration.ts';
import { join } from 'node:path';
import { KeyroleError } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { keyroleHome, privateDir } from '../credentials/cache.ts';

// ---- thresholds ----

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

/** Hard bound on one NTP measurement, DNS included. */
export const NTP_BUDGET_MS = 400;
/** How long an NTP answer is trusted before asking again. */
export const NTP_REMEMBER_MS = 60 * 60_000;
/** How long "NTP did not answer" is remembered, so an offline burst of misses pays once. */
export const NTP_FAILURE_REMEMBER_MS = 15 * 60_000;
/** How long a Date-header measurement is used to sign the next call. */
export const DATE_REMEMBER_MS = 60 * 60_000;
/** A remembered measurement is dropped when wall and monotonic time disagree by more (the clock was set). */
export const CLOCK_STEP_MS = 2_000;

export const DEFAULT_NTP_SERVERS = 'time.aws.com';

// ---- pure decisions ----

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

/** A time on the server's clock (e.g. Expiration) in the local clock's frame. */
export function toLocalFrame(serverTime: Date, offsetMs: number): Date {
  return new Date(serverTime.getTime() - offsetMs);
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

/** The fields of an NTP reply that matter (ntp-packet-parser's names; Dates on the wire clocks). */
export interface NtpReply {
  leapIndicator?: number;
  mode?: number;
  stratum?: number;
  originTimestamp?: Date;
  receiveTimestamp?: Date;
  transmitTimestamp?: Date;
  destinationTimestamp?: Date;
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

export function signedSeconds(ms: number): string {
  return `${ms < 0 ? '-' : '+'}${(Math.abs(ms) / 1000).toFixed(3)} s`;
}

/** "10 min 0 s ahead" (offset < 0: the local clock is later than the server's). */
export function describeOffset(offsetMs: number): string {
  return `${formatDuration(offsetMs)} ${offsetMs < 0 ? 'ahead' : 'behind'}`;
}

/** How to set the clock right, per operating system. */
export function clockFix(platform: string = process.platform): string {
  switch (platform) {
    case 'darwin':
      return 'set the clock right: sudo sntp -sS time.apple.com, and turn on System Settings > General > Date & Time > "Set time and date automatically"';
    case 'win32':
      return 'set the clock right: w32tm /resync in an administrator prompt (or Settings > Time & language > Date & time > Sync now), and make sure the Windows Time service runs';
    case 'linux':
      return 'set the clock right: sudo timedatectl set-ntp true (systemd-timesyncd), or sudo chronyc makestep where chrony runs';
    default:
      return 'set the clock right: synchronise it with NTP (ntpd, chrony or the system settings)';
  }
}

/** The failure for a clock AWS would reject. */
export function clockError(e: Estimate, platform: string = process.platform): KeyroleError {
  return new KeyroleError(
    'ClockWrong',
    `this machine's clock is ${describeOffset(e.offsetMs)} (offset ${signedSeconds(e.offsetMs)}, measured ${e.label}); AWS rejects requests signed more than 15 minutes off, so the AWS CLI's own requests would fail too`,
    clockFix(platform),
  );
}

/** One line for --debug and doctor. */
export function describeEstimate(e: Estimate): string {
  switch (classify(e)) {
    case 'unchecked':
      return 'the clock could not be checked';
    case 'in-sync':
      return `the clock is right (offset ${signedSeconds(e.offsetMs)} ${e.label}, under ${IN_SYNC_MS / 1000} s)`;
    case 'corrected':
      return `the clock is ${describeOffset(e.offsetMs)} (offset ${signedSeconds(e.offsetMs)} ${e.label}): signing on the corrected clock and translating Expiration into the local clock's frame`;
    case 'rejected':
      return `the clock is ${describeOffset(e.offsetMs)} (offset ${signedSeconds(e.offsetMs)} ${e.label}), beyond the ${MAX_CORRECTABLE_MS / 60_000} min keyrole corrects`;
  }
}

// ---- configuration ----

export interface NtpServer {
  host: string;
  port: number;
  /** As written, for messages: host or host:port. */
  label: string;
}

export interface ClockConfig {
  ntp: boolean;
  servers: NtpServer[];
  /** Where the setting came from, for --debug. */
  from: string;
}

const OFF = new Set(['off', '0', 'false', 'no', 'none', 'disabled']);

/** `host`, `host:port`, IPv4 or a DNS name, separated by commas or spaces. */
export function parseNtpServers(raw: string, from: string): NtpServer[] {
  const out: NtpServer[] = [];
  for (const item of raw.split(/[\s,]+/).filter(Boolean)) {
    const m = /^([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?$/.exec(item);
    const port = m?.[2] === undefined ? 123 : Number(m[2]);
    if (!m || port < 1 || port > 65535) {
      throw new KeyroleError('BadNtpServers', `${from} = ${JSON.stringify(raw)}: ${JSON.stringify(item)} is not host or host:port`, 'list NTP servers as host or host:port (IPv4 or a name), separated by commas, or set KEYROLE_NTP=off');
    }
    out.push({ host: m[1], port, label: item });
  }
  if (out.length === 0) throw new KeyroleError('BadNtpServers', `${from} lists no NTP server`, `name at least one (default ${DEFAULT_NTP_SERVERS}), or set KEYROLE_NTP=off`);
  return out;
}

/** KEYROLE_NTP=off, then KEYROLE_NTP_SERVERS, then the profile's keyrole_ntp_servers, then time.aws.com. */
export function clockConfig(env: NodeJS.ProcessEnv, profileServers: string | undefined): ClockConfig {
  const off = env.KEYROLE_NTP?.trim().toLowerCase();
  if (off && OFF.has(off)) return { ntp: false, servers: [], from: `KEYROLE_NTP=${env.KEYROLE_NTP}` };
  const pick: [string, string] = env.KEYROLE_NTP_SERVERS?.trim()
    ? [env.KEYROLE_NTP_SERVERS, 'KEYROLE_NTP_SERVERS']
    : profileServers?.trim()
      ? [profileServers, 'keyrole_ntp_servers']
      : [DEFAULT_NTP_SERVERS, 'the default'];
  if (OFF.has(pick[0].trim().toLowerCase())) return { ntp: false, servers: [], from: `${pick[1]} = ${pick[0].trim()}` };
  return { ntp: true, servers: parseNtpServers(pick[0], pick[1]), from: pick[1] };
}

export function serversKey(c: ClockConfig): string {
  return c.servers.map((s) => `${s.host}:${s.port}`).join(',');
}

// ---- remembering ----

export interface Stamp {
  /** Local wall clock, ms. */
  at: number;
  /** Monotonic clock, ms (steps of the wall clock do not move it). */
  mono: number;
}

export interface RememberedNtp extends Stamp {
  servers: string;
  ok: boolean;
  offsetMs?: number;
  rttMs?: number;
  server?: string;
  error?: string;
}

export interface RememberedDate extends Stamp {
  offsetMs: number;
  uncertaintyMs: number;
  endpoint?: string;
}

export interface ClockMemory {
  v: 1;
  ntp?: RememberedNtp;
  date?: RememberedDate;
}

export function stampNow(): Stamp {
  return { at: Date.now(), mono: Number(process.hrtime.bigint() / 1_000_000n) };
}

/**
 * Whether a remembered measurement still describes this clock: younger than ttlMs, and the
 * wall clock moved as much as the monotonic one since (a set clock, a reboot or a suspend
 * makes them differ, and the measurement is taken again).
 */
export function stillValid(then: Stamp, now: Stamp, ttlMs: number): boolean {
  const wall = now.at - then.at;
  const mono = now.mono - then.mono;
  return mono >= 0 && wall >= -CLOCK_STEP_MS && wall < ttlMs && Math.abs(wall - mono) <= CLOCK_STEP_MS;
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const optStr = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The memory file's contents, or an empty memory for anything keyrole did not write whole. */
export function parseMemory(text: string): ClockMemory {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { v: 1 };
  }
  if (!v || typeof v !== 'object' || v.v !== 1) return { v: 1 };
  const out: ClockMemory = { v: 1 };
  const n = v.ntp as Record<string, unknown> | undefined;
  if (n && typeof n === 'object' && num(n.at) && num(n.mono) && typeof n.servers === 'string' && typeof n.ok === 'boolean' && (!n.ok || num(n.offsetMs))) {
    out.ntp = { at: n.at, mono: n.mono, servers: n.servers, ok: n.ok, offsetMs: num(n.offsetMs) ? n.offsetMs : undefined, rttMs: num(n.rttMs) ? n.rttMs : undefined, server: optStr(n.server), error: optStr(n.error) };
  }
  const d = v.date as Record<string, unknown> | undefined;
  if (d && typeof d === 'object' && num(d.at) && num(d.mono) && num(d.offsetMs) && num(d.uncertaintyMs)) {
    out.date = { at: d.at, mono: d.mono, offsetMs: d.offsetMs, uncertaintyMs: d.uncertaintyMs, endpoint: optStr(d.endpoint) };
  }
  return out;
}

export function memoryPath(): string {
  return join(keyroleHome(), 'clock.json');
}

/** Not a secret, but private all the same: 0600 in keyrole's 0700 directory; never a symlink. */
export function readMemory(path: string = memoryPath()): ClockMemory {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return { v: 1 };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 65_536 || (st.mode & 0o022) !== 0) return { v: 1 };
    return parseMemory(readFileSync(fd, 'utf8'));
  } catch {
    return { v: 1 };
  } finally {
    closeSync(fd);
  }
}

/** Best effort: a clock memory that cannot be written only costs an NTP query next time. */
export function writeMemory(m: ClockMemory, path: string = memoryPath()): void {
  try {
    if (path === memoryPath()) privateDir(keyroleHome());
    writeAtomic(path, JSON.stringify(m));
  } catch (err) {
    debug(`clock: could not remember the measurement in ${path} (${(err as Error).message})`);
  }
}

// ---- measuring ----

export type NtpResult = { ok: true; sample: NtpSample; ms: number } | { ok: false; error: string; ms: number };

const monoMs = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * One bounded NTP measurement: every server asked once, in parallel; the first valid reply
 * wins; nothing after budgetMs.
 *
 * Each server gets one SNTP exchange (src/clock/ntp.ts) whose timeout is what is left of the
 * budget, and whose socket is closed as soon as any answer wins, so nothing keeps the
 * process alive afterwards; names are resolved first with a c-ares resolver that is
 * cancelled at the deadline (a stuck getaddrinfo would hold the process open for seconds),
 * and a timer of our own ends the race.
 */
export async function queryNtp(servers: NtpServer[], budgetMs: number = NTP_BUDGET_MS): Promise<NtpResult> {
  const started = monoMs();
  const elapsed = () => monoMs() - started;
  if (servers.length === 0) return { ok: false, error: 'no NTP server configured', ms: 0 };
  // Loaded on a miss only: node:dgram, dns and net cost a few ms to load.
  const [{ sntp }, dns, net] = await Promise.all([import('./ntp.ts'), import('node:dns'), import('node:net')]);
  const resolver = new dns.promises.Resolver({ timeout: Math.max(50, Math.floor(budgetMs / 2)), tries: 1 });
  const remaining = () => Math.max(0, budgetMs - elapsed());

  const resolve4 = async (host: string): Promise<string> => {
    if (net.isIPv4(host)) return host;
    if (host === 'localhost') return '127.0.0.1';
    try {
      const [ip] = await resolver.resolve4(host);
      if (ip) return ip;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // DNS answered "no such name" quickly: the name may be in /etc/hosts.
      if (code !== 'ENOTFOUND' && code !== 'ENODATA') throw new Error(`DNS: ${code ?? (err as Error).message}`, { cause: err });
    }
    const { address } = await dns.promises.lookup(host, { family: 4 });
    return address;
  };

  return new Promise<NtpResult>((done) => {
    const errors: string[] = [];
    let pending = servers.length;
    let finished = false;
    const finish = (r: NtpResult) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolver.cancel();
      done(r);
    };
    const timer = setTimeout(() => {
      finish({ ok: false, error: `no answer within ${budgetMs} ms${errors.length ? ` (${errors.join('; ')})` : ''}`, ms: elapsed() });
    }, budgetMs);
    for (const s of servers) {
      (async () => {
        const ip = await resolve4(s.host);
        const left = remaining();
        if (finished || left < 1) throw new Error('out of time');
        const sentAfter = Date.now();
        const reply = await sntp(ip, s.port, Math.ceil(left));
        return ntpSampleFrom(reply, s.label, sentAfter);
      })().then(
        (r) => {
          if (typeof r === 'string') {
            errors.push(`${s.label}: ${r}`);
            if (--pending === 0) finish({ ok: false, error: errors.join('; '), ms: elapsed() });
          } else {
            finish({ ok: true, sample: r, ms: elapsed() });
          }
        },
        (err: unknown) => {
          errors.push(`${s.label}: ${(err as Error).message}`);
          if (--pending === 0) finish({ ok: false, error: errors.join('; '), ms: elapsed() });
        },
      );
    }
  });
}

// ---- the check around the AWS calls of one run ----

export interface ClockOptions {
  /** The profile's keyrole_ntp_servers; read only when NTP is due. */
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

// ---- doctor ----

export interface ClockDiagnosis {
  verdict: Verdict;
  estimate: Estimate;
  lines: string[];
  fix?: string;
}

/** A fresh NTP measurement plus the last Date header seen, for `keyrole doctor`. */
export async function diagnoseClock(profileServers?: string, env: NodeJS.ProcessEnv = process.env, path: string = memoryPath()): Promise<ClockDiagnosis> {
  const cfg = clockConfig(env, profileServers);
  const mem = readMemory(path);
  const now = stampNow();
  const lines: string[] = [];
  let ntp: NtpSample | undefined;
  if (!cfg.ntp) {
    lines.push(`NTP: off (${cfg.from})`);
  } else {
    const r = await queryNtp(cfg.servers);
    if (r.ok) {
      ntp = r.sample;
      lines.push(`NTP: ${r.sample.server} says offset ${signedSeconds(r.sample.offsetMs)} (round trip ${r.sample.rttMs.toFixed(1)} ms)`);
      writeMemory({ ...mem, ntp: { ...now, servers: serversKey(cfg), ok: true, offsetMs: r.sample.offsetMs, rttMs: r.sample.rttMs, server: r.sample.server } }, path);
    } else {
      lines.push(`NTP: the clock could not be checked (${r.error}); servers from ${cfg.from}`);
    }
  }
  const date = mem.date && stillValid(mem.date, now, 24 * 60 * 60_000) ? mem.date : undefined;
  lines.push(date
    ? `AWS Date header: offset ${signedSeconds(date.offsetMs)} ± ${(date.uncertaintyMs / 1000).toFixed(1)} s, ${ago(date, now)} ago`
    : 'AWS Date header: no recent measurement (one is taken on every call to AWS)');
  const estimate = combine(ntp, date);
  const verdict = classify(estimate);
  lines.push(describeEstimate(estimate));
  return { verdict, estimate, lines, fix: verdict === 'rejected' || verdict === 'corrected' ? clockFix() : undefined };
}
