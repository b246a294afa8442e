// The subcommands' names and help. Their code is loaded by src/commands/load.ts only when
// one runs, so `keyrole process` (the hot path) never initialises the others; this module
// imports no command, so commands (completion) can read the table without a cycle.

export interface Command {
  name: string;
  /** `usage  what it does` (two spaces or more between); one line per form. The overview aligns them. */
  summary: string;
  /** Printed for --help. */
  help: string;
}

export const COMMANDS = [
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
  --mfa-serial <arn>       keyrole_mfa_serial: the MFA device of the source user
  --mfa-token <code>       the current MFA code, for scripts (also KEYROLE_MFA_TOKEN)
  --debug                  trace to stderr

MFA codes are asked for on the terminal (/dev/tty), never on stderr, which the AWS CLI
hides; without a terminal, keyrole_mfa_process or a GUI dialog, or run keyrole login first.
`,
  },
  {
    name: 'setup',
    summary: 'setup <source>           store a source\'s long-term access key in the keychain',
    help: `Usage: keyrole setup <source> [--force] [--no-verify] [--profile <p>]

Stores a long-term IAM user access key (AKIA…) under the name <source> in the OS keychain.
At a terminal it asks for the access key id and the secret (not echoed); from a pipe it
reads two lines, KEY=VALUE lines, the IAM console's CSV, or a credentials file (the section
named <source>, or its only section with a key; several others are refused). Either way it
checks the key with STS (GetCallerIdentity, which needs no permission) before storing it:
--no-verify skips the check (offline), --profile <p> uses <p>'s STS endpoint settings.

  printf '%s\\n%s\\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" | keyrole setup alice

Keys are never taken from the command line. An existing source is replaced only after
confirmation at a terminal, or with --force (without a terminal, --force is the only way).
With KEYROLE_KEYCHAIN=keyutils the key is kept in the kernel keyring, which is gone at
reboot. To move every key of ~/.aws/credentials: keyrole import.
`,
  },
  {
    name: 'list',
    summary: 'list                     list the sources in the keychain and the profiles that use them',
    help: `Usage: keyrole list

Lists the sources in the keychain, their access key ids (shortened) and the profiles that use them.
`,
  },
  {
    name: 'remove',
    summary: 'remove <source>          delete a source from the keychain',
    help: `Usage: keyrole remove <source> [--force]

Deletes a source from the keychain after confirmation at a terminal; --force skips it, and
without a terminal (a script, CI) --force is required.
`,
  },
  {
    name: 'cache',
    summary: 'cache list | clear [p]   show or forget cached credentials',
    help: `Usage: keyrole cache list [--json]
       keyrole cache clear [profile] [--all-layers]

list: every cached credential with its profile, role, time left and store (the region too
      where two entries differ only by it); --json for scripts.
clear: forgets every cached credential, or only <profile>'s own; --all-layers also forgets
       the layers under it (its source's MFA session, a base profile's role, an SSO role),
       which other profiles may share.
`,
  },
  {
    name: 'doctor',
    summary: 'doctor [profile]         check clock, environment, profile, keychain, cache and identity; say what to fix',
    help: `Usage: keyrole doctor [profile] [--json] [--no-network]

Runs the troubleshooting guides' checks for <profile> (else AWS_PROFILE, else the only
keyrole profile) and prints one line per check: ok, warning or problem, with the fix for
each problem:
  clock         offset to NTP and to STS's Date header
  environment   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN / AWS_PROFILE
                that would be used instead of the profile
  profile       keys (role_arn, source_profile, sso_*, static keys) that make the AWS CLI
                and the SDKs skip credential_process
  process line  the credential_process line, parsed and run the way botocore runs it
                (no shell: no ~ or $VAR expansion)
  keychain      reachable and unlocked; the profile's source stored
  cache         keyrole's cached credentials and their time left; stale AWS CLI cache
                entries (~/.aws/cli/cache) for the same role
  identity      a live GetCallerIdentity with the profile's credentials

Options:
  --json         one JSON document on stdout
  --no-network   skip the checks that talk to AWS (clock, process line, identity)

