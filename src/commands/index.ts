// The subcommands. Help text lives here and each command's code is loaded only when it
// runs, so `keyrole process` (the hot path) never initialises the others.

export interface Command {
  name: string;
  summary: string;
  help: string;
  /** Runs the command with the arguments after its name; `help` is printed for --help. */
  load(): Promise<{ main(argv: string[]): Promise<void> }>;
}

export const COMMANDS: Command[] = [
  {
    name: 'process',
    summary: 'process <profile>        print credentials for credential_process (the AWS CLI runs this)',
    help: `Usage: keyrole process <profile> [options]

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
    load: () => import('./process.ts'),
  },
  {
    name: 'setup',
    summary: 'setup <source>           store a source\'s long-term access key in the keychain',
    help: `Usage: keyrole setup <source> [--force]

Stores a long-term IAM user access key (AKIA…) under the name <source> in the OS keychain.
At a terminal it asks for the access key id and the secret (not echoed). From a pipe it
reads two lines, KEY=VALUE lines, or the IAM console's CSV:

  printf '%s\\n%s\\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" | keyrole setup alice

Keys are never taken from the command line. An existing source is replaced only after
confirmation, or with --force.
`,
    load: () => import('./setup.ts'),
  },
  {
    name: 'list',
    summary: 'list                     list the sources in the keychain and the profiles that use them',
    help: `Usage: keyrole list

Lists the sources in the keychain, their access key ids (shortened) and the profiles that use them.
`,
    load: () => import('./sources.ts').then((m) => ({ main: m.listMain })),
  },
  {
    name: 'remove',
    summary: 'remove <source>          delete a source from the keychain',
    help: `Usage: keyrole remove <source> [--force]

Deletes a source from the keychain after confirmation (--force skips it).
`,
    load: () => import('./sources.ts').then((m) => ({ main: m.removeMain })),
  },
  {
    name: 'cache',
    summary: 'cache list | clear [p]   show or forget cached credentials',
    help: `Usage: keyrole cache list
       keyrole cache clear [profile]

list: every cached credential with its profile, role, time left and store.
clear: forgets every cached credential, or only <profile>'s.
`,
    load: () => import('./cache.ts'),
  },
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
