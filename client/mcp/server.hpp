// `lokt mcp`'s main loop: reads the client's messages, answers them, releases
// holds whose TTL ran out, and at the end of input (or SIGTERM, SIGINT,
// SIGHUP) releases every hold and removes every path reservation it still has
// and returns.
#pragma once

#include "client/backend.hpp"
#include "client/mcp/session_reservations.hpp"

namespace lokt::client::mcp {

// Serves one MCP client on in_fd/out_fd; the exit status. Logs go to stderr
// (nothing with quiet). open_reservations opens the root's reservation book
// when a tool first needs it.
int serve(Backend& backend, const Identity& identity, SessionReservations::Opener open_reservations, int in_fd, int out_fd,
          bool quiet);

}  // namespace lokt::client::mcp
