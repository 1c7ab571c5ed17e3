# bash completion for lokt(1). The candidates come from lokt itself
# (`lokt __complete WORD...` prints one per line for the last word), so this
# script knows nothing about commands, flags or lock names. After guard's "--"
# the rest of the line is a command of its own and is completed as one.

_lokt() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local lokt=${COMP_WORDS[0]} i
    # A lokt typed as a path (build/client/lokt) is asked directly; "~/" is expanded.
    [[ $lokt == "~/"* ]] && lokt=$HOME/${lokt#"~/"}
    [[ $lokt == */* && -x $lokt ]] || lokt=lokt

    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == -- ]]; then
            if declare -F _command_offset >/dev/null; then
                _command_offset $((i + 1))   # bash-completion: complete CMD as if typed alone
            elif ((i + 1 == COMP_CWORD)); then
                COMPREPLY=($(compgen -c -- "$cur"))
            else
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
            return 0
        fi
    done

    COMPREPLY=()
    local candidate
    while IFS= read -r candidate; do
        [[ -n $candidate ]] && COMPREPLY+=("$candidate")
    done < <("$lokt" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    return 0
}

complete -F _lokt lokt
