// `keyrole completion bash|zsh|fish`: a completion script for the shell, and
// `keyrole completion --list profiles|sessions|credentials|sources|commands`, which the
// scripts call for the names (so they always match the config and the keychain of the moment).

import { loadAwsFiles, profileNames } from '../config/files.ts';
import { listSources } from '../keychain/sources.ts';
import { usageError } from '../util/errors.ts';
import { parseCommand } from './args.ts';
import { COMMANDS } from './index.ts';

const PROFILE_COMMANDS = 'process doctor whoami exec export configure serve status console';
const SOURCE_COMMANDS = 'setup remove rotate';

const BASH = `# keyrole completion for bash. Load it with:
#   eval "$(keyrole completion bash)"            (in ~/.bashrc)
# or save it as ~/.local/share/bash-completion/completions/keyrole
_keyrole() {
  local cur prev cmd words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd="\${COMP_WORDS[1]}"
  _keyrole_list() { "\${COMP_WORDS[0]}" completion --list "$1" 2>/dev/null; }
  if [ "$COMP_CWORD" -eq 1 ]; then
    words="$(_keyrole_list commands)"
  else
    case "$prev" in
      --format) words="env json powershell fish" ;;
      --cache) words="keychain file none" ;;
      --destination) words="s3 ec2 iam cloudwatch lambda" ;;
      --profile) if [ "$cmd" = import ]; then words="$(_keyrole_list credentials)"; else words="$(_keyrole_list profiles)"; fi ;;
      --source) words="$(_keyrole_list sources)" ;;
      *)
        case "$cmd" in
          ${PROFILE_COMMANDS.replace(/ /g, '|')}) [ "$COMP_CWORD" -eq 2 ] && words="$(_keyrole_list profiles)" ;;
          ${SOURCE_COMMANDS.replace(/ /g, '|')}) [ "$COMP_CWORD" -eq 2 ] && words="$(_keyrole_list sources)" ;;
          cache) if [ "$COMP_CWORD" -eq 2 ]; then words="list clear"; elif [ "$prev" = clear ]; then words="$(_keyrole_list profiles)"; fi ;;
          login) [ "$COMP_CWORD" -eq 2 ] && words="$(_keyrole_list sessions) $(_keyrole_list profiles)" ;;
          sso) if [ "$COMP_CWORD" -eq 2 ]; then words="populate logout"; elif [ "$COMP_CWORD" -eq 3 ]; then words="$(_keyrole_list sessions)"; [ "$prev" = logout ] && words="$words $(_keyrole_list profiles)"; fi ;;
          import) words="--dry-run --yes --profile --force" ;;
          completion) [ "$COMP_CWORD" -eq 2 ] && words="bash zsh fish" ;;
          help) [ "$COMP_CWORD" -eq 2 ] && words="$(_keyrole_list commands)" ;;
        esac ;;
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _keyrole keyrole
`;

const ZSH = `#compdef keyrole
# keyrole completion for zsh. Load it with:
#   eval "$(keyrole completion zsh)"             (in ~/.zshrc, after compinit)
# or save it as _keyrole in a directory on $fpath
_keyrole() {
  local -a list
  _keyrole_list() { list=(\${(f)"$(\${words[1]} completion --list $1 2>/dev/null)"}); }
  if (( CURRENT == 2 )); then
    _keyrole_list commands; compadd -a list; return
  fi
  case \${words[CURRENT-1]} in
    --format) compadd env json powershell fish; return ;;
    --cache) compadd keychain file none; return ;;
    --destination) compadd s3 ec2 iam cloudwatch lambda; return ;;
    --profile) if [[ \${words[2]} == import ]]; then _keyrole_list credentials; else _keyrole_list profiles; fi; compadd -a list; return ;;
    --source) _keyrole_list sources; compadd -a list; return ;;
  esac
  case \${words[2]} in
    ${PROFILE_COMMANDS.replace(/ /g, '|')}) (( CURRENT == 3 )) && { _keyrole_list profiles; compadd -a list } ;;
    ${SOURCE_COMMANDS.replace(/ /g, '|')}) (( CURRENT == 3 )) && { _keyrole_list sources; compadd -a list } ;;
    cache) if (( CURRENT == 3 )); then compadd list clear; elif [[ \${words[3]} == clear ]]; then _keyrole_list profiles; compadd -a list; fi ;;
    login) (( CURRENT == 3 )) && { _keyrole_list sessions; compadd -a list; _keyrole_list profiles; compadd -a list } ;;
    sso) if (( CURRENT == 3 )); then compadd populate logout; elif (( CURRENT == 4 )); then _keyrole_list sessions; compadd -a list; [[ \${words[3]} == logout ]] && { _keyrole_list profiles; compadd -a list }; fi ;;
    import) compadd -- --dry-run --yes --profile --force ;;
    completion) (( CURRENT == 3 )) && compadd bash zsh fish ;;
    help) (( CURRENT == 3 )) && { _keyrole_list commands; compadd -a list } ;;
  esac
}
if [[ "\${funcstack[1]}" == _keyrole ]]; then _keyrole "$@"; else compdef _keyrole keyrole; fi
`;

