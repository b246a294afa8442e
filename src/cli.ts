// Entry point: finds the subcommand and hands over to it. Any failure ends here as one
// line on stderr and a non-zero exit; stdout is left to the command.

import { KeyroleError, oneLine, usageError } from './util/errors.ts';
import { debug, enableDebug } from './util/debug.ts';
import { COMMANDS, findCommand } from './commands/index.ts';
import { loadCommand } from './commands/load.ts';
import { VERSION } from './util/version.ts';
import { prepareStore } from './keychain/prepare.ts';

/** The commands' summaries with their descriptions in one column. */
function commandLines(): string {
  const rows = COMMANDS.flatMap((c) => c.summary.split('\n')).map((l) => {
    const m = /^(.*?\S)\s{2,}(\S.*)$/.exec(l);
    return m ? [m[1], m[2]] : [l, ''];
  });
  const width = Math.max(...rows.map(([u]) => u.length));
  return rows.map(([u, d]) => `  ${u.padEnd(width)}  ${d}`.trimEnd()).join('\n');
}

function overview(): string {
  return `keyrole ${VERSION}: AWS credential_process helper with keys in the OS keychain

Usage: keyrole <command> [options]

Commands:
${commandLines()}

Options:
  --debug                  trace to stderr (never prints secrets)
  -h, --help               help for keyrole or a command
  -V, --version            print the version

Profile (~/.aws/config):
  [profile prod]
  credential_process = keyrole process prod
  keyrole_source = alice
  keyrole_role_arn = arn:aws:iam::111122223333:role/Admin
  keyrole_duration_seconds = 3600
`;
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (process.env.KEYROLE_DEBUG === '1') enableDebug(true);
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    const topic = rest[0] && findCommand(rest[0]);
    process.stdout.write(topic ? topic.help : overview());
    return;
  }
  if (cmd === '-V' || cmd === '--version' || cmd === 'version') {
    process.stdout.write(`keyrole ${VERSION}\n`);
    return;
  }
  // The keychain's child for long-lived processes (src/keychain/addon.ts KEYCHAIN_CALL).
  if (cmd === '__keychain-call') return (await import('./keychain/addon.ts')).keychainCallMain();
  const command = findCommand(cmd);
  if (!command) throw usageError(`unknown command ${JSON.stringify(cmd)}`);
  // --help among the command's own arguments (before a `--`; for exec, before the command
  // it runs) shows the command's help instead of running it.
  const dashdash = rest.indexOf('--');
  const own = command.name === 'exec' ? (await import('./commands/exec-args.ts')).splitExecArgv(rest).own : dashdash < 0 ? rest : rest.slice(0, dashdash);
  if (own.some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(command.help);
    return;
  }
  await prepareStore(command.name);
  const mod = await loadCommand(command.name);
  await mod.main(rest);
}

export async function run(argv: string[]): Promise<number> {
  try {
    await main(argv);
    return 0;
  } catch (err) {
    if (err instanceof KeyroleError) {
      process.stderr.write(`${err.line()}\n`);
      return err.exitCode;
    }
    debug(`unexpected error: ${(err as Error)?.stack ?? String(err)}`);
    process.stderr.write(`keyrole: unexpected error: ${oneLine(String((err as Error)?.message ?? err))}; rerun with --debug and report it\n`);
    return 1;
  }
}
