// `keyrole process <profile>`: what credential_process runs. Prints the JSON blob on
// stdout and nothing else.

import { loadAwsFiles, resolveSettings, type Overrides } from '../config.ts';
import { debug } from '../debug.ts';
import { credentialBlob } from '../blob.ts';
import { localExpiration, localUser, resolveCredentials } from '../credentials.ts';

export interface ProcessOptions {
  profile: string | undefined;
  overrides: Overrides;
  cache?: string;
}

export async function processCommand(o: ProcessOptions): Promise<void> {
  const files = await loadAwsFiles();
  const s = resolveSettings(files, o.profile, o.overrides, localUser());
  debug(`profile ${s.profile ?? '(none)'} from ${files.configPath}: source "${s.source}", ${s.roleArn ? `role ${s.roleArn}` : 'no role (GetSessionToken)'}, ${s.durationSeconds} s, session name ${s.sessionName}`);
  debug(`region ${s.region} (from ${s.regionFrom}); STS endpoint from ${s.endpointFrom}${s.endpoint ? `: ${s.endpoint}` : ''}`);
  if (s.shadowing.length) {
    debug(`warning: profile ${s.profile} also sets ${s.shadowing.join(', ')}; the AWS CLI and SDKs use those before credential_process, so they bypass keyrole: remove them or move them to keyrole_* keys`);
  }
  const { entry } = await resolveCredentials(files, s, o.cache);
  process.stdout.write(`${credentialBlob(entry.credentials, localExpiration(entry))}\n`);
}
