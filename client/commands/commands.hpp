// One function per command describes it for the command line; each lives in
// its own file. None of them needs the argument parser (see command_spec.hpp).
#pragma once

#include <string>
#include <vector>

#include "client/cli_context.hpp"
#include "client/command_spec.hpp"

namespace lokt::client {

// Shared by every command: the context, where to put the exit status, and the
// words after "--" (guard's command).
struct CommandEnv {
    CliContext* cli;
    int* exit_status;
    const std::vector<std::string>* after_dashes;
};

CommandSpec guard_command(CommandEnv env);
CommandSpec lock_command(CommandEnv env);
CommandSpec unlock_command(CommandEnv env);
CommandSpec status_command(CommandEnv env);
CommandSpec exists_command(CommandEnv env);
CommandSpec why_command(CommandEnv env);
CommandSpec freeze_command(CommandEnv env);
CommandSpec unfreeze_command(CommandEnv env);
CommandSpec audit_command(CommandEnv env);
CommandSpec doctor_command(CommandEnv env);
CommandSpec daemon_command(CommandEnv env);
CommandSpec version_command(CommandEnv env);
CommandSpec prime_command(CommandEnv env);
CommandSpec top_command(CommandEnv env);
CommandSpec mcp_command(CommandEnv env);
CommandSpec reserve_command(CommandEnv env);
CommandSpec unreserve_command(CommandEnv env);
CommandSpec hook_command(CommandEnv env);

}  // namespace lokt::client
