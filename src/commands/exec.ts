// `keyrole exec <profile> -- cmd args…`: runs one command with the profile's temporary
// credentials in its environment (the only place keyrole puts a secret in an environment),
// forwards signals to it and exits with its status. Without a command, starts $SHELL.

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { isoSeconds } from '../credentials/blob.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { parseCommand } from './args.ts';
import { profileArg, profileSession } from './session.ts';

/** Set in the child's environment: the profile it runs as, and the guard against nesting. */
export const EXEC_MARKER = 'KEYROLE_EXEC';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export function splitAtDashDash(argv: string[]): { own: string[]; command: string[] | undefined } {
  const i = argv.indexOf('--');
  return i < 0 ? { own: argv, command: undefined } : { own: argv.slice(0, i), command: argv.slice(i + 1) };
}

export interface ChildEnvInput {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  region: string;
  profile: string;
}

/**
 * The child's environment: the credentials and region, and no AWS_PROFILE (the JS SDK
 * skips environment credentials when AWS_PROFILE is set, and botocore would read the
 * profile's region and other settings from it).
 */
export function childEnv(base: NodeJS.ProcessEnv, c: ChildEnvInput): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const k of ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_SECURITY_TOKEN', 'AWS_CREDENTIAL_FILE']) delete env[k];
  env.AWS_ACCESS_KEY_ID = c.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY = c.secretAccessKey;
  env.AWS_SESSION_TOKEN = c.sessionToken;
  env.AWS_CREDENTIAL_EXPIRATION = isoSeconds(c.expiration);
  env.AWS_REGION = c.region;
  env.AWS_DEFAULT_REGION = c.region;
  env[EXEC_MARKER] = c.profile;
  return env;
}

export async function main(argv: string[]): Promise<void> {
  const { own, command } = splitAtDashDash(argv);
  const { values: v, positionals } = parseCommand('exec', own, { cache: { type: 'string' }, 'allow-nested': { type: 'boolean' } });
  let cmd: string[];
  if (command !== undefined) {
    if (positionals.length > 1) throw usageError(`exec takes one profile before --, got ${positionals.length}`, 'keyrole exec <profile> -- <command> [args…]');
    cmd = command;
  } else {
    cmd = positionals.slice(1);
  }
  const profile = profileArg('exec', positionals[0]);
  const outer = process.env[EXEC_MARKER];
  if (outer !== undefined && !v['allow-nested']) {
    throw new KeyroleError('NestedExec', `this shell already runs inside keyrole exec for profile "${outer}", and its credentials would be replaced by ${JSON.stringify(profile)}'s`, 'exit that shell first, or pass --allow-nested');
  }
  if (!cmd.length) cmd = [process.env.SHELL || (process.platform === 'win32' ? process.env.COMSPEC || 'cmd.exe' : '/bin/sh')];

  const p = await profileSession(profile, v.cache);
  const c = p.credentials;
  const env = childEnv(process.env, { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: p.expiration, region: p.settings.region, profile });
  debug(`exec ${cmd[0]} with profile ${profile}'s credentials (expire ${isoSeconds(p.expiration)})`);
  const code = await runChild(cmd, env);
  process.exit(code);
}

/** Runs the child, forwarding signals; resolves with the exit status keyrole should end with. */
function runChild(cmd: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', env });
    const forward = (sig: NodeJS.Signals) => {
      debug(`forwarding ${sig} to ${cmd[0]}`);
      try { child.kill(sig); } catch { /* already gone */ }
    };
    const detach = () => { for (const s of FORWARDED) process.off(s, forward); };
    for (const s of FORWARDED) process.on(s, forward);
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
