// `lokt mcp`: a Model Context Protocol server on stdin/stdout, through which an
// AI agent takes, renews and releases locks as tools. Its holds belong to the
// server process, which the agent's client starts and stops with the session.
// `lokt mcp install --claude|--cursor|--codex|--gemini` writes the project
// configuration that makes each agent start it.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "client/commands/commands.hpp"
#include "client/daemon_backend.hpp"
#include "client/mcp/agent_config.hpp"
#include "client/mcp/claude_hook_config.hpp"
#include "client/mcp/server.hpp"
#include "client/reservation_views.hpp"

namespace lokt::client {
namespace {

namespace fs = std::filesystem;

struct McpFlags {
    std::string action;  // "" (serve) or "install"
    bool claude = false;
    bool cursor = false;
    bool codex = false;
    bool gemini = false;
    bool print = false;
    std::string dir;
    std::string command = "lokt";
};

// The top of the working tree (the directory holding .git), else the current one.
fs::path project_top() {
    std::error_code ec;
    const fs::path cwd = fs::current_path(ec);
    for (fs::path dir = cwd; !dir.empty(); dir = dir.parent_path()) {
        if (fs::exists(dir / ".git", ec)) return dir;
        if (dir == dir.root_path()) break;
    }
    return cwd;
}

int run_install(const McpFlags& flags) {
    std::vector<mcp::Agent> agents;
    if (flags.claude) agents.push_back(mcp::Agent::claude);
    if (flags.cursor) agents.push_back(mcp::Agent::cursor);
    if (flags.codex) agents.push_back(mcp::Agent::codex);
    if (flags.gemini) agents.push_back(mcp::Agent::gemini);
    if (agents.empty()) return report(make_error(ErrorCode::usage, "name an agent: --claude, --cursor, --codex or --gemini"));
    const fs::path project = flags.dir.empty() ? project_top() : fs::path(flags.dir);
    // Claude Code gets two files: the MCP server, and the hook that refuses
    // edits of paths another agent reserved.
    std::vector<std::pair<mcp::Agent, Result<mcp::ConfigPlan>>> plans;
    for (const mcp::Agent agent : agents) {
        plans.emplace_back(agent, mcp::plan_agent_config(agent, project, flags.command));
        if (agent == mcp::Agent::claude) plans.emplace_back(agent, mcp::plan_claude_hook_config(project, flags.command));
    }
    int status = 0;
    for (auto& [agent, plan] : plans) {
        if (!plan) {
            status = report(plan.error());
            continue;
        }
        if (flags.print) {
            if (plans.size() > 1) std::printf("# %s\n", plan->path.string().c_str());
            std::fputs(plan->after.c_str(), stdout);
            continue;
        }
        if (!plan->changed()) {
            std::printf("%s: %s already has lokt's entry; left as it was\n", std::string(mcp::agent_title(agent)).c_str(),
                        plan->path.string().c_str());
            continue;
        }
        if (auto written = mcp::apply_config(*plan); !written) {
            status = report(written.error());
            continue;
        }
        std::printf("%s: %s %s\n", std::string(mcp::agent_title(agent)).c_str(), plan->existed ? "updated" : "wrote",
                    plan->path.string().c_str());
    }
    return status;
}

int run_mcp(CliContext& cli, const McpFlags& flags) {
    if (flags.action == "install") return run_install(flags);
    if (flags.claude || flags.cursor || flags.codex || flags.gemini || flags.print || !flags.dir.empty()) {
        return report(
            make_error(ErrorCode::usage, "--claude, --cursor, --codex, --gemini, --print and --dir go with 'lokt mcp install'"));
    }
    // A waiting acquire reports its place in the daemon's queue to the client.
    request_daemon_progress();
    auto backend = cli.backend(false);
    if (!backend) return report(backend.error());
    // Path reservations are kept in the root's files, with or without loktd.
    auto open_book = [&cli] { return open_reservations(cli, false); };
    return mcp::serve(**backend, cli.identity(), open_book, STDIN_FILENO, STDOUT_FILENO, cli.options().quiet);
}

}  // namespace

CommandSpec mcp_command(CommandEnv env) {
    auto flags = std::make_shared<McpFlags>();
    CommandSpec command{"mcp", "Serve lokt's locks to an AI agent over the Model Context Protocol (stdio), or install it"};
    command.option("action", flags->action, "install: write an agent's MCP configuration for this project").choices({"install"});
    command.flag("--claude", flags->claude, "install: Claude Code (.mcp.json, and the edit hook in .claude/settings.json)");
    command.flag("--cursor", flags->cursor, "install: Cursor (.cursor/mcp.json)");
    command.flag("--codex", flags->codex, "install: Codex (.codex/config.toml)");
    command.flag("--gemini", flags->gemini, "install: Gemini CLI (.gemini/settings.json)");
    command.flag("--print", flags->print, "install: print the file as it would be, write nothing");
    command.option("--dir", flags->dir, "install: the project folder (default: the top of the git work tree)")
        .value_name_is("DIR");
    command.option("--command", flags->command, "install: how the agent runs lokt (default: lokt, found on PATH)");
    command.footer = R"(Examples:
  lokt mcp install --claude            (then start Claude Code in this project)
  lokt mcp install --cursor --codex --gemini
  lokt mcp install --codex --print

lokt mcp itself is started by the agent's MCP client, not by hand. It speaks
MCP 2025-03-26, 2025-06-18, 2025-11-25 (initialize) and 2026-07-28
(server/discover, the version in _meta). Tools: acquire, release, renew,
status, why, reserve, unreserve, check_paths. Holds and path reservations
taken through it end when it exits, however it exits.
install merges lokt's entries into the files (for --claude also the
PreToolUse hook in .claude/settings.json), keeping every other server, hook and
key; a second run changes nothing.

Exit status: 0 success (serving: the client closed the connection), 1 error,
64 usage error.)";
    command.run = [env, flags] { *env.exit_status = run_mcp(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
