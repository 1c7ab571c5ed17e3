// See audit_log_tail.hpp.
#include "client/audit_log_tail.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <string_view>

#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"

namespace lokt::client {
namespace {

// Enough for a few dozen audit lines (each is a few hundred bytes).
constexpr std::size_t k_tail_bytes = 64 * 1024;

}  // namespace

std::vector<AuditEvent> latest_audit_events(const std::filesystem::path& log_path, std::size_t count) {
    std::vector<AuditEvent> events;
    if (count == 0) return events;
    UniqueFd fd(::open(log_path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_size <= 0) return events;
    const auto size = static_cast<std::size_t>(st.st_size);
    const std::size_t start = size > k_tail_bytes ? size - k_tail_bytes : 0;
    std::string text(size - start, '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const ssize_t n = ::pread(fd.get(), text.data() + got, text.size() - got, static_cast<off_t>(start + got));
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    std::string_view rest(text);
    // Started mid-line: the first piece is not a whole line.
    if (start > 0) {
        const auto newline = rest.find('\n');
        rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    }
    // Walk back from the end: only the last `count` are wanted.
    while (!rest.empty() && events.size() < count) {
        if (rest.back() == '\n') rest.remove_suffix(1);
        const auto newline = rest.rfind('\n');
        const std::string_view line = newline == std::string_view::npos ? rest : rest.substr(newline + 1);
        if (auto event = parse_audit_line(line)) events.push_back(std::move(*event));
        rest = newline == std::string_view::npos ? std::string_view() : rest.substr(0, newline + 1);
        if (newline == std::string_view::npos) break;
    }
    std::reverse(events.begin(), events.end());
    return events;
}

Result<std::optional<WallTime>> time_of_last_audit_lines(const std::filesystem::path& log, const AuditQuery& query,
                                                         std::size_t count) {
    if (count == 0) return std::optional<WallTime>{};
    UniqueFd fd(::open(log.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) {
        if (errno == ENOENT) return std::optional<WallTime>{};
        return sys_error("cannot open", log.string(), errno);
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) return sys_error("cannot read", log.string(), errno);
    const auto size = static_cast<std::size_t>(info.st_size);
    std::string text;
    for (std::size_t window = 64 * 1024;; window *= 4) {
        const std::size_t start = window >= size ? 0 : size - window;
        text.resize(size - start);
        std::size_t got = 0;
        while (got < text.size()) {
            const ssize_t n = ::pread(fd.get(), text.data() + got, text.size() - got, static_cast<off_t>(start + got));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return sys_error("cannot read", log.string(), errno);
            if (n == 0) break;
            got += static_cast<std::size_t>(n);
        }
        text.resize(got);
        std::vector<WallTime> times;
        std::size_t pos = 0;
        if (start > 0) pos = text.find('\n') == std::string::npos ? text.size() : text.find('\n') + 1;  // a partial line
        while (pos < text.size()) {
            const std::size_t nl = text.find('\n', pos);
            if (nl == std::string::npos) break;  // being written
            auto event = parse_audit_line(std::string_view(text).substr(pos, nl - pos));
            if (event && audit_event_matches(*event, query)) times.push_back(event->ts);
            pos = nl + 1;
        }
        if (times.size() >= count) return std::optional<WallTime>{times[times.size() - count]};
        if (start == 0) return std::optional<WallTime>{};
    }
}

}  // namespace lokt::client
