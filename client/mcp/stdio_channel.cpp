// See stdio_channel.hpp.
#include "client/mcp/stdio_channel.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lokt::client::mcp {

std::optional<StdioChannel::Read> StdioChannel::take_line(std::string& line) {
    for (;;) {
        const std::size_t newline = m_buffer.find('\n');
        if (newline == std::string::npos) {
            if (m_buffer.size() > k_max_message_bytes) {
                m_buffer.clear();
                if (!m_skipping) {
                    m_skipping = true;
                    return Read::oversized;
                }
            }
            return std::nullopt;
        }
        if (m_skipping) {
            m_buffer.erase(0, newline + 1);
            m_skipping = false;
            continue;
        }
        if (newline > k_max_message_bytes) {
            m_buffer.erase(0, newline + 1);
            return Read::oversized;
        }
        line.assign(m_buffer, 0, newline);
        m_buffer.erase(0, newline + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return Read::line;
    }
}

StdioChannel::Read StdioChannel::next(std::optional<std::chrono::milliseconds> timeout, std::string& line) {
    const auto deadline = timeout ? std::optional(std::chrono::steady_clock::now() + *timeout) : std::nullopt;
    for (;;) {
        if (auto taken = take_line(line)) return *taken;
        if (m_eof) {
            // A last message without its newline still counts.
            if (!m_buffer.empty() && !m_skipping) {
                line = std::move(m_buffer);
                m_buffer.clear();
                return Read::line;
            }
            return Read::closed;
        }
        int wait_ms = -1;
        if (deadline) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return Read::timeout;
            wait_ms = static_cast<int>(std::min<std::int64_t>(left.count(), 60 * 60 * 1000));
        }
        pollfd in{m_in, POLLIN, 0};
        const int ready = ::poll(&in, 1, wait_ms);
        if (ready < 0) {
            if (errno == EINTR) return Read::interrupted;
            return Read::closed;
        }
        if (ready == 0) continue;  // the deadline is checked above
        char chunk[65536];
        const ssize_t got = ::read(m_in, chunk, sizeof chunk);
        if (got < 0) {
            if (errno == EINTR) return Read::interrupted;
            if (errno == EAGAIN) continue;
            m_eof = true;
            continue;
        }
        if (got == 0) {
            m_eof = true;
            continue;
        }
        m_buffer.append(chunk, static_cast<std::size_t>(got));
    }
}

Result<void> StdioChannel::send(std::string_view message) {
    std::string framed;
    framed.reserve(message.size() + 1);
    framed.append(message);
    framed.push_back('\n');
    std::size_t done = 0;
    while (done < framed.size()) {
        const ssize_t wrote = ::write(m_out, framed.data() + done, framed.size() - done);
        if (wrote < 0) {
            if (errno == EINTR) continue;
            return make_error(ErrorCode::io, std::string("writing to the MCP client: ") + std::strerror(errno));
        }
        done += static_cast<std::size_t>(wrote);
    }
    return {};
}

}  // namespace lokt::client::mcp
