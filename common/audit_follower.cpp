// See audit_follower.hpp.
#include "common/audit_follower.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

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
    void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, log->fd.get(), 0);
    if (mapped == MAP_FAILED) return size;  // read from the top; the time filter skips the older lines
    m_offset = find_first_at_or_after(std::string_view(static_cast<const char*>(mapped), size), since);
    ::munmap(mapped, size);
    return size;
}

void AuditFollower::restart() {
    m_offset = 0;
    m_partial.clear();
    m_file.reset();
}

bool AuditFollower::read_new(const AuditQuery& query, const Visitor& visit, std::size_t max_bytes) {
    auto log = open_log(m_path);
    if (!log) return false;
    const FileId file{log->info.st_dev, log->info.st_ino};
    const auto size = static_cast<std::size_t>(log->info.st_size);
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
