// See audit_seek.hpp.
#include "common/audit_seek.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "common/audit_log.hpp"
#include "common/sys_error.hpp"

namespace lokt {
namespace {

constexpr std::size_t k_window = 64 * 1024;          // what one probe reads
constexpr std::size_t k_large_window = 1024 * 1024;  // for lines longer than usual

// The bytes of a log, from a string or a file: bytes(offset, n) returns at
// most n bytes from offset (fewer at the end of the log).
class LogBytes {
public:
    virtual ~LogBytes() = default;
    virtual std::size_t size() const = 0;
    virtual Result<std::string_view> bytes(std::size_t offset, std::size_t n) = 0;
};

class TextBytes final : public LogBytes {
public:
    explicit TextBytes(std::string_view text) : m_text(text) {}
    std::size_t size() const override { return m_text.size(); }
    Result<std::string_view> bytes(std::size_t offset, std::size_t n) override { return m_text.substr(offset, n); }

private:
    std::string_view m_text;
};

class FileBytes final : public LogBytes {
public:
    FileBytes(int fd, std::size_t size, const std::string& display_path) : m_fd(fd), m_size(size), m_display_path(display_path) {}
    std::size_t size() const override { return m_size; }
    Result<std::string_view> bytes(std::size_t offset, std::size_t n) override {
        n = std::min(n, m_size - std::min(offset, m_size));
        m_buffer.resize(n);
        std::size_t got = 0;
        while (got < n) {
            const ssize_t r = ::pread(m_fd, m_buffer.data() + got, n - got, static_cast<off_t>(offset + got));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return sys_error("cannot read", m_display_path, errno);
            if (r == 0) break;  // the log shrank under us: judge what is there
            got += static_cast<std::size_t>(r);
        }
        return std::string_view(m_buffer.data(), got);
    }

private:
    int m_fd;
    std::size_t m_size;
    const std::string& m_display_path;
    std::string m_buffer;
};

// The start of the first line that starts at or after offset (size if none).
Result<std::size_t> line_start_from(LogBytes& log, std::size_t offset) {
    if (offset == 0) return std::size_t{0};
    std::size_t at = offset - 1;  // the byte before: a newline there means offset starts a line
    while (at < log.size()) {
        LOKT_TRY_LET(read, log.bytes(at, k_window));
        const std::string_view window = *read;
        if (window.empty()) break;
        if (const auto newline = window.find('\n'); newline != std::string_view::npos) return at + newline + 1;
        at += window.size();
    }
    return log.size();
}

struct Judgement {
    WallTime newest;
    std::size_t end;  // just past the last line looked at
};

// The newest time among k_audit_seek_lines parseable lines from start, when
// there are that many complete lines in reach; nothing otherwise (near the end
// of the log, or among long or unreadable lines), and the probe then proves
// nothing.
Result<std::optional<Judgement>> judge(LogBytes& log, std::size_t start) {
    for (const std::size_t reach : {k_window, k_large_window}) {
        LOKT_TRY_LET(read, log.bytes(start, reach));
        const std::string_view window = *read;
        std::optional<WallTime> newest;
        int seen = 0;
        std::size_t pos = 0;
        while (seen < k_audit_seek_lines) {
            const auto newline = window.find('\n', pos);
            if (newline == std::string_view::npos) break;
            if (auto event = parse_audit_line(window.substr(pos, newline - pos))) {
                newest = newest ? std::max(*newest, event->ts) : event->ts;
                ++seen;
            }
            pos = newline + 1;
        }
        if (seen == k_audit_seek_lines) return std::optional<Judgement>(Judgement{*newest, start + pos});
        if (window.size() < reach) break;  // the end of the log is in this window
    }
    return std::optional<Judgement>{};
}

Result<std::size_t> seek(LogBytes& log, WallTime since) {
    const WallTime old_enough = since - k_audit_clock_tolerance;
    // Invariant: every line starting before lo is older than since (lines are
    // never more than the tolerance out of order); hi only narrows the search.
    std::size_t lo = 0;
    std::size_t hi = log.size();
    while (lo < hi) {
        LOKT_TRY_LET(found, line_start_from(log, lo + (hi - lo) / 2));
        std::size_t probe = *found;
        if (probe >= hi) probe = lo;  // no line starts in the upper half: judge from lo
        LOKT_TRY_LET(judged, judge(log, probe));
        if (*judged && (*judged)->newest < old_enough) {
            lo = (*judged)->end;  // these lines, and by the rule all before them, are older than since
        } else if (probe == lo) {
            return lo;
        } else {
            hi = probe;
        }
    }
    return std::min(lo, log.size());
}

}  // namespace

std::size_t audit_seek_offset(std::string_view text, WallTime since) {
    TextBytes log(text);
    auto offset = seek(log, since);
    return offset ? *offset : 0;  // a string cannot fail to read
}

Result<std::size_t> audit_seek_offset(int fd, std::size_t size, WallTime since, const std::string& display_path) {
    FileBytes log(fd, size, display_path);
    return seek(log, since);
}

}  // namespace lokt
