// Entry point: parses the command line and hands over to one command module. Any failure
// ends here as one line on stderr and a non-zero exit; stdout is left to the command.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { KeyroleError, oneLine, usageError } from './errors.ts';
import { debug, enableDebug } from './debug.ts';

declare const KEYROLE_VERSION: string | undefined;
export const VERSION = typeof KEYROLE_VERSION === 'string' ? KEYROLE_VERSION : '0.0.0-dev';

const HELP: Record<string, string> = {
  '': `keyrole ${VERSION}: AWS credential_process helper with keys in the OS keychain

Usage: keyrole <command> [options]

Commands:
  process <profile>        print credentials for credential_process (the AWS CLI runs this)
  setup <source>           store a source's long-term access key in the keychain
  list                     list the sources in the keychain and the profiles that use them
  remove <source>          delete a source from the keychain
  cache list               show cached credentials and how long they last
  cache clear [profile]    forget cached credentials (all, or one profile's)

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
`,
  process: `Usage: keyrole process <profile> [options]

Prints the credential_process JSON for <profile> on stdout: from the cache while at least
15 minutes remain, otherwise by assuming the profile's role with the source's keys.

Options (each overrides the profile's keyrole_* key):
  --source <name>          keyrole_source: the keychain source to sign with
  --role-arn <arn>         keyrole_role_arn: role to assume (none: GetSessionToken)
  --duration <seconds>     keyrole_duration_seconds: 900 to 43200 (default 3600)
  --region <region>        STS region (else AWS_REGION, AWS_DEFAULT_REGION, region)
  --endpoint-url <url>     STS endpoint (else AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, endpoint_url)
  --session-name <name>    keyrole_role_session_name
  --cache <store>          keyrole_cache / KEYROLE_CACHE: keychain (default), file or none
  --debug                  trace to stderr
`,
  setup: `Usage: keyrole setup <source> [--force]

Stores a long-term IAM user access key (AKIA…) under the name <source> in the OS keychain.
At a terminal it asks for the access key id and the secret (not echoed). From a pipe it
reads two lines, KEY=VALUE lines, or the IAM console's CSV:

  printf '%s\\n%s\\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" | keyrole setup alice

Keys are never taken from the command line. An existing source is replaced only after
confirmation, or with --force.
`,
  list: `Usage: keyrole list

Lists the sources in the keychain, their access key ids (shortened) and the profiles that use them.
`,
  remove: `Usage: keyrole remove <source> [--force]

Deletes a source from the keychain after confirmation (--force skips it).
`,
  cache: `Usage: keyrole cache list
       keyrole cache clear [profile]

list: every cached credential with its profile, role, time left and store.
clear: forgets every cached credential, or only <profile>'s.
`,
};

function help(cmd: string): void {
  process.stdout.write(HELP[cmd] ?? HELP['']);
}

const COMMON = {
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, cmd: string) {
  try {
    return parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError(oneLine((err as Error).message), `see keyrole ${cmd} --help`);
  }
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') return help(rest[0] ?? '');
  if (cmd === '-V' || cmd === '--version' || cmd === 'version') {
    process.stdout.write(`keyrole ${VERSION}\n`);
    return;
  }
  if (process.env.KEYROLE_DEBUG === '1') enableDebug(true);

  switch (cmd) {
    case 'process': {
      const { values: v, positionals } = parse(rest, {
        source: { type: 'string' },
        'role-arn': { type: 'string' },
        duration: { type: 'string' },
        region: { type: 'string' },
        'endpoint-url': { type: 'string' },
        'session-name': { type: 'string' },
        cache: { type: 'string' },
      }, cmd);
      if (v.help) return help(cmd);
      enableDebug(!!v.debug || process.env.KEYROLE_DEBUG === '1');
      if (positionals.length > 1) throw usageError(`process takes one profile, got ${positionals.length}`, 'see keyrole process --help');
      const profile = positionals[0] ?? process.env.AWS_PROFILE;
      if (profile === undefined && v.source === undefined) throw usageError('process needs a profile name', 'write credential_process = keyrole process <profile>');
      const { processCommand } = await import('./commands/process.ts');
      return processCommand({
        profile,
        cache: v.cache,
        overrides: { source: v.source, roleArn: v['role-arn'], duration: v.duration, region: v.region, endpointUrl: v['endpoint-url'], sessionName: v['session-name'] },
      });
    }
    case 'setup': {
      const { values: v, positionals } = parse(rest, { force: { type: 'boolean', short: 'f' } }, cmd);
      if (v.help) return help(cmd);
      enableDebug(!!v.debug);
      if (positionals.length !== 1) throw usageError('setup takes one source name (keys are read from the terminal or stdin, never from arguments)', 'keyrole setup <source>');
      const { setupCommand } = await import('./commands/setup.ts');
      return setupCommand({ name: positionals[0], force: !!v.force });
    }
    case 'list': {
      const { values: v } = parse(rest, {}, cmd);
      if (v.help) return help(cmd);
      const { listCommand } = await import('./commands/sources.ts');
      return listCommand();
    }
    case 'remove': {
      const { values: v, positionals } = parse(rest, { force: { type: 'boolean', short: 'f' } }, cmd);
      if (v.help) return help(cmd);
      if (positionals.length !== 1) throw usageError('remove takes one source name', 'keyrole remove <source>');
      const { removeCommand } = await import('./commands/sources.ts');
      return removeCommand(positionals[0], !!v.force);
    }
    case 'cache': {
      const { values: v, positionals } = parse(rest, {}, cmd);
      if (v.help) return help(cmd);
      enableDebug(!!v.debug);
      const [sub, profile, extra] = positionals;
      const { cacheClearCommand, cacheListCommand } = await import('./commands/cache.ts');
      if (sub === 'list' && profile === undefined) return cacheListCommand();
      if (sub === 'clear' && extra === undefined) return cacheClearCommand(profile);
      throw usageError(`unknown cache command ${JSON.stringify(positionals.join(' '))}`, 'use keyrole cache list or keyrole cache clear [profile]');
    }
    default:
      throw usageError(`unknown command ${JSON.stringify(cmd)}`);
  }
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
