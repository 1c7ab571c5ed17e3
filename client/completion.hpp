// `lokt __complete WORD...`: the candidates for the last word of a command line,
// one per line, for the bash, zsh and fish completion scripts. Command and flag
// names come from the commands' own descriptions; lock names from the lock root.
#pragma once

#include <string>
#include <vector>

#include "client/cli_context.hpp"
#include "client/command_spec.hpp"

namespace lokt::client {

// words: the command line after "lokt", the last one being completed (maybe "").
int print_completions(const std::vector<CommandSpec>& commands, CliContext& cli, const std::vector<std::string>& words);

}  // namespace lokt::client
