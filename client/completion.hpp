// `lokt __complete WORD...`: the candidates for the last word of a command line,
// one per line, for the bash, zsh and fish completion scripts. Command and flag
// names come from the CLI definition itself; lock names from the lock root.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli_context.hpp"

namespace lokt::client {

// words: the command line after "lokt", the last one being completed (maybe "").
int print_completions(CLI::App& app, CliContext& cli, const std::vector<std::string>& words);

}  // namespace lokt::client
