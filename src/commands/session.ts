// Credentials for a profile, for the commands that hand them to a person or a program
// (whoami, exec, export): the same cache and STS path as `keyrole process`.

import { loadAwsFiles, type AwsFiles } from '../config/files.ts';
import { resolveSettings, type Overrides, type Settings } from '../config/settings.ts';
import { resolveCredentials } from '../credentials/resolve.ts';
import { localUser } from '../credentials/user.ts';
import { usageError } from '../util/errors.ts';
import { EXEC_MARKER } from './exec-marker.ts';
import { localExpiration, type CacheEntry } from '../credentials/cache.ts';
import type { TempCredentials } from '../aws/sts.ts';

export interface ProfileSession {
  files: AwsFiles;
  settings: Settings;
  entry: CacheEntry;
  credentials: TempCredentials;
  /** Expiration in the local clock's frame. */
  expiration: Date;
  fromCache: boolean;
}

/**
 * The profile argument, else the profile `keyrole exec` runs this shell as (KEYROLE_EXEC:
 * exec removes AWS_PROFILE from the child), else AWS_PROFILE; a usage error naming the
 * command when none is there.
 */
export function profileArg(cmd: string, positional: string | undefined): string {
  const p = positional ?? process.env[EXEC_MARKER] ?? process.env.AWS_PROFILE;
  if (!p) throw usageError(`${cmd} needs a profile name`, `keyrole ${cmd} <profile>, or set AWS_PROFILE`);
  return p;
}

/** The profile's credentials; `o` carries the command's own flags (--cache). */
export async function profileSession(profile: string, o: Overrides = {}): Promise<ProfileSession> {
  const files = await loadAwsFiles();
  const settings = resolveSettings(files, profile, o, localUser());
  const { entry, fromCache } = await resolveCredentials(files, settings);
  return { files, settings, entry, credentials: entry.credentials, expiration: localExpiration(entry), fromCache };
}
