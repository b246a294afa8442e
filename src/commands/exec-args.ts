// Where `keyrole exec`'s own arguments end and the command begins: at the first word after
// the profile that is not one of exec's options, as `env`, `sudo` and `aws-vault exec` do,
// so `keyrole exec prod grep --help` runs `grep --help` and `keyrole exec prod ls -ld /tmp`
// runs ls. A `--` ends exec's arguments too (the word after it starts the command). The
// top level (src/cli.ts, for --help) and the command itself ask this one function.

/** exec's options; those that take a value, so their value is not read as the profile or the command. */
export const EXEC_OPTIONS = {
  cache: { type: 'string' },
  'allow-nested': { type: 'boolean' },
  server: { type: 'boolean' },
} as const;

const TAKES_VALUE = new Set(Object.entries(EXEC_OPTIONS).filter(([, o]) => o.type === 'string').map(([k]) => `--${k}`));

/** `own`: exec's options and the profile; `command`: the command and its arguments, untouched (undefined: none given). */
export function splitExecArgv(argv: string[]): { own: string[]; command: string[] | undefined } {
  let profileSeen = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return { own: argv.slice(0, i), command: argv.slice(i + 1) };
    if (a.startsWith('-') && a !== '-') {
      if (TAKES_VALUE.has(a)) i++;
      continue;
    }
    if (!profileSeen) {
      profileSeen = true;
      continue;
    }
    return { own: argv.slice(0, i), command: argv.slice(i) };
  }
  return { own: argv, command: undefined };
}
