// Reads ~/.aws/config and ~/.aws/credentials the way the JS SDK does (src/config/ini.ts,
// checked against the SDK's own parser): where the files are, loading them, and looking a
// section up.

import { join } from 'node:path';
import { configSections, parseIni, readIniFile, readIniText, type Section } from './ini.ts';
import { userHome } from '../util/home.ts';

export type { Section } from './ini.ts';

export interface AwsFiles {
  configPath: string;
  credentialsPath: string;
  config: Record<string, Section>;
  credentials: Record<string, Section>;
  /** The config file's text (undefined when it does not exist), for line-level checks of the profile in use. */
  configText?: string;
}

const env = process.env;

// The SDKs expand a leading ~/ in these variables; so does keyrole.
function expandHome(p: string): string {
  return p.startsWith('~/') ? join(userHome(), p.slice(2)) : p;
}

export function configPath(): string {
  return expandHome(env.AWS_CONFIG_FILE || join(userHome(), '.aws', 'config'));
}

export function credentialsPath(): string {
  return expandHome(env.AWS_SHARED_CREDENTIALS_FILE || join(userHome(), '.aws', 'credentials'));
}

export async function loadAwsFiles(): Promise<AwsFiles> {
  const cfg = configPath();
  const creds = credentialsPath();
  const text = readIniText(cfg, 'config');
  return {
    configPath: cfg,
    credentialsPath: creds,
    config: configSections(text === undefined ? Object.create(null) as Record<string, Section> : parseIni(text)),
    credentials: readIniFile(creds, 'credentials'),
    configText: text,
  };
}

/** A section by name; own properties only, so a profile called "constructor" is not found in Object.prototype. */
export function section(sections: Record<string, Section>, name: string): Section | undefined {
  return Object.hasOwn(sections, name) ? sections[name] : undefined;
}

// Typed sections that are no profile: in the config view `[sso-session x]` and
// `[services x]`; in the credentials file, read as its sections are, any typed header
// (`[profile x]` there is not profile x to the SDKs, which read that file by bare names).
const NOT_PROFILE = { config: /^(sso-session|services)\./, credentials: /^(profile|sso-session|services)\./ };

/** The profile names in a file's sections, in file order: `default` and dotted names (what sso populate writes) included. */
export function profileNames(sections: Record<string, Section>, file: 'config' | 'credentials' = 'config'): string[] {
  return Object.keys(sections).filter((name) => !NOT_PROFILE[file].test(name));
}

/** Whether a profile uses keyrole: its credential_process runs keyrole, or it has keyrole_ keys. */
export function usesKeyrole(sec: Section): boolean {
  return /keyrole/.test(sec.credential_process ?? '') || Object.keys(sec).some((k) => k.startsWith('keyrole_'));
}