Exit status: 0 when no problem was found (warnings allowed), 1 otherwise.
`,
  },
  {
    name: 'whoami',
    summary: 'whoami [profile]         show the account, ARN and time left of a profile\'s credentials',
    help: `Usage: keyrole whoami [profile] [--json]

Gets the profile's credentials (from the cache while outside their refresh window) and
asks STS who they are (GetCallerIdentity): account, ARN, user id, and when they expire.
`,
  },
  {
    name: 'exec',
    summary: 'exec <profile> cmd…      run a command with the profile\'s credentials (--server: refreshed)',
    help: `Usage: keyrole exec [--server] [--allow-nested] <profile> [--] <command> [args…]

keyrole's options go before the command; everything from the command's name on is the
command's, as with env and sudo (a -- before it is accepted too): keyrole exec prod ls -ld
/tmp runs ls -ld /tmp, keyrole exec prod grep --help shows grep's help.

Runs <command> (default: $SHELL) with the profile's credentials, passes signals on to it
and exits with its status. KEYROLE_EXEC names the profile inside (whoami and status use it).

Without --server: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
AWS_CREDENTIAL_EXPIRATION, AWS_REGION and AWS_DEFAULT_REGION hold the profile's temporary
credentials and AWS_PROFILE is removed. They do not refresh: keyrole says when they end.

With --server: a local credential endpoint instead (AWS_CONTAINER_CREDENTIALS_FULL_URI on
127.0.0.1 and a free port, a fresh AWS_CONTAINER_AUTHORIZATION_TOKEN), and no keys or
AWS_PROFILE in the environment. Every SDK and the AWS CLI ask it again before their
credentials expire, for as long as <command> runs; it answers from keyrole's cache (one
STS call per refresh however many clients ask). An MFA code or SSO sign-in is asked before
<command> starts; while it runs keyrole never prompts on its terminal, warns about 15
minutes before a person is needed, and a request then fails naming keyrole login.

Options:
  --server         serve refreshing credentials instead of frozen keys
  --cache <store>  keychain, file or none, as for process
  --allow-nested   run even inside another keyrole exec (refused by default)
`,
  },
  {
    name: 'console',
    summary: 'console [profile]        open the AWS console signed in as the profile (or print the sign-in URL)',
    help: `Usage: keyrole console [profile] [--url] [--destination <page>] [--region <r>] [--duration <s>] [--no-mfa]

Opens the AWS Management Console in your browser, signed in as <profile> (else AWS_PROFILE)
through the federation endpoint: a role or IAM Identity Center profile signs in with its own
credentials (from the cache, as keyrole process gets them); a profile without a role signs
in as a federated user made with GetFederationToken from the source's long-term key, with a
session policy that keeps the user's own permissions (the console refuses GetSessionToken
credentials).

The browser is BROWSER if set, else xdg-open (with a display), open (macOS) or
rundll32 url.dll,FileProtocolHandler (Windows); KEYROLE_NO_BROWSER=1 opens none. It is
given a 0600 local page that forwards to the sign-in URL, never the URL itself: the URL
holds a token that signs anyone in for 15 minutes, and other local users can read a
process's arguments. With no browser, a warning and the URL on stdout.

Options:
  --url                    print the sign-in URL on stdout instead of opening a browser
  --destination <page>     a console path (s3, ec2/home#Instances:) or a console URL
  --region <r>             the console's region (default: the profile's region)
  --duration <s>           console session length: SessionDuration (900-43200) for role and
                           SSO profiles (default keyrole_duration_seconds), GetFederationToken's
                           duration (900-129600) without a role; not for chained roles
  --no-mfa                 without a role, sign in even though the source has keyrole_mfa_serial
                           (GetFederationToken takes no MFA: the session has none)
  --cache <store>          as for keyrole process

