// `lokt mcp`: a Model Context Protocol server on stdin/stdout, through which an
// AI agent takes, renews and releases locks as tools. Its holds belong to the
// server process, which the agent's client starts and stops with the session.
#include <unistd.h>

#include <memory>

#include "client/commands/commands.hpp"
#include "client/daemon_backend.hpp"
#include "client/mcp/server.hpp"

namespace lokt::client {
namespace {

struct McpFlags {};

int run_mcp(CliContext& cli, const McpFlags&) {
    // A waiting acquire reports its place in the daemon's queue to the client.
    request_daemon_progress();
    auto backend = cli.backend(false);
    if (!backend) return report(backend.error());
    return mcp::serve(**backend, cli.identity(), STDIN_FILENO, STDOUT_FILENO, cli.options().quiet);
}

}  // namespace

CommandSpec mcp_command(CommandEnv env) {
    auto flags = std::make_shared<McpFlags>();
    CommandSpec command{"mcp", "Serve lokt's locks to an AI agent over the Model Context Protocol (stdio)"};
    command.footer = R"(Examples:
  lokt mcp                      (started by the agent's MCP client, not by hand)
  claude mcp add lokt -- lokt mcp

Speaks MCP 2025-03-26, 2025-06-18, 2025-11-25 (initialize) and 2026-07-28
(server/discover, the version in _meta). Tools: acquire, release, renew,
status, why. Holds taken through it end when it exits, however it exits.

Exit status: 0 when the client closed the connection, 1 error.)";
    command.run = [env, flags] { *env.exit_status = run_mcp(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
