// The MCP stdio transport's framing: one JSON-RPC message per line on stdin,
// one per line on stdout, and nothing else ever written to stdout (logs go to
// stderr). Kept apart from the protocol so that the session can be driven by
// any pair of descriptors (tests, a socket).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace lokt::client::mcp {

// The longest message accepted; a longer line is skipped whole and answered
// with a parse error (a client that sends megabytes of JSON to a lock server
// is broken, and buffering it without bound would let it exhaust memory).
inline constexpr std::size_t k_max_message_bytes = 4 * 1024 * 1024;

class StdioChannel {
public:
    StdioChannel(int in_fd, int out_fd) : m_in(in_fd), m_out(out_fd) {}

    enum class Read {
        line,         // `line` holds the next message (without its newline)
        oversized,    // a line longer than k_max_message_bytes was skipped
        timeout,      // nothing complete arrived in time
        closed,       // end of input (the client is gone): shut down
        interrupted,  // a signal arrived while waiting
    };
    // Waits up to `timeout` (forever when nullopt) for the next whole line.
    Read next(std::optional<std::chrono::milliseconds> timeout, std::string& line);
    // Writes one message and its newline in full. The message must not contain
    // a raw newline (JSON serialised compactly never does).
    Result<void> send(std::string_view message);

private:
    // Takes a complete line out of the buffer, if there is one.
    std::optional<Read> take_line(std::string& line);

    int m_in;
    int m_out;
    std::string m_buffer;
    bool m_skipping = false;  // inside an oversized line, until its newline
    bool m_eof = false;
};

}  // namespace lokt::client::mcp
