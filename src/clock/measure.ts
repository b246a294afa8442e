// One bounded NTP measurement against the configured servers (the SNTP exchange itself is
// src/clock/ntp.ts).

import { ntpSampleFrom, type NtpSample } from './estimate.ts';
import type { NtpServer } from './servers.ts';

/** Hard bound on one NTP measurement, DNS included. */
export const NTP_BUDGET_MS = 400;

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
