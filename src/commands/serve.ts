// `keyrole serve <profile> [--port N]`: the credential endpoint of `exec --server` for
// programs keyrole does not start (an IDE, a container on the host network), in the
// foreground until interrupted. Prints the environment lines to use on stdout and keeps the
// token in a 0600 file in keyrole's private directory, removed when it stops.

import { unlinkSync } from 'node:fs';
import { writeAtomic } from '../util/atomic.ts';
import { join } from 'node:path';
import { keyroleHome, privateDir } from '../util/home.ts';
import { usageError } from '../util/errors.ts';
import { parseCommand } from './args.ts';
import { profileArg, profileSession } from './session.ts';
import { serveProfile, shadowingDefault } from './exec.ts';
import { watchForPerson } from '../server/warn.ts';
import { shlexQuote } from '../config/shlex.ts';
import { CREDENTIAL_VARS } from '../util/awsenv.ts';

/**
 * What serve prints for the program's environment: unset every variable an SDK would take
 * credentials from before the endpoint (src/util/awsenv.ts), then the endpoint, its token
 * file and the region.
 */
export function serveLines(profile: string, url: string, tokenFile: string, region: string): string {
  const set = ['AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'];
  return [
    `# keyrole serves profile ${profile} until interrupted. In the program's environment:`,
    `unset ${CREDENTIAL_VARS.filter((v) => !set.includes(v)).join(' ')}`,
    `export AWS_CONTAINER_CREDENTIALS_FULL_URI=${url}`,
    `export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=${shlexQuote(tokenFile)}`,
    `export AWS_REGION=${shlexQuote(region)} AWS_DEFAULT_REGION=${shlexQuote(region)}`,
    `# SDKs older than the _FILE variable (AWS CLI v2 before 2.15, a container): AWS_CONTAINER_AUTHORIZATION_TOKEN="$(cat ${shlexQuote(tokenFile)})"`,
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('serve', argv, { cache: { type: 'string' }, port: { type: 'string' } });
  if (positionals.length > 1) throw usageError(`serve takes one profile, got ${positionals.length}`, 'keyrole serve <profile> [--port N]');
  const port = v.port === undefined ? undefined : Number(v.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw usageError(`--port ${JSON.stringify(v.port)} is not a port number`, 'give 1 to 65535, or leave it out for a free port');
  const profile = profileArg('serve', positionals[0]);
  // A person is asked now (MFA, SSO), while keyrole has the terminal.
  const p = await profileSession(profile, v.cache);
  const endpoint = await serveProfile(p, v.cache, port);
  const tokenFile = join(privateDir(keyroleHome()), `serve-${endpoint.port}.token`);
  writeAtomic(tokenFile, endpoint.token);
  const removeToken = () => { try { unlinkSync(tokenFile); } catch { /* gone already */ } };
  process.on('exit', removeToken);

  process.stdout.write(serveLines(profile, endpoint.url, tokenFile, p.settings.region));
  const shadow = shadowingDefault(p.files);
  if (shadow) process.stderr.write(`keyrole: ${shadow}, which SDKs without AWS_PROFILE use instead of this endpoint\n`);
  process.stderr.write(`keyrole: serving ${profile} at ${endpoint.url}; Ctrl-C stops\n`);
  const watch = watchForPerson({ files: p.files, settings: p.settings, cacheFlag: v.cache, profile, what: 'the programs using it' });

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, stop);
  });
  watch.stop();
  await endpoint.close();
  removeToken();
  process.stderr.write('keyrole: stopped serving\n');
}
