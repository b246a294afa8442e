// Shared argument parsing for the subcommands: node:util parseArgs with the common flags,
// and usage errors in keyrole's one-line form.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { oneLine, usageError } from '../util/errors.ts';
import { enableDebug } from '../util/debug.ts';
import { printable } from '../util/printable.ts';

export const COMMON = {
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/**
 * node:util's parse errors as one keyrole line: its own text is several sentences with
 * quotes that do not balance ("… as in '-- \"--bogus\""), written for programmers.
 */
function parseProblem(err: unknown, argv: string[], known: string[]): string {
  const code = (err as { code?: string }).code;
  const name = (a: string) => (a.startsWith('--') ? a.slice(2).split('=')[0] : a.slice(1, 2));
  const shortOf = (a: string) => a.length === 2 && a[0] === '-';
  const dashdash = argv.indexOf('--');
  const opts = (dashdash < 0 ? argv : argv.slice(0, dashdash)).filter((a) => a.startsWith('-') && a !== '-');
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const bad = opts.find((a) => (shortOf(a) ? true : !known.includes(name(a))));
    return `unknown option ${printable(bad?.split('=')[0] ?? '')}`.trimEnd();
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const msg = (err as Error).message;
    const m = /'(?:-\w, )?(--?[\w-]+)/.exec(msg);
    if (!m) return 'an option is missing its value, or has one it does not take';
    return /does not take an argument/.test(msg) ? `option ${m[1]} takes no value` : `option ${m[1]} needs a value`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return 'too many arguments';
  return oneLine(printable((err as Error).message));
}

export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(cmd: string, argv: string[], options: O) {
  const config = { args: argv, options: { ...COMMON, ...options }, allowPositionals: true, strict: true } as const;
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  // With no option in argv, parseArgs' answer is known: every argument is a positional.
  // That is credential_process's `keyrole process <profile>` on every AWS CLI command, and
  // skipping the call spares it compiling Node's parser (~1 ms of a cache hit, measured).
  if (!argv.some((a) => a.startsWith('-'))) {
    parsed = { values: {}, positionals: [...argv] } as typeof parsed;
  } else {
    try {
      parsed = parseArgs(config);
    } catch (err) {
      throw usageError(parseProblem(err, argv, Object.keys(config.options)), `see keyrole ${cmd} --help`);
    }
  }
  enableDebug(!!(parsed.values as { debug?: boolean }).debug || process.env.KEYROLE_DEBUG === '1');
  return parsed;
}
