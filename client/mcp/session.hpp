// The MCP server's side of the conversation: JSON-RPC 2.0 requests in, results
// and errors out, for both eras clients speak. A client that opens with
// `initialize` (2025-03-26, 2025-06-18, 2025-11-25) gets the negotiated
// version's shapes; a request that carries its version in
// `_meta["io.modelcontextprotocol/protocolVersion"]` (2026-07-28, with
// `server/discover`) is answered statelessly, on its own. Tools are looked up
// in the registry; nothing here knows what a lock is.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client/mcp/stdio_channel.hpp"
#include "client/mcp/tool.hpp"

namespace lokt::client::mcp {

// The versions answered to `initialize`, newest first.
inline constexpr std::string_view k_legacy_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};
// The stateless revision, whose requests carry the version in `_meta`.
inline constexpr std::string_view k_modern_version = "2026-07-28";

class Session {
public:
    Session(StdioChannel& channel, std::vector<std::unique_ptr<Tool>> tools, HoldBook& holds, SessionReservations& reservations);
    ~Session();

    // Handles one message (a line from the client) and sends what it calls for.
    // An error: the client can no longer be written to (shut down).
    Result<void> handle(std::string_view line);
    // Answers a line that was too long to read (a parse error).
    Result<void> reject_oversized();

    // For tests and logs: the version `initialize` settled on, if any.
    const std::string& negotiated() const { return m_negotiated; }

private:
    struct Impl;
    std::string m_negotiated;  // before m_impl, which refers to it
    std::unique_ptr<Impl> m_impl;
};

}  // namespace lokt::client::mcp
