// Cuts a byte stream from a socket into lines: one JSON message per line.
// Reads arrive split anywhere, so bytes are buffered until a '\n' completes a
// line. An over-long line is a state the caller ends by closing the connection,
// which bounds what a misbehaving peer can make the reader hold in memory.
#pragma once

#include "common/result.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace lokt::protocol {

// The longest request line loktd accepts, counted without its '\n' (a '\r'
// before the '\n' counts). Longer lines close the connection.
inline constexpr std::size_t k_max_line_bytes = 64 * 1024;

// The longest line lokt accepts from loktd. Replies such as `status` grow with
// the number of locks in a root, and the daemon is trusted (same user, checked
// socket), so this limit only stops a runaway peer.
inline constexpr std::size_t k_max_server_line_bytes = 16 * 1024 * 1024;

class LineFramer {
public:
    explicit LineFramer(std::size_t max_line_bytes = k_max_line_bytes);

    // Appends bytes read from the stream. Ignored once the framer is too_long().
    void feed(std::string_view bytes);

    // The next complete line without its "\n" and without one "\r" right before
    // it. Empty lines are skipped. Returns nullopt when no complete line is
    // buffered, or when the next line is over the limit: check too_long().
    std::optional<std::string> next_line();

    // True once a line longer than the limit was seen. Lines completed before
    // it have been returned by next_line(); nothing after it ever is.
    bool too_long() const { return m_too_long; }

    // The error to report before closing the connection when too_long().
    Error too_long_error() const;

    // Bytes of an incomplete last line (what is lost if the peer closes now).
    std::size_t pending_bytes() const { return m_buffer.size() - m_line_start; }

    std::size_t max_line_bytes() const { return m_max_line_bytes; }

private:
    void compact();

    std::size_t m_max_line_bytes;
    std::string m_buffer;
    std::size_t m_line_start = 0;  // first byte of the current line in m_buffer
    std::size_t m_scan_pos = 0;    // bytes before this are known not to be '\n'
    bool m_too_long = false;
};

}  // namespace lokt::protocol
