// `keyrole serve <profile> [--port N]`: the credential endpoint of `exec --server` for
// programs keyrole does not start (an IDE, a container on the host network), in the
// foreground until interrupted. Prints the environment lines to use on stdout and keeps the
// token in a 0600 file in keyrole's private directory, removed when it stops.
//
// Which variables: the AWS SDKs that know AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE read the
// token from the file at every refresh and prefer it to AWS_CONTAINER_AUTHORIZATION_TOKEN;
// older ones (Debian's boto3 1.29 and AWS CLI 2.9, the Go SDK v2 of Debian, aws-sdk-go v1
// and so rclone) read only the variable, and get a 403 without it. serve prints both, the
// variable as `export …="$(cat FILE)"`: the shell reads the file and `export` is one of its
// builtins, so the token is on no process's argv (cat's is the file's name). The supported
// versions are in src/server/clients.ts, which doctor uses too.
//
// A serve that dies without cleaning up (SIGKILL, a crash) must not leave the token file
// behind: an IDE that reads it would keep sending requests to the port, and whoever
// listens there next (another local user) would get the token and could answer with
// credentials of its own choosing, into whose account the IDE then writes. So a small
// guard process (sh) waits on a pipe only serve holds open, and removes the file the moment
// serve is gone, however it ended: an SDK that reads the token from the file then fails to
// read it and sends nothing. (A program given the token itself, in its environment, cannot
// be protected that way: it asks the port for as long as it runs; stop it first.) A stale
// file from an older keyrole is replaced at the next start on that port.

import { unlinkSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { writeAtomic } from '../util/atomic.ts';
import { join } from 'node:path';
import { keyroleHome, privateDir } from '../util/home.ts';
import { usageError } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { parseCommand } from './args.ts';
import { profileArg, profileSession } from './session.ts';
import { serveProfile, shadowingDefault } from './exec.ts';
import { watchForPerson } from '../server/warn.ts';
import { shlexQuote } from '../config/shlex.ts';
import { CREDENTIAL_VARS } from '../util/awsenv.ts';
import { tokenOnlyClients } from '../server/clients.ts';

/**
 * What serve prints for the program's environment: unset every variable an SDK would take
 * credentials from before the endpoint (src/util/awsenv.ts), then the endpoint, its token
 * (as a file and as a value read from it by the shell), the region, and the docker form.
 */
export function serveLines(profile: string, url: string, tokenFile: string, region: string): string {
  const set = ['AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', 'AWS_CONTAINER_AUTHORIZATION_TOKEN'];
  const file = shlexQuote(tokenFile);
  return [
    `# keyrole serves profile ${profile} until interrupted. In the program's environment (sh, bash, zsh):`,
    `unset ${CREDENTIAL_VARS.filter((v) => !set.includes(v)).join(' ')}`,
    `export AWS_CONTAINER_CREDENTIALS_FULL_URI=${url}`,
    `export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=${file}`,
    `# for SDKs that read only the token itself (${tokenOnlyClients()}):`,
    `export AWS_CONTAINER_AUTHORIZATION_TOKEN="$(cat ${file})"`,
    `export AWS_REGION=${shlexQuote(region)} AWS_DEFAULT_REGION=${shlexQuote(region)}`,
    '# a container on the host network takes the values from this shell (never put the token itself on docker\'s command line):',
    '#   docker run --network host -e AWS_CONTAINER_CREDENTIALS_FULL_URI -e AWS_CONTAINER_AUTHORIZATION_TOKEN -e AWS_REGION -e AWS_DEFAULT_REGION IMAGE …',
    '',
  ].join('\n');
}

/**
 * The token file, and a guard that removes it as soon as this process is gone, however it
 * ends (see the module comment). Returns the function that removes it now.
 */
function keepTokenFile(path: string, token: string): () => void {
  writeAtomic(path, token);
  const remove = () => { try { unlinkSync(path); } catch { /* gone already */ } };
  if (process.platform === 'win32') return remove;
  // The guard's stdin is a pipe whose only writer is this process: when this process ends,
  // the kernel closes it, `read` sees the end, and the file goes.
  const guard = spawn('sh', ['-c', 'read -r _ || :; rm -f -- "$1"', 'keyrole-serve-guard', path], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  guard.on('error', (err) => debug(`serve: no guard for the token file (${err.message}); it is removed when serve stops normally`));
  guard.unref();
  return () => {
    remove();
    guard.stdin?.destroy();
  };
}

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('serve', argv, { cache: { type: 'string' }, port: { type: 'string' } });
  if (positionals.length > 1) throw usageError(`serve takes one profile, got ${positionals.length}`, 'keyrole serve <profile> [--port N]');
  const port = v.port === undefined ? undefined : Number(v.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw usageError(`--port ${JSON.stringify(v.port)} is not a port number`, 'give 1 to 65535, or leave it out for a free port');
  const profile = profileArg('serve', positionals[0]);
  // A person is asked now (MFA, SSO), while keyrole has the terminal.
  const p = await profileSession(profile, { cache: v.cache });
  const endpoint = await serveProfile(p, port);
  const tokenFile = join(privateDir(keyroleHome()), `serve-${endpoint.port}.token`);
  const removeToken = keepTokenFile(tokenFile, endpoint.token);
  process.on('exit', removeToken);

  process.stdout.write(serveLines(profile, endpoint.url, tokenFile, p.settings.region));
  const shadow = shadowingDefault(p.files);
  if (shadow) process.stderr.write(`keyrole: ${shadow}, which SDKs without AWS_PROFILE use instead of this endpoint\n`);
  process.stderr.write(`keyrole: serving ${profile} at ${endpoint.url}; Ctrl-C stops\n`);
  const watch = watchForPerson({ files: p.files, settings: p.settings, profile, what: 'the programs using it' });

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, stop);
  });
  watch.stop();
  await endpoint.close();
  removeToken();
  process.stderr.write('keyrole: stopped serving\n');
}
