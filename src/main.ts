// The executable's entry. Exit through process.exitCode so stdout is flushed to a pipe
// before the process ends.
import { run } from './cli.ts';
import { writeFileSync } from 'node:fs';

/**
 * No secret in a core dump: a SIGABRT'd keyrole once left a 594 MB core holding the
 * long-term secret seven times. Node has no setrlimit or prctl, but Linux lets a process
 * choose which of its mappings a core holds (proc(5), coredump_filter): 0 leaves them all
 * out (heap included), so a core keeps only registers and notes. First thing, before any
 * secret is read. Elsewhere, and where /proc is missing, nothing to do (docs/security.md, "Core dumps").
 */
function keepSecretsOutOfCoreDumps(): void {
  if (process.platform !== 'linux') return;
  try {
    writeFileSync('/proc/self/coredump_filter', '0');
  } catch { /* no /proc: no filter to set (and no one to tell on the hot path) */ }
}

keepSecretsOutOfCoreDumps();

/**
 * Node's own debug output (NODE_DEBUG=net, http…) prints each request's options, headers
 * included: session tokens and IAM Identity Center bearer tokens, on stderr. keyrole's trace
 * is --debug; the executable runs itself once more without NODE_DEBUG instead (a rare case,
 * so its cost does not matter). `node keyrole.cjs` is left to behave as any Node program.
 */
function rerunWithoutNodeDebug(): boolean {
  if (!process.env.NODE_DEBUG && !process.env.NODE_DEBUG_NATIVE) return false;
  const sea = process.getBuiltinModule?.('node:sea') as typeof import('node:sea') | undefined;
  if (!sea?.isSea()) return false;
  const env = { ...process.env };
  delete env.NODE_DEBUG;
  delete env.NODE_DEBUG_NATIVE;
  const { spawnSync } = process.getBuiltinModule('node:child_process') as typeof import('node:child_process');
  const r = spawnSync(process.execPath, process.argv.slice(2), { stdio: 'inherit', env });
  if (r.signal) process.kill(process.pid, r.signal);
  if (r.error) process.stderr.write(`keyrole: cannot run itself without NODE_DEBUG (${r.error.message}); unset NODE_DEBUG and retry\n`);
  process.exitCode = r.status ?? 1;
  return true;
}

if (!rerunWithoutNodeDebug()) {
  run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
