// `keyrole exec [--server] <profile> cmd args…` (or `… <profile> -- cmd args…`): runs one command with the profile's
// temporary credentials, forwards signals to it and exits with its status. Without a
// command, starts $SHELL.
//
// Plain `exec` puts the credentials in the child's environment (the only place keyrole puts
// a secret in an environment); they do not refresh, and keyrole says when they end. With
// `--server` the child gets a local credential endpoint instead (src/server/endpoint.ts):
// every SDK in it asks again before its credentials expire, for as long as it runs.

import { spawn, type ChildProcess } from 'node:child_process';
import { isatty } from 'node:tty';
import { forwardsSigint, resolveOnPath, spawnWords } from '../util/platform.ts';
import { isFile } from '../util/dirs.ts';
import { constants } from 'node:os';
import { isoSeconds } from '../credentials/blob.ts';
import { KeyroleError } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { parseCommand } from './args.ts';
import { EXEC_OPTIONS, splitExecArgv } from './exec-args.ts';
import { profileArg, profileSession, type ProfileSession } from './session.ts';
import { formatLeft } from '../util/duration.ts';
import { startEndpoint, type Endpoint } from '../server/endpoint.ts';
import { watchForPerson } from '../server/warn.ts';
import { serverProvider } from '../server/provider.ts';
import { longLived } from '../keychain/addon.ts';
import { printable } from '../util/printable.ts';
import type { AwsFiles } from '../config/files.ts';
import { BESIDE_KEYS_VARS, CREDENTIAL_VARS } from '../util/awsenv.ts';

import { EXEC_MARKER } from './exec-marker.ts';
export { EXEC_MARKER };

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export interface ChildEnvInput {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  region: string;
  profile: string;
}

/**
 * The child's environment: the credentials and region, and no AWS_PROFILE or the other
 * variables that must not sit beside keys (src/util/awsenv.ts).
 */
export function childEnv(base: NodeJS.ProcessEnv, c: ChildEnvInput): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const k of BESIDE_KEYS_VARS) delete env[k];
  env.AWS_ACCESS_KEY_ID = c.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY = c.secretAccessKey;
  env.AWS_SESSION_TOKEN = c.sessionToken;
  env.AWS_CREDENTIAL_EXPIRATION = isoSeconds(c.expiration);
  env.AWS_REGION = c.region;
  env.AWS_DEFAULT_REGION = c.region;
  env[EXEC_MARKER] = c.profile;
  return env;
}

/**
 * The child's environment under `exec --server`: the endpoint and its token, the region,
 * and none of the variables that SDKs prefer to it (src/util/awsenv.ts).
 */
export function serverChildEnv(base: NodeJS.ProcessEnv, e: { url: string; token: string; region: string; profile: string }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const k of CREDENTIAL_VARS) delete env[k];
  env.AWS_CONTAINER_CREDENTIALS_FULL_URI = e.url;
  env.AWS_CONTAINER_AUTHORIZATION_TOKEN = e.token;
  env.AWS_REGION = e.region;
  env.AWS_DEFAULT_REGION = e.region;
  env[EXEC_MARKER] = e.profile;
  return env;
}

/**
 * Credentials that the SDKs would take before the endpoint's, because the child has no
 * AWS_PROFILE and so reads the default profile: named, so a person is not surprised.
 */
export function shadowingDefault(files: AwsFiles): string | undefined {
  const cfg = files.config.default ?? {};
  const creds = files.credentials.default ?? {};
  const keys = ['credential_process', 'role_arn', 'sso_session', 'sso_start_url', 'sso_account_id', 'web_identity_token_file', 'credential_source', 'aws_access_key_id'];
  const inConfig = keys.filter((k) => cfg[k] !== undefined);
  if (creds.aws_access_key_id !== undefined) return `the [default] section of ${files.credentialsPath} has aws_access_key_id`;
  if (inConfig.length) return `the [default] profile in ${files.configPath} has ${inConfig.join(', ')}`;
  return undefined;
}

export async function main(argv: string[]): Promise<void> {
  const { own, command } = splitExecArgv(argv);
  const { values: v, positionals } = parseCommand('exec', own, EXEC_OPTIONS);
  let cmd = command ?? [];
  const profile = profileArg('exec', positionals[0]);
  const outer = process.env[EXEC_MARKER];
  if (outer !== undefined && !v['allow-nested']) {
    throw new KeyroleError('NestedExec', `this shell already runs inside keyrole exec for profile "${outer}", and its credentials would be replaced by ${JSON.stringify(profile)}'s`, 'exit that shell first, or pass --allow-nested');
  }
  if (!cmd.length) cmd = [process.env.SHELL || (process.platform === 'win32' ? process.env.COMSPEC || 'cmd.exe' : '/bin/sh')];

  // Anything that needs a person (an MFA code, an SSO sign-in) is asked now, before the
  // command owns the terminal.
  const p = await profileSession(profile, { cache: v.cache });
  if (v.server) return execServer(cmd, profile, p);
  const c = p.credentials;
  const env = childEnv(process.env, { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: p.expiration, region: p.settings.region, profile });
  debug(`exec ${cmd[0]} with profile ${profile}'s credentials (expire ${isoSeconds(p.expiration)})`);
  // Said once the command has started: a command that cannot start is one line, the failure.
  const code = await runChild(cmd, env, () => process.stderr.write(`keyrole: ${profile}'s credentials in this environment expire at ${isoSeconds(p.expiration)} (in ${formatLeft(p.expiration.getTime() - Date.now())}) and do not refresh; for longer work use keyrole exec --server ${profile} -- …\n`));
  process.exit(code);
}

