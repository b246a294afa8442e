// `keyrole doctor [profile]`: the troubleshooting guides' manual checks, run for the user.
// One line per check (ok / warning / problem) and, for each problem, the fix. The exit
// status says whether a problem was found; --json gives the same for machines.
//
// Checks are ordered so none disturbs a later one: the cache is inspected before the
// credential_process line is run (which fills it), and the identity check uses the
// credentials that run printed.

import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import { homedir } from 'node:os';
import { loadAwsFiles, resolveSettings, section, shadowingKeys, type AwsFiles, type Section, type Settings } from '../config/config.ts';
import { lookup, openStore, remainingMs, fresh as isFresh } from '../credentials/cache.ts';
import { localUser, resolveCredentials, storeKindFor, localExpiration } from '../credentials/resolve.ts';
import { planProfile } from '../credentials/plan.ts';
import { getItem, listSources, readSource, storeName, SOURCE_SERVICE } from '../keychain/keychain.ts';
import { endpointLabel, getCallerIdentity, type AwsKeys, type StsTarget } from '../aws/sts.ts';
import { KeyroleError, oneLine, usageError } from '../util/errors.ts';
import { debug, redactKeyId } from '../util/debug.ts';
import { isoSeconds } from '../credentials/blob.ts';
import { shlexSplit, ShlexError } from '../config/shlex.ts';
import { classify, clockConfig, clockFix, combine, dateSampleFrom, describeOffset, queryNtp, signedSeconds, type DateSample, type Estimate } from '../clock/clock.ts';
import { parseCommand } from './args.ts';
import { formatLeft, stsTarget } from './session.ts';
import { EXEC_MARKER } from './exec.ts';

export type Status = 'ok' | 'warning' | 'problem' | 'skipped';

export interface Check {
  name: string;
  status: Status;
  message: string;
  fix?: string;
}

export interface DoctorContext {
  files: AwsFiles | undefined;
  profile: string | undefined;
  section: Section | undefined;
  settings: Settings | undefined;
  network: boolean;
  /** Credentials printed by the credential_process line, for the identity check. */
  processCredentials?: { keys: AwsKeys; expiration: Date };
  /** Set when the credential_process line is not keyrole's, or failed: identity is then checked in-process. */
  now: () => number;
}

const ok = (name: string, message: string): Check => ({ name, status: 'ok', message });
const warning = (name: string, message: string, fix?: string): Check => ({ name, status: 'warning', message, fix });
const problem = (name: string, message: string, fix?: string): Check => ({ name, status: 'problem', message, fix });
const skipped = (name: string, message: string): Check => ({ name, status: 'skipped', message });
const fromError = (name: string, err: unknown, status: Status = 'problem'): Check =>
  err instanceof KeyroleError
    ? { name, status, message: err.message, fix: err.fix }
    : { name, status, message: oneLine(String((err as Error)?.message ?? err)), fix: 'rerun with --debug and report it' };

function home(): string {
  return process.env.HOME || process.env.USERPROFILE || homedir();
}

// ---------------------------------------------------------------- clock

/**
 * The clock check: NTP (src/clock/clock.ts, the servers keyrole itself uses) and the Date
 * header of a live request to the profile's STS endpoint, combined the way a cache miss
 * combines them (AWS's clock wins when the two disagree).
 */
