// Line framing for the lokt wire protocol: see line_framer.hpp and docs/protocol.md.
#include "protocol/line_framer.hpp"

#include <string>

namespace lokt::protocol {

LineFramer::LineFramer(std::size_t max_line_bytes) : m_max_line_bytes(max_line_bytes) {}

void LineFramer::feed(std::string_view bytes) {
    if (m_too_long) return;
    m_buffer.append(bytes);
}

std::optional<std::string> LineFramer::next_line() {
    while (!m_too_long) {
        const std::size_t newline = m_buffer.find('\n', m_scan_pos);
        if (newline == std::string::npos) {
            // Judge the limit on what is buffered so far, so that a peer cannot
            // make us hold more than one line's worth by never sending '\n'.
            if (m_buffer.size() - m_line_start > m_max_line_bytes) {
                m_too_long = true;
                break;
            }
            m_scan_pos = m_buffer.size();
            compact();
            return std::nullopt;
        }
        const std::size_t length = newline - m_line_start;
        if (length > m_max_line_bytes) {
            m_too_long = true;
            break;
        }
        std::size_t content = length;
        if (content > 0 && m_buffer[m_line_start + content - 1] == '\r') --content;
        std::string line = m_buffer.substr(m_line_start, content);
        m_line_start = newline + 1;
        m_scan_pos = m_line_start;
        if (!line.empty()) return line;
    }
    // Nothing after an over-long line is ever delivered: drop the buffer.
    m_buffer.clear();
    m_buffer.shrink_to_fit();
    m_line_start = 0;
    m_scan_pos = 0;
    return std::nullopt;
}

Error LineFramer::too_long_error() const {
    return make_error(ErrorCode::usage,
                      "line longer than " + std::to_string(m_max_line_bytes) + " bytes; closing the connection");
}

void LineFramer::compact() {
    if (m_line_start == 0) return;
    m_buffer.erase(0, m_line_start);
    m_scan_pos -= m_line_start;
    m_line_start = 0;
}

}  // namespace lokt::protocol
