// The --debug trace. It goes to stderr only (stdout is the credential_process channel),
// carries timings since start, and is given names and ids, never secrets: callers pass
// values through `redact` when in doubt.

let enabled = false;

export function enableDebug(on: boolean): void {
  enabled = on;
}

export function debug(message: string): void {
  if (!enabled) return;
  // process.uptime(), not performance.now(): the global `performance` loads perf_hooks,
  // a cost every run would pay for a trace that is usually off.
  const ms = (process.uptime() * 1000).toFixed(1).padStart(7);
  process.stderr.write(`keyrole [${ms} ms] ${message}\n`);
}

/** Shows an access key id's first and last four characters: enough to tell keys apart. */
export function redactKeyId(id: string): string {
  return id.length > 8 ? `${id.slice(0, 4)}…${id.slice(-4)}` : '…';
}
