// doctor's credential_process checks: the line as botocore splits and finds it, then run
// as botocore runs it.

import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, realpathSync } from 'node:fs';
import { basename, isAbsolute } from 'node:path';
import { userHome } from '../../util/home.ts';
import { ShlexError } from '../../config/shlex.ts';
import { quoteWord, resolveOnPath, splitCommandLine } from '../../util/platform.ts';
import { isFile } from '../../util/dirs.ts';
import { selfCommand } from '../../util/self.ts';
import { redactKeyId } from '../../util/debug.ts';
import { isoSeconds } from '../../credentials/blob.ts';
import { formatLeft } from '../../util/duration.ts';
import { ok, problem, skipped, warning, type Check, type DoctorContext } from './check.ts';

export interface ProcessLine {
  argv: string[];
  resolved: string;
}

/** This keyrole's own executable (the SEA binary, or the npm bundle's script). */
function selfPaths(): string[] {
  const out: string[] = [];
  for (const p of [process.execPath, process.argv[1]]) {
    if (!p) continue;
    try { out.push(realpathSync(p)); } catch { /* gone */ }
  }
  return out;
}

function findOnPath(cmd: string): string | undefined {
  return resolveOnPath(cmd, process.platform, process.env, isFile);
}

export function processLineCheck(ctx: DoctorContext): { checks: Check[]; line?: ProcessLine } {
  const name = 'process line';
  if (!ctx.section || !ctx.profile) return { checks: [skipped(name, 'no profile to check')] };
  const raw = ctx.section.credential_process;
  if (!raw) {
    return { checks: [problem(name, `profile ${ctx.profile} has no credential_process line, so the AWS CLI and SDKs never run keyrole for it`, `add credential_process = keyrole process ${ctx.profile} (keyrole configure ${ctx.profile} writes it)`)] };
  }
  let argv: string[];
  try {
    argv = splitCommandLine(raw, process.platform);
  } catch (err) {
    return { checks: [problem(name, `credential_process = ${raw} cannot be split into words the way botocore splits it (${(err as ShlexError).message})`, 'close the quotes, or remove the trailing backslash')] };
  }
  if (!argv.length) return { checks: [problem(name, 'credential_process is empty', `write credential_process = keyrole process ${ctx.profile}`)] };
  const checks: Check[] = [];
  const exe = argv[0];
  if (/^~|\$\{?\w/.test(exe) || /[|;&<>`]/.test(raw)) {
    const literal = exe.startsWith('~') ? `~ (home)` : /\$/.test(exe) ? `$VARIABLES` : 'shell syntax';
    const fixed = exe.startsWith('~') ? `${userHome()}${exe.slice(1)}` : '<the full path>';
    return { checks: [problem(name, `credential_process = ${raw} relies on ${literal}, but botocore runs it without a shell, so it is taken literally and the command is not found`, `write the full path instead: ${fixed}`)] };
  }
  const expanded = argv.slice(1).filter((a) => /^~|\$\{?\w/.test(a));
  if (expanded.length) {
    checks.push(warning(name, `arguments ${expanded.join(' ')} are passed literally by botocore (no shell expands ~ or $VAR), but expanded by the JS SDK, which uses a shell`, 'write them out in full'));
  }
  let resolved: string | undefined;
  if (isAbsolute(exe) || exe.includes('/') || exe.includes('\\')) {
    resolved = existsSync(exe) ? exe : undefined;
    if (!resolved) return { checks: [...checks, problem(name, `credential_process runs ${exe}, which does not exist`, `fix the path, or write credential_process = keyrole process ${ctx.profile} with keyrole on PATH`)] };
  } else {
    resolved = findOnPath(exe);
    if (!resolved) return { checks: [...checks, problem(name, `credential_process runs ${exe}, which is not on PATH`, `write the full command, credential_process = ${selfCommand()} process ${quoteWord(ctx.profile, process.platform)}, or put keyrole on PATH`)] };
  }
  try {
    // Windows has no execute bit (X_OK is F_OK there): what PATHEXT found is runnable.
    if (process.platform !== 'win32') accessSync(resolved, constants.X_OK);
  } catch {
    return { checks: [...checks, problem(name, `credential_process runs ${resolved}, which is not executable`, `chmod +x ${resolved}`)] };
  }
  let real = resolved;
  try { real = realpathSync(resolved); } catch { /* keep it */ }
  const self = selfPaths();
  const mentionsKeyrole = [basename(real), ...argv.slice(1, 2).map((a) => basename(a))].some((b) => /^keyrole/i.test(b));
  if (!mentionsKeyrole) {
    return { checks: [...checks, warning(name, `credential_process runs ${exe}, not keyrole`, `write credential_process = keyrole process ${ctx.profile} to use keyrole for this profile`)] };
  }
  const args = /^keyrole/i.test(basename(real)) ? argv.slice(1) : argv.slice(2);
  if (args[0] !== 'process') {
    return { checks: [...checks, problem(name, `credential_process runs keyrole ${args.join(' ')}, not keyrole process`, `write credential_process = ${exe} process ${ctx.profile}`)] };
  }
  const named = args.slice(1).find((a) => !a.startsWith('-'));
  if (named !== undefined && named !== ctx.profile) {
    checks.push(warning(name, `profile ${ctx.profile} runs keyrole process ${named}, so it gets profile ${named}'s credentials`, `write credential_process = ${exe} process ${ctx.profile}, unless that is intended`));
  }
  if (!self.includes(real)) {
    checks.push(warning(name, `credential_process runs ${real}, another keyrole than this one (${self[0] ?? process.execPath}); versions may differ`, `point it at ${self[0] ?? 'this keyrole'}, or run that keyrole's doctor`));
  }
  return { checks, line: { argv, resolved } };
}

/** Runs the line as botocore does: no shell, stdout and stderr as pipes, stdin inherited. */
export async function runProcessLine(ctx: DoctorContext, line: ProcessLine): Promise<Check> {
  const name = 'process line';
  const started = Date.now();
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string; error?: string }>((resolve) => {
    const child = spawn(line.resolved, line.argv.slice(1), { stdio: ['inherit', 'pipe', 'pipe'], env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', (err) => { clearTimeout(timer); resolve({ code: null, stdout, stderr, error: err.message }); });
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
  const ms = Date.now() - started;
  if (r.error) return problem(name, `credential_process could not be started (${r.error})`, 'check the path and permissions of the executable');
  if (r.code !== 0) {
    // keyrole's own one line already carries cause and fix: show it as botocore would.
    const first = r.stderr.split('\n').find((l) => l.trim()) ?? `exit status ${r.code}`;
    const m = /^keyrole: (.*?); ([^;]*)$/.exec(first.trim());
    return problem(name, `credential_process fails when run as botocore runs it (exit ${r.code}): ${m ? m[1] : first.trim()}`, m ? m[2] : 'run it by hand with --debug');
  }
  let blob: Record<string, unknown>;
  try {
    blob = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    return problem(name, 'credential_process printed something other than JSON (the AWS CLI says "Expecting value: line 1 column 1")', 'make sure nothing else writes to stdout (a shell profile, a wrapper script)');
  }
  if (blob.Version !== 1 || typeof blob.AccessKeyId !== 'string' || typeof blob.SecretAccessKey !== 'string') {
    return problem(name, 'credential_process printed JSON that is not credential_process output (Version 1 with AccessKeyId and SecretAccessKey)', 'point credential_process at keyrole process');
  }
  const exp = typeof blob.Expiration === 'string' ? new Date(blob.Expiration) : undefined;
  ctx.processCredentials = {
    keys: { accessKeyId: blob.AccessKeyId, secretAccessKey: blob.SecretAccessKey, sessionToken: typeof blob.SessionToken === 'string' ? blob.SessionToken : undefined },
    expiration: exp ?? new Date(NaN),
  };
  const left = exp ? exp.getTime() - ctx.now() : NaN;
  if (exp && left <= 0) return problem(name, `credential_process printed credentials that expired at ${isoSeconds(exp)} (the CLI says "still expired")`, 'run keyrole cache clear and check the clock');
  if (exp && left < 15 * 60_000) return warning(name, `credential_process works, but its credentials have only ${formatLeft(left)} left: botocore asks again on every call under 15 minutes`, 'raise keyrole_duration_seconds');
  return ok(name, `runs without a shell as botocore runs it and prints credentials (${redactKeyId(blob.AccessKeyId)}, ${exp ? `expire in ${formatLeft(left)}` : 'no expiration'}) in ${ms} ms`);
}
