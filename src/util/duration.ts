// How keyrole writes a length of time for a person, everywhere: a clock offset, what is
// left on credentials or a token, a cache entry's remaining life, a sign-in code's
// countdown. One function, with the precision the place needs.

/**
 * "250 ms", "7.3 s", "20 min 3 s", "3 h 5 min", "2 d 1 h"; the sign is dropped (callers
 * say "ahead"/"behind"). `precision` says the smallest unit shown: 'ms' (the default,
 * for clock offsets), 's' (whole seconds, for a countdown) or 'min' (whole minutes, for
 * time left; under a minute the seconds).
 */
export function formatDuration(ms: number, precision: 'ms' | 's' | 'min' = 'ms'): string {
  const abs = Math.abs(ms);
  if (precision === 'ms') {
    if (abs < 1000) return `${Math.round(abs)} ms`;
    if (abs < 60_000) return `${(abs / 1000).toFixed(1)} s`;
  }
  const s = precision === 'min' && abs >= 60_000 ? Math.floor(abs / 60_000) * 60 : precision === 'min' ? Math.floor(abs / 1000) : Math.round(abs / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return precision === 'min' ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** What is left until an expiry: "expired", "40 s", "59 min", "2 h 5 min". */
export function formatLeft(ms: number): string {
  return ms <= 0 ? 'expired' : formatDuration(ms, 'min');
}

/** "+0.123 s" / "-600.000 s": an offset to the millisecond, with its sign (for --debug and doctor). */
export function signedSeconds(ms: number): string {
  return `${ms < 0 ? '-' : '+'}${(Math.abs(ms) / 1000).toFixed(3)} s`;
}
