--- essh.cli.completion_scripts: the shell completion scripts `essh --bash-completion` and
--- `essh --zsh-completion` print. They ask `essh --complete=KIND` for the words, so what they
--- offer follows the config of the directory the shell is in.
local M = {}

M.bash = [=[
# essh completion for bash: eval "$(essh --bash-completion)"
_essh() {
  local cur prev words
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  case "$prev" in
    --select|--filter|--target)
      words=$( (essh --complete=hosts; essh --complete=tags) 2>/dev/null | cut -d: -f1) ;;
    --config|--output)
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
    *)
      if [[ "$cur" == -* ]]; then
        words=$(essh --complete=flags 2>/dev/null | cut -d: -f1)
      else
        words=$( (essh --complete=tasks; essh --complete=hosts) 2>/dev/null | cut -d: -f1)
      fi ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _essh essh
]=]

M.zsh = [=[
#compdef essh
# essh completion for zsh: eval "$(essh --zsh-completion)", or save it as _essh in $fpath.
_essh() {
  local -a items
  local line
  case "$words[CURRENT-1]" in
    --select|--filter|--target)
      for line in ${(f)"$(essh --complete=hosts 2>/dev/null; essh --complete=tags 2>/dev/null)"}; do
        items+=("${line%%:*}:${line#*:}")
      done
      _describe 'hosts and tags' items; return ;;
    --config|--output) _files; return ;;
  esac
  if [[ "$PREFIX" == -* ]]; then
    for line in ${(f)"$(essh --complete=flags 2>/dev/null)"}; do items+=("${line%%:*}:${line#*:}"); done
    _describe 'flags' items
  else
    local -a tasks hosts
    for line in ${(f)"$(essh --complete=tasks 2>/dev/null)"}; do tasks+=("${line%%:*}:${line#*:}"); done
    for line in ${(f)"$(essh --complete=hosts 2>/dev/null)"}; do hosts+=("${line%%:*}:${line#*:}"); done
    _describe 'tasks' tasks
    _describe 'hosts' hosts
  fi
}
if [ "$funcstack[1]" = "_essh" ]; then _essh "$@"; else compdef _essh essh; fi
]=]

M.aliases = [=[
# essh aliases: eval "$(essh --aliases)": scp and rsync that know essh's hosts.
function escp() {
    essh --exec 'scp -F "$ESSH_SSH_CONFIG"' "$@"
}
function ersync() {
    essh --exec 'rsync -e "ssh -F $ESSH_SSH_CONFIG"' "$@"
}
]=]

return M
