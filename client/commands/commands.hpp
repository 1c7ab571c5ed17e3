// One function per command adds it to the CLI; each lives in its own file.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli_context.hpp"

namespace lokt::client {

// Shared by every command: the context, where to put the exit status, and the
// words after "--" (guard's command).
struct CommandEnv {
    CliContext* cli;
    int* exit_status;
    const std::vector<std::string>* after_dashes;
};

void add_guard_command(CLI::App& app, CommandEnv env);
void add_lock_command(CLI::App& app, CommandEnv env);
void add_unlock_command(CLI::App& app, CommandEnv env);
void add_status_command(CLI::App& app, CommandEnv env);
void add_exists_command(CLI::App& app, CommandEnv env);
void add_why_command(CLI::App& app, CommandEnv env);
void add_freeze_command(CLI::App& app, CommandEnv env);
void add_unfreeze_command(CLI::App& app, CommandEnv env);
void add_audit_command(CLI::App& app, CommandEnv env);
void add_doctor_command(CLI::App& app, CommandEnv env);
void add_daemon_command(CLI::App& app, CommandEnv env);
void add_version_command(CLI::App& app, CommandEnv env);
void add_prime_command(CLI::App& app, CommandEnv env);
void add_top_command(CLI::App& app, CommandEnv env);

}  // namespace lokt::client
