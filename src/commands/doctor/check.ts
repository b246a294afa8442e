// What every doctor check returns, what it is given, and the helpers that make a result.

import { KeyroleError, oneLine } from '../../util/errors.ts';
import type { AwsFiles, Section } from '../../config/files.ts';
import type { Settings } from '../../config/settings.ts';
import type { AwsKeys } from '../../aws/sts.ts';

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

export const ok = (name: string, message: string): Check => ({ name, status: 'ok', message });
export const warning = (name: string, message: string, fix?: string): Check => ({ name, status: 'warning', message, fix });
export const problem = (name: string, message: string, fix?: string): Check => ({ name, status: 'problem', message, fix });
export const skipped = (name: string, message: string): Check => ({ name, status: 'skipped', message });
export const fromError = (name: string, err: unknown, status: Status = 'problem'): Check =>
  err instanceof KeyroleError
    ? { name, status, message: err.message, fix: err.fix }
    : { name, status, message: oneLine(String((err as Error)?.message ?? err)), fix: 'rerun with --debug and report it' };