export async function clockCheck(ctx: DoctorContext): Promise<Check> {
  if (!ctx.network) return skipped('clock', 'not checked (--no-network)');
  let cfg;
  try {
    cfg = clockConfig(process.env, ctx.section?.keyrole_ntp_servers);
  } catch (err) {
    return fromError('clock', err);
  }
  const t: StsTarget = ctx.settings ? stsTarget(ctx.settings) : { region: 'us-east-1', endpoint: process.env.AWS_ENDPOINT_URL_STS || process.env.AWS_ENDPOINT_URL, endpointFrom: 'environment' };
  const url = endpointLabel(t);
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

// ---------------------------------------------------------------- environment

const CREDENTIAL_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN'];

function unsetCommand(vars: string[]): string {
  return process.platform === 'win32' ? vars.map((v) => `Remove-Item Env:${v}`).join('; ') : `unset ${vars.join(' ')}`;
}

export async function environmentChecks(ctx: DoctorContext): Promise<Check[]> {
  const env = process.env;
  const out: Check[] = [];
  const set = CREDENTIAL_VARS.filter((v) => env[v]);
  const inExec = env[EXEC_MARKER];
  if (set.length) {
    const exp = env.AWS_CREDENTIAL_EXPIRATION ? Date.parse(env.AWS_CREDENTIAL_EXPIRATION) : NaN;
    let expired = !isNaN(exp) && exp <= ctx.now();
    let live = '';
    if (ctx.network && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
      try {
        const id = await getCallerIdentity({ accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN || env.AWS_SECURITY_TOKEN }, ctx.settings ? stsTarget(ctx.settings) : { region: 'us-east-1', endpoint: env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL, endpointFrom: 'environment' });
        live = `; they are ${id.arn}`;
      } catch (err) {
        const code = err instanceof KeyroleError ? err.code : '';
        if (code === 'ExpiredToken') expired = true;
        else if (code === 'InvalidClientTokenId' || code === 'SignatureDoesNotMatch') live = '; STS does not accept them';
      }
    }
    const what = `${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set`;
    if (inExec) {
      out.push(expired
        ? problem('environment', `inside keyrole exec for profile ${inExec}, and its environment variables hold expired credentials${!isNaN(exp) ? ` (expired ${isoSeconds(new Date(exp))})` : ''}`, 'leave this shell (exit) and run keyrole exec again')
        : warning('environment', `inside keyrole exec for profile ${inExec}: ${what} and every AWS command here uses them${!isNaN(exp) ? `, until ${isoSeconds(new Date(exp))} (in ${formatLeft(exp - ctx.now())})` : ''}`, 'exit this shell to use profiles again'));
    } else if (expired) {
      out.push(problem('environment', `environment variables hold expired credentials (${what}${!isNaN(exp) ? `, expired ${isoSeconds(new Date(exp))}` : ''}): the AWS CLI and SDKs use them before any profile, so every command fails with ExpiredToken and keyrole is never run`, unsetCommand(set)));
    } else {
      out.push(problem('environment', `${what}: the AWS CLI and SDKs use them before any profile${ctx.profile ? `, so profile ${ctx.profile}'s credential_process is never run` : ''}${env.AWS_SESSION_TOKEN ? ', and these temporary credentials fail with ExpiredToken once they expire' : ''}${live}`, unsetCommand(set)));
    }
  } else {
    out.push(ok('environment', 'no AWS credentials in the environment'));
  }

  for (const v of ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE']) {
    const p = env[v];
    if (!p) continue;
    if (ctx.files && !section(ctx.files.config, p)) {
      out.push(problem('environment', `${v}=${p} names a profile that is not in ${ctx.files.configPath}: every AWS command without --profile fails (ProfileNotFound)`, `${unsetCommand([v])}, or add [profile ${p}]`));
    } else if (ctx.profile && p !== ctx.profile) {
      out.push(warning('environment', `${v}=${p}: AWS commands without --profile use profile ${p}, not ${ctx.profile}`, `pass --profile ${ctx.profile}, or export ${v}=${ctx.profile}`));
    }
  }
  return out;
}

// ---------------------------------------------------------------- config and profile

export function configChecks(ctx: DoctorContext, settingsError: unknown): Check[] {
  const files = ctx.files!;
  if (!ctx.profile) {
    const mine = keyroleProfiles(files);
    return [warning('profile', `no profile given${mine.length ? `; keyrole profiles in ${files.configPath}: ${mine.join(', ')}` : ` and ${files.configPath} has no keyrole profile`}`, mine.length ? `run keyrole doctor <profile>` : 'create one with keyrole configure <profile>')];
  }
  if (!ctx.section) {
    const where = existsSync(files.configPath) ? files.configPath : `${files.configPath} (the file does not exist)`;
    return [problem('profile', `profile "${ctx.profile}" is not in ${where}`, `create it with keyrole configure ${ctx.profile}, or check AWS_CONFIG_FILE`)];
  }
  const out: Check[] = [];
  if (settingsError) out.push(fromError('profile', settingsError));
  else out.push(ok('profile', `${ctx.profile} in ${files.configPath}: ${describeSettings(ctx.settings!)}`));

  const shadow = shadowingKeys(files, ctx.profile);
  if (shadow.length) {
    const header = ctx.profile === 'default' ? '[default]' : `[profile ${ctx.profile}]`;
    out.push(problem('profile keys', `${header} also sets ${shadow.join(', ')}: the AWS CLI and SDKs use ${shadow.length === 1 ? 'it' : 'them'} before credential_process, so keyrole is never run for this profile`,
      `remove ${shadow.length === 1 ? 'that line' : 'those lines'} (keyrole_role_arn, keyrole_source_profile and keyrole_sso_* replace role_arn, source_profile and sso_*) from ${files.configPath}${shadow.some((k) => k.includes('credentials file')) ? ` and ${files.credentialsPath}` : ''}`));
  } else {
    out.push(ok('profile keys', 'nothing in the profile takes precedence over credential_process'));
  }
  return out;
}

function describeSettings(s: Settings): string {
  const role = s.roleArn ? `role ${s.roleArn}` : 'no role (GetSessionToken)';
  return `source ${s.source}, ${role}, ${s.durationSeconds} s, region ${s.region}`;
}

export function keyroleProfiles(files: AwsFiles): string[] {
  return Object.entries(files.config)
    .filter(([name, sec]) => !name.includes('.') && (/keyrole/.test(sec.credential_process ?? '') || Object.keys(sec).some((k) => k.startsWith('keyrole_'))))
    .map(([name]) => name);
}

// ---------------------------------------------------------------- credential_process line

interface ProcessLine {
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
  const exts = process.platform === 'win32' ? (process.env.PATHEXT || '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of (process.env.PATH || '').split(delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = join(dir, cmd + ext);
      try {
        if (statSync(p).isFile()) return p;
      } catch { /* not here */ }
    }
  }
  return undefined;
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
    argv = shlexSplit(raw);
  } catch (err) {
    return { checks: [problem(name, `credential_process = ${raw} cannot be split into words the way botocore splits it (${(err as ShlexError).message})`, 'close the quotes, or remove the trailing backslash')] };
  }
  if (!argv.length) return { checks: [problem(name, 'credential_process is empty', `write credential_process = keyrole process ${ctx.profile}`)] };
  const checks: Check[] = [];
  const exe = argv[0];
  if (/^~|\$\{?\w/.test(exe) || /[|;&<>`]/.test(raw)) {
    const literal = exe.startsWith('~') ? `~ (home)` : /\$/.test(exe) ? `$VARIABLES` : 'shell syntax';
    const fixed = exe.startsWith('~') ? `${home()}${exe.slice(1)}` : '<the full path>';
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
    if (!resolved) return { checks: [...checks, problem(name, `credential_process runs ${exe}, which is not on PATH`, `write the full path to keyrole (${selfPaths()[0] ?? 'keyrole'}), or put it on PATH`)] };
  }
  try {
    accessSync(resolved, constants.X_OK);
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

// ---------------------------------------------------------------- keychain, source, cache

export function keychainCheck(): Check {
  try {
    // A read, not only a search: a search on a bus with no Secret Service comes back empty.
    getItem(SOURCE_SERVICE, 'keyrole-doctor-probe', 'read the keychain');
    const n = listSources().length;
    const store = storeName();
    const label = store === 'secret-service' ? 'Secret Service' : store === 'keyutils' ? 'kernel keyring' : process.platform === 'darwin' ? 'macOS Keychain' : 'Credential Manager';
    return ok('keychain', `${label} reachable and unlocked (${n} source${n === 1 ? '' : 's'})`);
  } catch (err) {
    return fromError('keychain', err);
  }
}

export function sourceCheck(ctx: DoctorContext): Check {
  const s = ctx.settings;
  if (!s) return skipped('source', 'no usable profile');
  const kind = (s as { sourceKind?: string }).sourceKind ?? 'keychain';
  if (kind !== 'keychain') return ok('source', `${s.source} (${kind === 'sso' ? 'IAM Identity Center' : 'another profile'}; checked by the identity check)`);
  try {
    const keys = readSource(s.source);
    const age = keys.storedAt ? ctx.now() - Date.parse(keys.storedAt) : NaN;
    const days = Math.floor(age / 86_400_000);
    if (days >= 90) return warning('source', `source "${s.source}" (${redactKeyId(keys.accessKeyId)}) was stored ${days} days ago; keys older than 90 days should be rotated`, `keyrole rotate ${s.source}`);
    return ok('source', `source "${s.source}" is in the keychain (${redactKeyId(keys.accessKeyId)}${isNaN(days) ? '' : `, stored ${days} day${days === 1 ? '' : 's'} ago`})`);
  } catch (err) {
    return fromError('source', err);
  }
}

export async function cacheCheck(ctx: DoctorContext): Promise<Check> {
  const s = ctx.settings;
  if (!s || !ctx.files) return skipped('cache', 'no usable profile');
  try {
    const store = openStore(storeKindFor(ctx.files, s));
    if (store.kind === 'none') return ok('cache', 'caching is off for this profile (every call goes to STS)');
    const plan = planProfile(ctx.files, s);
    const e = await lookup(store, plan.key, plan.canonical);
    if (!e) return ok('cache', `nothing cached in the ${store.kind} store; the next call goes to STS`);
    const left = remainingMs(e, ctx.now());
    if (left <= 0) return ok('cache', `the cached credentials expired ${isoSeconds(localExpiration(e))}; the next call replaces them`);
    if (!isFresh(e, plan.durationSeconds, ctx.now())) return ok('cache', `cached in the ${store.kind} store with ${formatLeft(left)} left, under the refresh window; the next call refreshes them`);
    return ok('cache', `cached in the ${store.kind} store, ${formatLeft(left)} left (until ${isoSeconds(localExpiration(e))})`);
  } catch (err) {
    return fromError('cache', err);
  }
}

/** The AWS CLI's own assume-role cache: entries for the profile's role (FACTS.md). */
export function cliCacheCheck(ctx: DoctorContext): Check {
  const name = 'AWS CLI cache';
  const role = ctx.settings?.roleArn;
  if (!role) return skipped(name, 'the profile assumes no role');
  const m = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(role);
  if (!m) return skipped(name, 'role ARN not recognised');
  const assumed = `arn:${m[1]}:sts::${m[2]}:assumed-role/${m[3]}/`;
  const dir = join(home(), '.aws', 'cli', 'cache');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return ok(name, `no AWS CLI cache (${dir})`);
  }
  const stale: string[] = [];
  const live: string[] = [];
  for (const n of names) {
    try {
      const v = JSON.parse(readFileSync(join(dir, n), 'utf8')) as { Credentials?: { Expiration?: string }; AssumedRoleUser?: { Arn?: string } };
      if (!v.AssumedRoleUser?.Arn?.startsWith(assumed)) continue;
      const exp = Date.parse(v.Credentials?.Expiration ?? '');
      (isNaN(exp) || exp <= ctx.now() ? stale : live).push(join(dir, n));
    } catch { /* not a CLI cache entry */ }
  }
  const shadowed = ctx.profile && ctx.files ? shadowingKeys(ctx.files, ctx.profile).some((k) => k.startsWith('role_arn')) : false;
  if (stale.length) {
    return warning(name, `the AWS CLI's own cache holds expired credentials for role ${m[3]} (${stale.join(', ')})`, `delete ${stale.length === 1 ? 'it' : 'them'}: rm ${stale.join(' ')}`);
  }
  if (live.length && shadowed) {
    return warning(name, `the AWS CLI uses its own cached credentials for role ${m[3]} (${live.join(', ')}), because the profile has role_arn`, `remove role_arn from the profile, then rm ${live.join(' ')}`);
  }
  return ok(name, live.length ? `${live.length} AWS CLI cache entr${live.length === 1 ? 'y' : 'ies'} for role ${m[3]}, unused by this profile` : `no AWS CLI cache entry for role ${m[3]}`);
}

// ---------------------------------------------------------------- identity

export async function identityCheck(ctx: DoctorContext): Promise<Check> {
  const name = 'identity';
  if (!ctx.network) return skipped(name, 'not checked (--no-network)');
  const s = ctx.settings;
  if (!s || !ctx.files) return skipped(name, 'no usable profile');
  let keys: AwsKeys;
  let expiration: Date;
  let offset = 0;
  if (ctx.processCredentials) {
    ({ keys, expiration } = ctx.processCredentials);
  } else {
    try {
      const { entry } = await resolveCredentials(ctx.files, s);
      keys = entry.credentials;
      expiration = localExpiration(entry);
      offset = entry.clockOffsetMs;
    } catch (err) {
      return fromError(name, err);
    }
  }
  try {
    const id = await getCallerIdentity({ accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, sessionToken: keys.sessionToken }, stsTarget(s, offset));
    const left = expiration.getTime() - ctx.now();
    const expires = isNaN(left) ? '' : `, expire in ${formatLeft(left)}`;
    const roleName = s.roleArn?.split('/').pop();
    if (roleName && !id.arn.includes(`:assumed-role/${roleName}/`)) {
      return warning(name, `the credentials are ${id.arn}, not role ${s.roleArn}`, 'check which profile credential_process names');
    }
    return ok(name, `${id.arn} (account ${id.account})${expires}`);
  } catch (err) {
    return fromError(name, err);
  }
}

// ---------------------------------------------------------------- the report

export async function runChecks(profileArg: string | undefined, network: boolean): Promise<{ ctx: DoctorContext; checks: Check[] }> {
  const checks: Check[] = [];
  let files: AwsFiles | undefined;
  try {
    files = await loadAwsFiles();
  } catch (err) {
    checks.push(fromError('config', err));
  }
  const profile = files ? pickProfile(files, profileArg) : profileArg;
  const ctx: DoctorContext = { files, profile, section: profile && files ? section(files.config, profile) : undefined, settings: undefined, network, now: Date.now };
  let settingsError: unknown;
  if (files && ctx.section && profile) {
    try {
      ctx.settings = resolveSettings(files, profile, {}, localUser());
    } catch (err) {
      settingsError = err;
    }
  }
  debug(`doctor: profile ${profile ?? '(none)'}`);
  checks.push(await clockCheck(ctx));
  checks.push(...await environmentChecks(ctx));
  if (files) checks.push(...configChecks(ctx, settingsError));
  const { checks: lineChecks, line } = processLineCheck(ctx);
  checks.push(keychainCheck());
  checks.push(sourceCheck(ctx));
  checks.push(await cacheCheck(ctx));
  checks.push(cliCacheCheck(ctx));
  checks.push(...lineChecks);
  if (line && network && ctx.settings) checks.push(await runProcessLine(ctx, line));
  checks.push(await identityCheck(ctx));
  return { ctx, checks };
}

/** The argument, else AWS_PROFILE, else the only keyrole profile. */
export function pickProfile(files: AwsFiles, arg: string | undefined): string | undefined {
  if (arg) return arg;
  if (process.env.AWS_PROFILE) return process.env.AWS_PROFILE;
  const mine = keyroleProfiles(files);
  return mine.length === 1 ? mine[0] : undefined;
}

const COLOURS: Record<Status, string> = { ok: '32', warning: '33', problem: '31', skipped: '2' };

export function useColour(stream: { isTTY?: boolean }): boolean {
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return true;
  return !!stream.isTTY && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

export function render(checks: Check[], header: string, colour: boolean): string {
  const paint = (st: Status, text: string) => (colour ? `\x1b[${COLOURS[st]}m${text}\x1b[0m` : text);
  const nameWidth = Math.max(...checks.map((c) => c.name.length));
  const lines = [header];
  for (const c of checks) {
    lines.push(`${paint(c.status, c.status.padEnd(8))} ${c.name.padEnd(nameWidth)}  ${c.message}`);
    if (c.fix && c.status !== 'ok') lines.push(`${' '.repeat(9 + nameWidth + 2)}${colour ? '\x1b[1mfix:\x1b[0m' : 'fix:'} ${c.fix}`);
  }
  const problems = checks.filter((c) => c.status === 'problem').length;
  const warnings = checks.filter((c) => c.status === 'warning').length;
  lines.push(problems || warnings
    ? `${problems} problem${problems === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}.`
    : 'No problems found.');
  return `${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('doctor', argv, { json: { type: 'boolean' }, 'no-network': { type: 'boolean' } });
  if (positionals.length > 1) throw usageError(`doctor takes one profile, got ${positionals.length}`, 'keyrole doctor [profile]');
  const { ctx, checks } = await runChecks(positionals[0], !v['no-network']);
  const problems = checks.filter((c) => c.status === 'problem');
  if (v.json) {
    process.stdout.write(`${JSON.stringify({
      profile: ctx.profile ?? null,
      config: ctx.files?.configPath ?? null,
      ok: problems.length === 0,
      problems: problems.length,
      warnings: checks.filter((c) => c.status === 'warning').length,
      checks,
    }, null, 2)}\n`);
  } else {
    const header = `keyrole doctor: ${ctx.profile ? `profile ${ctx.profile}` : 'no profile'}${ctx.files ? ` (${ctx.files.configPath})` : ''}`;
    process.stdout.write(render(checks, header, useColour(process.stdout)));
  }
  if (problems.length) {
    const names = [...new Set(problems.map((c) => c.name))];
    throw new KeyroleError('DoctorFoundProblems', `doctor found ${problems.length} problem${problems.length === 1 ? '' : 's'} (${names.join(', ')})`, 'fix them as shown on stdout, then run keyrole doctor again');
  }
}
