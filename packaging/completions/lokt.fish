# fish completion for lokt(1). The candidates come from lokt itself
# (`lokt __complete WORD...` prints one per line for the last word), so this
# script knows nothing about commands, flags or lock names. After guard's "--"
# the rest of the line is a command of its own and is completed as one.

function __lokt_complete
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    set -l lokt $tokens[1]
    if not string match -q -- '*/*' $lokt; or not test -x $lokt
        set lokt lokt
    end
    set -l dashes (contains -i -- -- $tokens)
    if test -n "$dashes"
        set -l command $tokens[(math $dashes + 1)..-1]
        complete -C (string join -- ' ' (string escape -- $command) "$current")
        return
    end
    $lokt __complete $tokens[2..-1] "$current" 2>/dev/null
end

complete -c lokt -f -a '(__lokt_complete)'
