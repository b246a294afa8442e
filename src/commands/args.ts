// Shared argument parsing for the subcommands: node:util parseArgs with the common flags,
// and usage errors in keyrole's one-line form.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { oneLine, usageError } from '../errors.ts';
import { enableDebug } from '../debug.ts';

export const COMMON = {
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(cmd: string, argv: string[], options: O) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError(oneLine((err as Error).message), `see keyrole ${cmd} --help`);
  }
  enableDebug(!!(parsed.values as { debug?: boolean }).debug || process.env.KEYROLE_DEBUG === '1');
  return parsed;
}
