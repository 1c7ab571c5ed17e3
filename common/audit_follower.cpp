// See audit_follower.hpp.
#include "common/audit_follower.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/audit_seek.hpp"
#include "common/platform/file_events.hpp"
#include "common/sys_error.hpp"

namespace lokt {
namespace {

constexpr std::size_t k_read_chunk = 64 * 1024;

// The log as it is now: open, a regular file, and its size and identity.
struct OpenLog {
    UniqueFd fd;
    struct stat info {};
};

std::optional<OpenLog> open_log(const std::filesystem::path& path) {
    OpenLog log;
    log.fd.reset(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!log.fd || ::fstat(log.fd.get(), &log.info) != 0 || !S_ISREG(log.info.st_mode)) return std::nullopt;
    return log;
}

}  // namespace

AuditFollower::AuditFollower(std::filesystem::path root, std::size_t longest_line)
    : m_root(std::move(root)), m_path(m_root / "audit.log"), m_longest_line(longest_line) {}

void AuditFollower::start_at_end() {
    restart();
    if (auto log = open_log(m_path)) {
        m_offset = static_cast<std::size_t>(log->info.st_size);
        m_file = FileId{log->info.st_dev, log->info.st_ino};
    }
}

Result<void> AuditFollower::start_with_history(const AuditQuery& query, const Visitor& visit) {
    restart();
    auto log = open_log(m_path);
    if (!log) return {};
    const auto size = static_cast<std::size_t>(log->info.st_size);
    LOKT_TRY_LET(reached, read_audit_prefix(log->fd.get(), m_path.string(), size, query, visit));
    m_offset = *reached;
    m_file = FileId{log->info.st_dev, log->info.st_ino};
    return {};
}

std::size_t AuditFollower::start_at_time(WallTime since) {
    restart();
    auto log = open_log(m_path);
    if (!log) return 0;
    const auto size = static_cast<std::size_t>(log->info.st_size);
    m_file = FileId{log->info.st_dev, log->info.st_ino};
    if (size == 0) return 0;
    // Unreadable: read from the top; the time filter skips the older lines.
    auto offset = audit_seek_offset(log->fd.get(), size, since, m_path.string());
    m_offset = offset ? *offset : 0;
    return size;
}

void AuditFollower::restart() {
    m_offset = 0;
    m_partial.clear();
    m_last_line.clear();
    m_line_before.clear();
    m_last_line_start = 0;
    m_file.reset();
}

namespace {

bool still_there(int fd, std::size_t offset, const std::string& text) {
    std::string check(text.size(), '\0');
    const ssize_t got = ::pread(fd, check.data(), check.size(), static_cast<off_t>(offset));
    return got == static_cast<ssize_t>(check.size()) && check == text;
}

}  // namespace

void AuditFollower::forget_taken_back(int fd) {
    // A writer takes back its last line when the disk cut it short or the
    // change it announced failed, and the next line goes where it was.
    const std::size_t partial_start = m_offset - m_partial.size();
    if (!m_partial.empty() && !still_there(fd, partial_start, m_partial)) {
        m_partial.clear();
        m_offset = partial_start;
    }
    if (m_last_line.empty() || still_there(fd, m_last_line_start, m_last_line)) return;
    // Our last whole line is gone. Taken back, if the one before is intact
    // (a whole line already handed on stays handed on); otherwise the log
    // was truncated or rewritten, and is read again from the top.
    if (!m_line_before.empty() && m_last_line_start >= m_line_before.size() &&
        still_there(fd, m_last_line_start - m_line_before.size(), m_line_before)) {
        m_offset = m_last_line_start;
        m_partial.clear();
        m_last_line.clear();
        return;
    }
    restart();
}

bool AuditFollower::read_new(const AuditQuery& query, const Visitor& visit, std::size_t max_bytes) {
    auto log = open_log(m_path);
    if (!log) return false;
    const FileId file{log->info.st_dev, log->info.st_ino};
    const auto size = static_cast<std::size_t>(log->info.st_size);
    if (m_file && *m_file == file) forget_taken_back(log->fd.get());
    if ((m_file && *m_file != file) || size < m_offset) restart();  // replaced or truncated: start over
    m_file = file;
    std::string needle;
    if (!query.name.empty()) needle = "\"" + query.name + "\"";  // a cheap pre-filter before parsing
    std::string chunk(k_read_chunk, '\0');
    std::size_t read = 0;
    while (m_offset < size) {
        if (read >= max_bytes) return true;
        const auto want = std::min(k_read_chunk, size - m_offset);
        const ssize_t got = ::pread(log->fd.get(), chunk.data(), want, static_cast<off_t>(m_offset));
        if (got <= 0) break;
        m_offset += static_cast<std::size_t>(got);
        read += static_cast<std::size_t>(got);
        m_partial.append(chunk.data(), static_cast<std::size_t>(got));
        std::size_t start = 0;
        for (std::size_t newline; (newline = m_partial.find('\n', start)) != std::string::npos; start = newline + 1) {
            const std::string_view line(m_partial.data() + start, newline - start);
            m_line_before = std::move(m_last_line);
            m_last_line.assign(m_partial, start, newline + 1 - start);
            m_last_line_start = m_offset - m_partial.size() + start;
            if (line.empty() || (!needle.empty() && line.find(needle) == std::string_view::npos)) continue;
            auto event = parse_audit_line(line);
            if (!event || !audit_event_matches(*event, query)) continue;  // readers skip what they cannot parse
            visit(line, *event);
        }
        m_partial.erase(0, start);
        if (m_partial.size() > m_longest_line) m_partial.clear();
    }
    return false;
}

Result<void> AuditFollower::watch() {
    m_watch = platform::open_file_event_queue();
    if (!m_watch) return sys_error("cannot watch", m_root.string(), errno);
    const auto events = platform::file_created | platform::file_moved_in | platform::file_modified | platform::file_deleted;
    if (platform::add_file_watch(m_watch.get(), m_root, events) < 0) {
        const int error = errno;
        m_watch.reset();
        return sys_error("cannot watch", m_root.string(), error);
    }
    return {};
}

Result<void> AuditFollower::wait() {
    struct pollfd ready = {m_watch.get(), POLLIN, 0};
    if (::poll(&ready, 1, -1) < 0 && errno != EINTR) {
        return sys_error("cannot watch", m_root.string(), errno);
    }
    bool replaced = false;
    platform::read_file_events(m_watch.get(), [&](const platform::FileEventRecord& event) {
        const auto renamed = platform::file_deleted | platform::file_moved_in | platform::file_created;
        if (event.name == "audit.log" && (event.events & renamed) != 0) replaced = true;
    });
    if (replaced) restart();  // a new file under the name: read it from the top
    return {};
}

}  // namespace lokt
