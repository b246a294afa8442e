// `keyrole export <profile> --format env|json|powershell|fish`: the profile's temporary
// credentials for a shell or a program that reads them from its environment.

import { credentialBlob, isoSeconds } from '../credentials/blob.ts';
import { usageError } from '../util/errors.ts';
import { parseCommand } from './args.ts';
import { profileArg, profileSession } from './session.ts';
import { formatLeft } from '../util/duration.ts';
import { BESIDE_KEYS_VARS } from '../util/awsenv.ts';

export const FORMATS = ['env', 'json', 'powershell', 'fish'] as const;
export type Format = (typeof FORMATS)[number];

export interface ExportValues {
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_SESSION_TOKEN: string;
  AWS_CREDENTIAL_EXPIRATION: string;
  AWS_REGION: string;
  AWS_DEFAULT_REGION: string;
}

/** Variables `exec` removes from its child and `export` unsets, so every SDK in the shell uses the exported keys (the JS SDK prefers a profile to them). */
export const UNSET = BESIDE_KEYS_VARS;

const posix = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
// PowerShell's single-quoted strings end at any of five quote characters: ' and the
// typographic U+2018-U+201B (its tokenizer's IsSingleQuote). Each is escaped by doubling,
// so a value holding one cannot close the string and run what follows.
const pwsh = (v: string) => `'${v.replace(/['\u2018-\u201b]/g, (q) => q + q)}'`;
const fish = (v: string) => `'${v.replace(/[\\']/g, (c) => `\\${c}`)}'`;

/** The lines for a shell; `json` is handled by the caller (it is the credential_process blob). */
export function formatExport(format: Exclude<Format, 'json'>, values: ExportValues): string {
  const entries = Object.entries(values);
  switch (format) {
    case 'env': return `unset ${UNSET.join(' ')}\n${entries.map(([k, v]) => `export ${k}=${posix(v)}\n`).join('')}`;
    case 'powershell': return `${UNSET.map((k) => `Remove-Item Env:${k} -ErrorAction SilentlyContinue\n`).join('')}${entries.map(([k, v]) => `$Env:${k} = ${pwsh(v)}\n`).join('')}`;
    // fish's `set -e` of a variable that is not set fails (status 4), and `set -gx` keeps the
    // status it found, so `… | source; and aws …` would skip aws: `; or true` absorbs it.
    case 'fish': return `${UNSET.map((k) => `set -e ${k}; or true\n`).join('')}${entries.map(([k, v]) => `set -gx ${k} ${fish(v)}\n`).join('')}`;
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('export', argv, { format: { type: 'string', short: 'f' }, cache: { type: 'string' } });
  if (positionals.length > 1) throw usageError(`export takes one profile, got ${positionals.length}`, 'keyrole export <profile> --format env|json|powershell|fish');
  const format = (v.format ?? 'env') as Format;
  if (!FORMATS.includes(format)) throw usageError(`--format ${JSON.stringify(v.format)} is not one keyrole knows`, `use one of ${FORMATS.join(', ')}`);
  const profile = profileArg('export', positionals[0]);
  const p = await profileSession(profile, { cache: v.cache });
  process.stderr.write(`keyrole: ${profile}'s exported credentials expire at ${isoSeconds(p.expiration)} (in ${formatLeft(p.expiration.getTime() - Date.now())}) and do not refresh; for longer work use keyrole exec --server ${profile} -- …, or keyrole serve ${profile}\n`);
  if (format === 'json') {
    process.stdout.write(`${credentialBlob(p.credentials, p.expiration)}\n`);
    return;
  }
  const c = p.credentials;
  process.stdout.write(formatExport(format, {
    AWS_ACCESS_KEY_ID: c.accessKeyId,
    AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
    AWS_SESSION_TOKEN: c.sessionToken,
    AWS_CREDENTIAL_EXPIRATION: isoSeconds(p.expiration),
    AWS_REGION: p.settings.region,
    AWS_DEFAULT_REGION: p.settings.region,
  }));
}