const FISH = `# keyrole completion for fish. Load it with:
#   keyrole completion fish | source
# or save it as ~/.config/fish/completions/keyrole.fish
function __keyrole_list
    set -l cmd (commandline -opc)[1]
    $cmd completion --list $argv 2>/dev/null
end
function __keyrole_arg_of
    set -l words (commandline -opc)
    test (count $words) -eq 2; and contains -- $words[2] $argv
end
complete -c keyrole -f
complete -c keyrole -n __fish_use_subcommand -a "(__keyrole_list commands)"
complete -c keyrole -n "__keyrole_arg_of ${PROFILE_COMMANDS}" -a "(__keyrole_list profiles)"
complete -c keyrole -n "__keyrole_arg_of ${SOURCE_COMMANDS}" -a "(__keyrole_list sources)"
complete -c keyrole -n "__keyrole_arg_of cache" -a "list clear"
complete -c keyrole -n "__keyrole_arg_of login" -a "(__keyrole_list sessions) (__keyrole_list profiles)"
complete -c keyrole -n "__keyrole_arg_of sso" -a "populate logout"
complete -c keyrole -n "__fish_seen_subcommand_from populate logout" -a "(__keyrole_list sessions)"
complete -c keyrole -n "__fish_seen_subcommand_from import" -l dry-run -l yes -l force
complete -c keyrole -n "__fish_seen_subcommand_from import" -l profile -x -a "(__keyrole_list credentials)"
complete -c keyrole -n "__keyrole_arg_of completion" -a "bash zsh fish"
complete -c keyrole -n "__fish_seen_subcommand_from export" -l format -x -a "env json powershell fish"
complete -c keyrole -n "__fish_seen_subcommand_from process cache console" -l cache -x -a "keychain file none"
complete -c keyrole -n "__fish_seen_subcommand_from console" -l url -d "print the sign-in URL"
complete -c keyrole -n "__fish_seen_subcommand_from console" -l destination -x -a "s3 ec2 iam cloudwatch lambda"
complete -c keyrole -n "__fish_seen_subcommand_from rotate" -l profile -x -a "(__keyrole_list profiles)"
complete -c keyrole -l debug -d "trace to stderr"
complete -c keyrole -s h -l help -d "help"
`;

export const SCRIPTS: Record<string, string> = { bash: BASH, zsh: ZSH, fish: FISH };

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('completion', argv, { list: { type: 'string' } });
  if (v.list !== undefined) return listNames(v.list);
  const shell = positionals[0];
  if (positionals.length !== 1 || !Object.hasOwn(SCRIPTS, shell)) {
    throw usageError(`${shell === undefined ? 'no shell given' : `shell ${JSON.stringify(shell)} is not one keyrole completes`}`, 'use keyrole completion bash, zsh or fish');
  }
  process.stdout.write(SCRIPTS[shell]);
}

/** Names for the scripts, one a line; nothing (not an error) when they cannot be read. */
async function listNames(what: string): Promise<void> {
  let names: string[] = [];
  try {
    if (what === 'commands') names = COMMANDS.map((c) => c.name);
    // Every profile, dotted names (what sso populate writes) included; not the sso-session and services sections.
    else if (what === 'profiles') names = profileNames((await loadAwsFiles()).config).sort();
    else if (what === 'sessions') names = Object.keys((await loadAwsFiles()).config).filter((n) => n.startsWith('sso-session.')).map((n) => n.slice('sso-session.'.length)).sort();
    else if (what === 'credentials') names = Object.keys((await loadAwsFiles()).credentials).filter((n) => !n.includes('.')).sort();
    else if (what === 'sources') names = listSources();
    else throw usageError(`--list ${JSON.stringify(what)} is not known`, 'use --list profiles, sessions, credentials, sources or commands');
  } catch (err) {
    if ((err as { code?: string }).code === 'Usage') throw err;
  }
  if (names.length) process.stdout.write(`${names.join('\n')}\n`);
}
