// `keyrole process <profile>`: what credential_process runs. Prints the JSON blob on
// stdout and nothing else.

import { writeSync } from 'node:fs';
import { loadAwsFiles } from '../config/files.ts';
import { describeSettings, resolveSettings, type Overrides } from '../config/settings.ts';
import { debug } from '../util/debug.ts';
import { credentialBlob } from '../credentials/blob.ts';
import { resolveCredentials } from '../credentials/resolve.ts';
import { localExpiration } from '../credentials/cache.ts';
import { localUser } from '../credentials/user.ts';
import { usageError } from '../util/errors.ts';
import { parseCommand } from './args.ts';

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('process', argv, {
    source: { type: 'string' },
    'role-arn': { type: 'string' },
    duration: { type: 'string' },
    region: { type: 'string' },
    'endpoint-url': { type: 'string' },
    'session-name': { type: 'string' },
    cache: { type: 'string' },
    'mfa-serial': { type: 'string' },
    'mfa-token': { type: 'string' },
  });
  if (positionals.length > 1) throw usageError(`process takes one profile, got ${positionals.length}`, 'see keyrole process --help');
  const profile = positionals[0] ?? process.env.AWS_PROFILE;
  if (profile === undefined && v.source === undefined) throw usageError('process needs a profile name', 'write credential_process = keyrole process <profile>');
  return processCommand({
    profile,
    mfaToken: v['mfa-token'],
    overrides: { cache: v.cache, mfaSerial: v['mfa-serial'], source: v.source, roleArn: v['role-arn'], duration: v.duration, region: v.region, endpointUrl: v['endpoint-url'], sessionName: v['session-name'] },
  });
}

export interface ProcessOptions {
  profile: string | undefined;
  overrides: Overrides;
  mfaToken?: string;
}

export async function processCommand(o: ProcessOptions): Promise<void> {
  const files = await loadAwsFiles();
  const s = resolveSettings(files, o.profile, o.overrides, localUser());
  debug(`profile ${s.profile ?? '(none)'} from ${files.configPath}: ${describeSettings(s)}, session name ${s.sessionName}${s.mfaSerial ? `, MFA ${s.mfaSerial}` : ''}`);
  debug(`region ${s.region} (from ${s.regionFrom}); STS endpoint from ${s.endpointFrom}${s.endpoint ? `: ${s.endpoint}` : ''}`);
  if (s.shadowing.length) {
    debug(`warning: profile ${s.profile} also sets ${s.shadowing.join(', ')}; the AWS CLI and SDKs use those before credential_process, so they bypass keyrole: remove them or move them to keyrole_* keys`);
  }
  const { entry } = await resolveCredentials(files, s, { mfaToken: o.mfaToken });
  writeStdout(`${credentialBlob(entry.credentials, localExpiration(entry))}\n`);
}

/**
 * Writes straight to fd 1: creating process.stdout for a pipe loads node:net and the
 * streams, ~3 ms of a cache hit. Falls back to the stream if the fd is non-blocking.
 */
function writeStdout(text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(1, buf, off);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    process.stdout.write(buf.subarray(off));
  }
}