KEYROLE_SIGNIN_URL overrides the federation endpoint (default: the region's partition's
https://signin.aws.amazon.com/federation, signin.amazonaws.cn, signin.amazonaws-us-gov.com).
`,
  },
  {
    name: 'serve',
    summary: 'serve <profile>          a credential endpoint for an IDE or a container, until Ctrl-C',
    help: `Usage: keyrole serve <profile> [--port <n>] [--cache <store>]

The endpoint of exec --server for programs keyrole does not start. Prints the lines to run
in the program's environment (unset the credential variables that would win over the
endpoint; AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (a 0600
file in keyrole's private directory, removed however serve stops), and for older SDKs
AWS_CONTAINER_AUTHORIZATION_TOKEN read from that file by the shell (never on an argv),
AWS_REGION and AWS_DEFAULT_REGION) and serves until interrupted. keyrole doctor, run in the
program's environment, says which form its clients need.
  --port <n>   a fixed port on 127.0.0.1 (default: a free one)
`,
  },
  {
    name: 'status',
    summary: 'status [profile]         time left on the credentials, MFA session and SSO sign-in (no network)',
    help: `Usage: keyrole status [profile] [--json | --short]

From the cache alone (no network, fast enough for a shell prompt): the time left on the
profile's credentials, on the MFA session and IAM Identity Center sign-in behind them, and
when a person will next be needed. The profile defaults to the one keyrole exec runs,
then AWS_PROFILE.
  --short   one line for a prompt: "prod 52m", "prod 52m mfa 9m", "prod -" (nothing cached)
  --json    the same as JSON
`,
  },
  {
    name: 'export',
    summary: 'export <profile>         print the profile\'s credentials as shell variables or JSON',
    help: `Usage: keyrole export <profile> [--format env|json|powershell|fish]

Prints the profile's temporary credentials:
  env          export AWS_ACCESS_KEY_ID='…' lines for sh, bash and zsh (default):
               eval "$(keyrole export prod)"
  fish         set -gx lines:  keyrole export prod --format fish | source
  powershell   $Env: lines:    keyrole export prod --format powershell | Invoke-Expression
  json         the credential_process JSON
`,
  },
  {
    name: 'rotate',
    summary: 'rotate <source>          replace a source\'s access key with a new one (IAM), safely',
    help: `Usage: keyrole rotate <source> [--profile <p>] [--verify-timeout <seconds>]

Creates a new access key for the source's IAM user, checks that it works
(GetCallerIdentity), stores it in the keychain, then deletes the old key. If any step
fails, the source keeps a working key: a new key that cannot be checked or stored is
deleted again, and an old key that cannot be deleted is named for deletion by hand.

IAM allows two access keys per user; with two already, delete the unused one first.
The user needs iam:ListAccessKeys, iam:CreateAccessKey and iam:DeleteAccessKey on itself.

Options:
  --profile <p>            use <p>'s endpoint settings (default: the first profile using the source)
  --verify-timeout <s>     how long to wait for a new key to be accepted (default 30)

Endpoints: AWS_ENDPOINT_URL_IAM, AWS_ENDPOINT_URL, or the profile's services section
(iam = endpoint_url = …) for IAM; the STS settings for the check.
`,
  },
  {
    name: 'import',
    summary: 'import                   move plaintext keys from ~/.aws/credentials into the keychain',
    help: `Usage: keyrole import [--dry-run] [--yes] [--profile <name> …] [--force]

Moves every long-term key section of the credentials file (AWS_SHARED_CREDENTIALS_FILE,
else ~/.aws/credentials: aws_access_key_id and aws_secret_access_key, no session token),
and static keys written in the config, into the keychain as a keyrole source of the same
name, and rewrites the config (AWS_CONFIG_FILE) so every profile that used them runs
through keyrole:
  - a section's own profile (aws --profile user1) becomes a keyrole profile without a
    role (a GetSessionToken session); [default] becomes source "default";
  - a role_arn + source_profile profile becomes a keyrole role profile: role_arn,
    mfa_serial, duration_seconds, external_id and role_session_name are renamed to their
    keyrole_ keys on their own lines, source_profile to keyrole_source (a key) or
    keyrole_source_profile (a chain).
Each key is read back from the keychain before the config is written (with a backup), and
the config before the credentials file loses the key lines: a crash loses nothing, and
running import again finishes the job. Comments and unrelated lines are kept byte for
byte. Left alone, with a note: sections with aws_session_token, profiles using
credential_source or web identity, and any key such a profile still needs.

Options:
  -n, --dry-run     show the plan, change nothing
  -y, --yes         do not ask (for scripts); without it, asks at the terminal
  --profile <name>  only this section (repeatable)
  --force           replace a different key already stored under the same source name
`,
  },
  {
    name: 'configure',
    summary: 'configure <profile>      write a keyrole profile into ~/.aws/config (asks, or takes flags)',
    help: `Usage: keyrole configure <profile> [--source <name>] [--role-arn <arn>] [--duration <s>]
                                   [--region <r>] [--mfa-serial <arn>] [--session-name <n>]

Adds or updates [profile <profile>] in ~/.aws/config (AWS_CONFIG_FILE): credential_process
naming this keyrole by absolute path, keyrole_source, keyrole_role_arn,
keyrole_duration_seconds, keyrole_mfa_serial, region. At a terminal it asks for what the
flags leave out and checks each answer as it is typed (a bad one is asked again). Enter
keeps the current value; "-" (as an answer or a flag value) removes the setting.

Comments, blank lines and every other profile are kept byte for byte; existing values are
replaced on their own lines. A 0600 backup (config.keyrole-backup-<time>) is written first;
the newest 5 backups are kept.
A profile that also holds role_arn, source_profile, sso_* or static keys is refused: the
AWS CLI would use those and never run credential_process.
`,
  },
  {
    name: 'completion',
    summary: 'completion <shell>       print shell completion for bash, zsh or fish',
    help: `Usage: keyrole completion bash|zsh|fish

Prints a completion script (commands, profile and source names, option values):
  bash   eval "$(keyrole completion bash)"        in ~/.bashrc
  zsh    eval "$(keyrole completion zsh)"         in ~/.zshrc, after compinit
  fish   keyrole completion fish > ~/.config/fish/completions/keyrole.fish

keyrole completion --list profiles|sessions|credentials|sources|commands prints the names the
scripts use (credentials: the sections of the credentials file, for import --profile).
`,
  },
  {
    name: 'login',
    summary: 'login <profile|session>  sign in ahead of time: AWS Sign-In, IAM Identity Center, or a new MFA code',
    help: `Usage: keyrole login <profile | sso-session> [--use-device-code] [--no-browser]
       keyrole login <profile> [--remote] [--no-browser] [--region <r>]     (AWS Sign-In)

For AWS Sign-In (as aws login, AWS CLI 2.32+: your console credentials, no access key): a
profile with keyrole_login_session, or a profile that does not exist yet, which is then
written (region from --region, AWS_REGION or asked; keyrole_login_session from the
sign-in; credential_process with this keyrole's path; the rest of the file untouched).
Signs in in the browser on this machine (PKCE, a listener on 127.0.0.1); with --remote,
and by itself over SSH or without a browser, on any device: paste the verification code
the browser shows. The session (refresh token and DPoP key) goes to the keychain; keyrole
refreshes its 15-minute credentials itself for up to 12 hours. A role on top: another
profile with keyrole_source_profile = <this profile> and keyrole_role_arn (at most 1 h).
Endpoint: AWS_ENDPOINT_URL_SIGNIN. keyrole logout <profile> ends the session.

For a profile with keyrole_mfa_serial (or a chain down to one): asks for an MFA code at this
terminal and renews the MFA session (or the role that takes the code) whatever it has
left, so that calls without a terminal (the endpoint of exec --server and serve, IDEs,
CI) find it; it says until when the session and the profile's credentials last.

For IAM Identity Center: signs in for an [sso-session] (or a profile that uses one through
keyrole_sso_session, or the legacy keyrole_sso_start_url + keyrole_sso_region), as AWS CLI
2.22+ does: in the browser (authorization code with PKCE; the browser comes back to a
listener on 127.0.0.1) wherever one can be opened (BROWSER, a display, macOS, Windows).
No terminal is needed for it: from an IDE or a script the messages go to stderr.
The device flow (a URL and a code to approve in any browser) is used with
--use-device-code, and by itself over SSH (SSH_CONNECTION, SSH_TTY) or where no browser
can be opened; the terminal says so. --no-browser prints the browser sign-in's URL
instead of opening it. The token goes to the keychain, not to a plaintext file; so does
the client registration, reused until it nears its end (one per sso-session, flow and
scopes). With sso_registration_scopes = sso:account:access in the sso-session, keyrole
also gets a refresh token and renews the token itself, so one login lasts the session.

credential_process starts the same sign-in at the terminal when it needs one; without a
terminal (IDEs, the JS SDK, CI) it fails and names this command. Parallel callers share
one sign-in: one browser tab. KEYROLE_NO_BROWSER=1 never opens a browser;
KEYROLE_SSO_LOGIN_TIMEOUT (seconds, default 600) bounds the wait for the browser.

Endpoints: AWS_ENDPOINT_URL_SSO_OIDC, AWS_ENDPOINT_URL_SSO, AWS_ENDPOINT_URL.
`,
  },
  {
    name: 'logout',
    summary: 'logout <profile>  end an AWS Sign-In session and the credentials cached on it',
    help: `Usage: keyrole logout <profile>

For a profile with keyrole_login_session (or a role on top of one): removes the AWS Sign-In
session (its refresh token and DPoP key) from the keychain, and every cached credential
resting on it (the profile's, and any role's on top), in every cache store. AWS Sign-In has
no sign-out call: the session ends at AWS by itself (12 hours at most). keyrole login
<profile> signs in again. For IAM Identity Center: keyrole sso logout.
`,
  },
  {
    name: 'sso',
    summary: 'sso populate <session>  write a profile per IAM Identity Center account/role (dry run first)\nsso logout <session>  sign out of IAM Identity Center and forget the token',
    help: `Usage: keyrole sso populate <sso-session> [--write] [--prefix <p>] [--region <r>] [--command <path>]
       keyrole sso logout <sso-session | profile>

populate: lists the accounts and roles the sso-session can reach and prints one keyrole
profile for each (named <account>.<role>): a dry run. --write appends them to the config
after a backup (<config>.keyrole-backup-<time>); comments and other profiles are kept as
they are, and profiles that already point at a role are left alone.
  --prefix <p>      put <p> before each profile name
  --region <r>      the profiles' region (default: the sso-session's sso_region)
  --command <path>  the keyrole to name in credential_process (default: this executable)

logout: signs out at IAM Identity Center and removes keyrole's token from the keychain.
`,
  },
  {
    name: 'store',
    summary: 'store move --to <store>  move every key to another keychain; store passphrase | lock | status',
    help: `Usage: keyrole store move --to <secret-service | file | keyutils> [--from <store>]
       keyrole store passphrase
       keyrole store lock
       keyrole store status

move: copies every entry keyrole keeps (sources, cached credentials, MFA and SSO
      sessions, client registrations) from the current store (KEYROLE_KEYCHAIN, or
      --from) to another, reads each back, and only then removes the old one; run it again
      after an interruption and it finishes the job. Then set KEYROLE_KEYCHAIN to the new
      store (unset it for the Secret Service).
passphrase: changes the file store's passphrase (the old one, then the new one twice at
      the terminal, or KEYROLE_NEW_PASSPHRASE_FILE); no key is re-entered.
lock: forgets the file store's unlocked key in this session (the next call asks again).
status: where keyrole keeps its keys, and whether the file store is unlocked and until when.

The file store (KEYROLE_KEYCHAIN=file; by itself without a D-Bus session) asks for its
passphrase once per session: at the terminal, or from KEYROLE_PASSPHRASE_FILE (first
line) or KEYROLE_PASSPHRASE_COMMAND (first line of its output, run by /bin/sh). The
unlocked key is kept in the kernel keyring for KEYROLE_UNLOCK_TIMEOUT (default 8h; 0: never).
`,
  },
] as const satisfies readonly Command[];

export type CommandName = (typeof COMMANDS)[number]['name'];

export function findCommand(name: string): (typeof COMMANDS)[number] | undefined {
  return COMMANDS.find((c) => c.name === name);
}