async function execServer(cmd: string[], profile: string, p: ProfileSession): Promise<void> {
  const shadow = shadowingDefault(p.files);
  if (shadow) process.stderr.write(`keyrole: ${shadow}, which the SDKs in ${cmd[0]} would use instead of keyrole's endpoint; move those settings out of [default]\n`);
  const endpoint = await serveProfile(p);
  const watch = watchForPerson({ files: p.files, settings: p.settings, profile, what: cmd[0] });
  debug(`exec ${cmd[0]} with profile ${profile}'s credentials from ${endpoint.url}`);
  let code: number;
  try {
    code = await runChild(cmd, serverChildEnv(process.env, { url: endpoint.url, token: endpoint.token, region: p.settings.region, profile }));
  } finally {
    watch.stop();
    await endpoint.close();
  }
  process.exit(code);
}

/**
 * The endpoint for one profile, answering through the same path as `keyrole process`
 * (cache, single flight, clock check, MFA session, SSO, chains), never prompting on the
 * terminal it shares with the program it serves.
 */
export async function serveProfile(p: ProfileSession, port?: number): Promise<Endpoint> {
  longLived();
  let lastError = { line: '', at: 0 };
  return startEndpoint({
    port,
    provide: serverProvider(p),
    onError: (err) => {
      // An SDK retries a failed fetch (botocore three times): the same cause is said once a minute.
      const line = printable(err.line());
      if (line === lastError.line && Date.now() - lastError.at < 60_000) return;
      lastError = { line, at: Date.now() };
      process.stderr.write(`${line}\n`);
    },
  });
}

/** Runs the child, forwarding signals; resolves with the exit status keyrole should end with. */
function runChild(cmd: string[], env: NodeJS.ProcessEnv, onStarted?: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    // Windows: `npx`, `cdk` are .cmd files, which spawn finds only by their full name.
    const file = process.platform === 'win32' && !/[\\/]/.test(cmd[0]) ? resolveOnPath(cmd[0], process.platform, process.env, isFile) ?? cmd[0] : cmd[0];
    const how = spawnWords([file, ...cmd.slice(1)], process.platform, process.env.COMSPEC);
    // The child is in keyrole's process group; when that group is a terminal's, Ctrl-C's
    // SIGINT reached the child already (src/util/platform.ts forwardsSigint).
    const sharesTerminal = isatty(0) || isatty(1) || isatty(2);
    // Handlers go in before the child starts: the child may run (and be signalled by whoever
    // watches its output) before this process runs again, and a SIGTERM that found no
    // handler would kill keyrole and orphan the command. Regression: a loaded CI machine.
    const running: { child?: ChildProcess } = {};
    const early: NodeJS.Signals[] = [];
    const forward = (sig: NodeJS.Signals) => {
      if (process.platform === 'win32' || (sig === 'SIGINT' && !forwardsSigint(process.platform, sharesTerminal))) {
        debug(`${sig}: ${cmd[0]} got it from the terminal already; waiting for it to end`);
        return;
      }
      const child = running.child;
      if (!child) { early.push(sig); return; }
      debug(`forwarding ${sig} to ${cmd[0]}`);
      try { child.kill(sig); } catch { /* already gone */ }
    };
    const detach = () => { for (const s of FORWARDED) process.off(s, forward); };
    for (const s of FORWARDED) process.on(s, forward);
    const child = spawn(how.file, how.args, { stdio: 'inherit', env, windowsVerbatimArguments: how.verbatim });
    running.child = child;
    if (onStarted) child.once('spawn', onStarted);
    for (const sig of early) forward(sig);
    child.once('error', (err: NodeJS.ErrnoException) => {
      detach();
      if (err.code === 'ENOENT') reject(new KeyroleError('CommandNotFound', `cannot run ${JSON.stringify(cmd[0])}: no such command`, 'check the name and PATH, or give the full path', 127));
      else if (err.code === 'EACCES') reject(new KeyroleError('CommandNotExecutable', `cannot run ${JSON.stringify(cmd[0])}: permission denied`, 'make it executable (chmod +x)', 126));
      else reject(new KeyroleError('ExecFailed', `cannot run ${JSON.stringify(cmd[0])} (${err.code ?? err.message})`, 'check the command'));
    });
    child.once('exit', (code, signal) => {
      detach();
      if (signal) {
        // Die of the same signal, so the caller sees what the child saw.
        const n = constants.signals[signal] ?? 0;
        try { process.kill(process.pid, signal); } catch { /* fall through */ }
        setTimeout(() => resolve(128 + n), 100);
        return;
      }
      resolve(code ?? 1);
    });
  });
}
