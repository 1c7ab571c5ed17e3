// See audit_log.hpp.
#include "common/audit_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/sys_error.hpp"

namespace lokt {
namespace {

using Json = nlohmann::ordered_json;

// How long a writer waits for the log's lock before it appends without it.
constexpr std::chrono::seconds k_log_lock_patience{2};

// The timestamp of a line as we write it ({"ts":"...",...}) without a full parse.
std::optional<WallTime> quick_timestamp(std::string_view line) {
    constexpr std::string_view prefix = "{\"ts\":\"";
    if (line.starts_with(prefix)) {
        const auto end = line.find('"', prefix.size());
        if (end != std::string_view::npos) return parse_rfc3339(line.substr(prefix.size(), end - prefix.size()));
    }
    auto parsed = parse_audit_line(line);
    if (!parsed) return std::nullopt;
    return parsed->ts;
}

std::size_t next_line_start(std::string_view text, std::size_t pos) {
    const auto newline = text.find('\n', pos);
    return newline == std::string_view::npos ? text.size() : newline + 1;
}

std::string_view line_at(std::string_view text, std::size_t start) {
    const auto newline = text.find('\n', start);
    return text.substr(start, newline == std::string_view::npos ? std::string_view::npos : newline - start);
}

}  // namespace

AuditEvent make_audit_event(std::string_view event, std::string_view name, const Identity& actor) {
    AuditEvent e;
    e.ts = wall_now();
    e.event = event;
    e.name = name;
    e.owner = actor.owner;
    e.host = actor.host;
    e.pid = actor.pid;
    e.agent_id = actor.agent_id;
    return e;
}

std::string serialize_audit_event(const AuditEvent& e) {
    Json json;
    json["ts"] = format_rfc3339(e.ts);
    json["event"] = e.event;
    json["name"] = e.name;
    if (!e.lock_id.empty()) json["lock_id"] = e.lock_id;
    if (!e.owner.empty()) json["owner"] = e.owner;
    if (!e.host.empty()) json["host"] = e.host;
    if (e.pid != 0) json["pid"] = e.pid;
    if (!e.agent_id.empty()) json["agent_id"] = e.agent_id;
    if (e.ttl_sec != 0) json["ttl_sec"] = e.ttl_sec;
    if (!e.extra_json.empty()) {
        Json extra = Json::parse(e.extra_json, nullptr, false);
        if (extra.is_object() && !extra.empty()) json["extra"] = std::move(extra);
    }
    return json.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
}

std::optional<AuditEvent> parse_audit_line(std::string_view line) {
    Json json = Json::parse(line.begin(), line.end(), nullptr, false);
    if (json.is_discarded() || !json.is_object()) return std::nullopt;
    AuditEvent e;
    auto ts = json.find("ts");
    if (ts == json.end() || !ts->is_string()) return std::nullopt;
    auto time = parse_rfc3339(ts->get<std::string>());
    if (!time) return std::nullopt;
    e.ts = *time;
    auto string_field = [&](const char* key, std::string& out) {
        if (auto it = json.find(key); it != json.end() && it->is_string()) out = it->get<std::string>();
    };
    auto int_field = [&](const char* key, std::int64_t& out) {
        if (auto it = json.find(key); it != json.end() && it->is_number_integer()) out = it->get<std::int64_t>();
    };
    string_field("event", e.event);
    string_field("name", e.name);
    string_field("lock_id", e.lock_id);
    string_field("owner", e.owner);
    string_field("host", e.host);
    string_field("agent_id", e.agent_id);
    int_field("pid", e.pid);
    int_field("ttl_sec", e.ttl_sec);
    if (auto it = json.find("extra"); it != json.end() && it->is_object()) e.extra_json = it->dump();
    if (e.event.empty()) return std::nullopt;
    return e;
}

Result<void> AuditWriter::open_log() {
    if (m_fd) return {};
    m_fd.reset(::open(m_path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600));
    if (!m_fd) return sys_error("cannot open", m_path.string(), errno);
    struct stat info {};
    if (::fstat(m_fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        m_fd.reset();
        return make_error(ErrorCode::io, "cannot write " + m_path.string() + ": not a regular file");
    }
    if (m_hand_over) LOKT_TRY(m_hand_over(m_fd.get(), m_path));
    m_device = info.st_dev;
    m_inode = info.st_ino;
    m_end_of_ours = -1;
    return {};
}

bool AuditWriter::lock_log() {
    // Appends are serialised among lokt writers by an exclusive flock on the
    // log, held for one append (and the change it announces): the end found
    // then is where our line lands, and a line can be taken back exactly.
    // Held for microseconds; a writer stopped while holding it must not stop
    // everyone, so after a while we append without it (O_APPEND still keeps
    // lines whole) and only lose the exact take-back.
    auto delay = std::chrono::microseconds(50);
    const auto deadline = std::chrono::steady_clock::now() + k_log_lock_patience;
    while (::flock(m_fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) return false;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, std::chrono::microseconds(5000));
    }
    return true;
}

Result<off_t> AuditWriter::write_line(const AuditEvent& event) {
    std::string line;
    // If the last line was torn (a crash mid-write), end it so ours stays whole.
    // When the log ends where our last line ended, that line is the last one.
    const off_t size = ::lseek(m_fd.get(), 0, SEEK_END);
    if (size < 0) return sys_error("cannot append to", m_path.string(), errno);
    if (size > 0 && size != m_end_of_ours) {
        char last = '\n';
        if (::pread(m_fd.get(), &last, 1, size - 1) == 1 && last != '\n') line.push_back('\n');
    }
    line += serialize_audit_event(event);
    line.push_back('\n');
    // One write(2) of the whole line. A write cut short (the disk filled up
    // mid-line) is taken back: the log is truncated to where it ended before,
    // so it never keeps a torn line of ours.
    ssize_t wrote;
    do {
        wrote = ::write(m_fd.get(), line.data(), line.size());
    } while (wrote < 0 && errno == EINTR);
    if (wrote < 0) {
        m_end_of_ours = -1;
        return sys_error("cannot append to", m_path.string(), errno);
    }
    if (static_cast<std::size_t>(wrote) != line.size()) {
        // Ask why: a write of the rest says (ENOSPC, EDQUOT, EFBIG).
        const std::size_t rest = line.size() - static_cast<std::size_t>(wrote);
        const ssize_t again = ::write(m_fd.get(), line.data() + wrote, rest);
        if (again >= 0 && static_cast<std::size_t>(again) == rest) {  // room again after all
            m_end_of_ours = size + static_cast<off_t>(line.size());
            return size;
        }
        const int cause = again < 0 ? errno : ENOSPC;
        m_end_of_ours = -1;
        if (::ftruncate(m_fd.get(), size) != 0) {
            return sys_error("cannot take back a partly written line in", m_path.string(), errno);
        }
        return sys_error("cannot append to", m_path.string(), cause);
    }
    m_end_of_ours = size + wrote;
    return size;
}

Result<void> AuditWriter::append(const AuditEvent& event) {
    LOKT_TRY(open_log());
    const bool locked = lock_log();
    auto written = write_line(event);
    if (locked) ::flock(m_fd.get(), LOCK_UN);
    if (!written) return written.take_error();
    return {};
}

Result<bool> AuditWriter::append_for(const AuditEvent& event, const std::function<Result<bool>()>& commit) {
    LOKT_TRY(open_log());
    const bool locked = lock_log();
    auto written = write_line(event);
    if (!written) {
        if (locked) ::flock(m_fd.get(), LOCK_UN);
        return written.take_error();
    }
    auto committed = commit();
    if (!committed || !*committed) {
        // The change did not happen: neither does its line, if it is still
        // the last one (nobody appends while we hold the lock).
        struct stat info {};
        if (locked && ::fstat(m_fd.get(), &info) == 0 && info.st_size == m_end_of_ours &&
            ::ftruncate(m_fd.get(), *written) == 0) {
            m_end_of_ours = -1;
        }
    }
    if (locked) ::flock(m_fd.get(), LOCK_UN);
    return committed;
}

void AuditWriter::reopen_if_replaced() {
    if (!m_fd) return;
    struct stat info {};
    if (::lstat(m_path.c_str(), &info) != 0 || info.st_dev != m_device || info.st_ino != m_inode) m_fd.reset();
}

std::size_t find_first_at_or_after(std::string_view text, WallTime since) {
    // Invariant: every parseable line starting before lo is earlier than since;
    // between hi and the first line at or after since there are only
    // unparseable lines (which readers skip).
    std::size_t lo = 0;
    std::size_t hi = text.size();
    while (lo < hi) {
        const std::size_t mid = lo + (hi - lo) / 2;
        std::size_t probe = mid == 0 ? 0 : next_line_start(text, mid - 1);
        if (probe >= hi) {
            // No line starts in [mid, hi): step over the line at lo instead.
            auto ts = quick_timestamp(line_at(text, lo));
            if (ts && *ts >= since) return lo;
            lo = next_line_start(text, lo);
            continue;
        }
        // Judge by the first parseable line from the probe on.
        std::size_t judged = probe;
        std::optional<WallTime> ts;
        while (judged < hi && !(ts = quick_timestamp(line_at(text, judged)))) judged = next_line_start(text, judged);
        if (ts && *ts < since) {
            lo = next_line_start(text, judged);
        } else {
            hi = probe;
        }
    }
    return lo;
}

bool audit_event_matches(const AuditEvent& event, const AuditQuery& query) {
    if (query.since && event.ts < *query.since) return false;
    if (!query.name.empty() && event.name != query.name) return false;
    return true;
}

Result<std::size_t> read_audit_prefix(int fd, const std::string& display_path, std::size_t limit, const AuditQuery& query,
                                      const std::function<void(std::string_view, const AuditEvent&)>& visit) {
    if (limit == 0) return std::size_t{0};
    void* mapped = ::mmap(nullptr, limit, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapped == MAP_FAILED) return sys_error("cannot map", display_path, errno);
    ::madvise(mapped, limit, MADV_SEQUENTIAL);
    const std::string_view text(static_cast<const char*>(mapped), limit);

    std::size_t pos = query.since ? find_first_at_or_after(text, *query.since) : 0;
    std::string needle;
    if (!query.name.empty()) needle = Json(query.name).dump();  // a cheap pre-filter before parsing
    while (pos < text.size()) {
        if (!needle.empty()) {
            // Jump straight to the next line that mentions the name: one memmem
            // over the mapped file instead of a search per line.
            const void* hit = ::memmem(text.data() + pos, text.size() - pos, needle.data(), needle.size());
            if (hit == nullptr) {
                pos = text.size();
                break;
            }
            const auto at = static_cast<std::size_t>(static_cast<const char*>(hit) - text.data());
            const auto line_start = text.rfind('\n', at);
            pos = std::max(pos, line_start == std::string_view::npos ? std::size_t{0} : line_start + 1);
        }
        const std::size_t end = next_line_start(text, pos);
        std::string_view line = text.substr(pos, end - pos);
        if (line.back() != '\n') break;  // a line still being written: leave it for later
        pos = end;
        line.remove_suffix(1);
        if (line.empty()) continue;
        auto event = parse_audit_line(line);
        if (!event || !audit_event_matches(*event, query)) continue;
        visit(line, *event);
    }
    ::munmap(mapped, limit);
    return pos;
}

Result<void> read_audit(const std::filesystem::path& log_path, const AuditQuery& query,
                        const std::function<void(std::string_view, const AuditEvent&)>& visit) {
    UniqueFd fd(::open(log_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) {
        if (errno == ENOENT) return {};
        return sys_error("cannot open", log_path.string(), errno);
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) return sys_error("cannot stat", log_path.string(), errno);
    if (!S_ISREG(info.st_mode)) return make_error(ErrorCode::io, "cannot read " + log_path.string() + ": not a regular file");
    LOKT_TRY_LET(done, read_audit_prefix(fd.get(), log_path.string(), static_cast<std::size_t>(info.st_size), query, visit));
    return {};
}

}  // namespace lokt
