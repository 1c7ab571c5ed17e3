// See audit_log.hpp.
#include "common/audit_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/audit_line_scan.hpp"
#include "common/audit_seek.hpp"
#include "common/json_text.hpp"
#include "common/substring_finder.hpp"
#include "common/sys_error.hpp"

namespace lokt {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::size_t k_audit_read_chunk = 1024 * 1024;

// How long a writer waits for the log's lock before it appends without it.
constexpr std::chrono::seconds k_log_lock_patience{2};

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
    // Written directly, as the JSON library would write the object with these
    // keys (json_text.hpp); only an extra object not in compact form goes
    // through the library.
    std::string line;
    line.reserve(192 + e.extra_json.size());
    line += "{\"ts\":";
    append_json_string(line, format_rfc3339(e.ts));
    line += ",\"event\":";
    append_json_string(line, e.event);
    line += ",\"name\":";
    append_json_string(line, e.name);
    if (!e.lock_id.empty()) {
        line += ",\"lock_id\":";
        append_json_string(line, e.lock_id);
    }
    if (!e.owner.empty()) {
        line += ",\"owner\":";
        append_json_string(line, e.owner);
    }
    if (!e.host.empty()) {
        line += ",\"host\":";
        append_json_string(line, e.host);
    }
    if (e.pid != 0) {
        line += ",\"pid\":";
        append_json_integer(line, e.pid);
    }
    if (!e.agent_id.empty()) {
        line += ",\"agent_id\":";
        append_json_string(line, e.agent_id);
    }
    if (e.ttl_sec != 0) {
        line += ",\"ttl_sec\":";
        append_json_integer(line, e.ttl_sec);
    }
    if (!e.extra_json.empty()) {
        if (is_compact_json_object(e.extra_json)) {
            line += ",\"extra\":";
            line += e.extra_json;
        } else {
            Json extra = Json::parse(e.extra_json, nullptr, false);
            if (extra.is_object() && !extra.empty()) {
                line += ",\"extra\":";
                line += extra.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
            }
        }
    }
    line.push_back('}');
    return line;
}

std::optional<AuditEvent> parse_audit_line(std::string_view line) {
    if (AuditEvent fast; scan_audit_event(line, fast)) return fast;
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
        if (m_try_lock_once || std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, std::chrono::microseconds(5000));
    }
    return true;
}

Result<off_t> AuditWriter::write_line(const AuditEvent& event, bool& locked) {
    std::string line;
    // If the last line was torn (a crash mid-write), end it so ours stays whole.
    // When the log ends where our last line ended, that line is the last one.
    off_t size = ::lseek(m_fd.get(), 0, SEEK_END);
    if (size < 0) return sys_error("cannot append to", m_path.string(), errno);
    if (size > 0 && size != m_end_of_ours) {
        char last = '\n';
        if (::pread(m_fd.get(), &last, 1, size - 1) == 1 && last != '\n' && !locked) {
            // Without the log's lock, an unfinished last line is most often
            // one that its writer, who has the lock, is writing right now: a
            // line longer than what is left of a page becomes visible a page
            // at a time. Ending it would leave an empty line once the rest
            // lands (our write, O_APPEND, comes after the whole of theirs).
            // Only a free lock says nobody is writing: then it was torn.
            if (::flock(m_fd.get(), LOCK_EX | LOCK_NB) == 0) {
                locked = true;
                size = ::lseek(m_fd.get(), 0, SEEK_END);
                if (size < 0) return sys_error("cannot append to", m_path.string(), errno);
                if (size == 0 || ::pread(m_fd.get(), &last, 1, size - 1) != 1) last = '\n';
            } else {
                last = '\n';
            }
        }
        if (last != '\n') line.push_back('\n');
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
    bool locked = lock_log();
    auto written = write_line(event, locked);
    if (locked) ::flock(m_fd.get(), LOCK_UN);
    if (!written) return written.take_error();
    return {};
}

Result<bool> AuditWriter::append_for(const AuditEvent& event, const std::function<Result<bool>()>& commit) {
    LOKT_TRY(open_log());
    bool locked = lock_log();
    auto written = write_line(event, locked);
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

bool audit_event_matches(const AuditEvent& event, const AuditQuery& query) {
    if (query.since && event.ts < *query.since) return false;
    if (!query.name.empty() && event.name != query.name) return false;
    return true;
}

Result<std::size_t> read_audit_prefix(int fd, const std::string& display_path, std::size_t limit, const AuditQuery& query,
                                      const std::function<void(std::string_view, const AuditEvent&)>& visit) {
    std::size_t start = 0;  // the file offset of buffer[0]
    if (query.since) {
        LOKT_TRY_LET(seek, audit_seek_offset(fd, limit, *query.since, display_path));
        start = *seek;
    }
    std::optional<SubstringFinder> mentions_name;
    if (!query.name.empty()) mentions_name.emplace(Json(query.name).dump());  // a cheap filter before parsing

    // Read in chunks (pread(2) is cheaper than faulting in a mapping of a
    // gigabyte), hand on the complete lines, carry a line cut at the chunk's
    // end to the next one. A last line without its newline is still being
    // written: it is left for later, and the offset returned is its start.
    std::string buffer(k_audit_read_chunk, '\0');
    std::size_t filled = 0;
    while (start + filled < limit) {
        if (filled == buffer.size()) buffer.resize(buffer.size() * 2);  // one line longer than a chunk
        const std::size_t want = std::min(buffer.size() - filled, limit - (start + filled));
        const ssize_t got = ::pread(fd, buffer.data() + filled, want, static_cast<off_t>(start + filled));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return sys_error("cannot read", display_path, errno);
        if (got == 0) break;  // the log shrank under us
        filled += static_cast<std::size_t>(got);
        const std::string_view chunk(buffer.data(), filled);
        const std::size_t last_newline = chunk.rfind('\n');
        if (last_newline == std::string_view::npos) continue;
        const std::string_view lines = chunk.substr(0, last_newline + 1);
        std::size_t pos = 0;
        while (pos < lines.size()) {
            if (mentions_name) {
                // Jump straight to the next line that mentions the name.
                const std::size_t hit = mentions_name->find(lines, pos);
                if (hit == std::string_view::npos) break;
                const std::size_t newline_before = lines.rfind('\n', hit);
                if (newline_before != std::string_view::npos) pos = std::max(pos, newline_before + 1);
            }
            const std::size_t end = lines.find('\n', pos);
            const std::string_view line = lines.substr(pos, end - pos);
            pos = end + 1;
            if (line.empty()) continue;
            auto event = parse_audit_line(line);
            if (event && audit_event_matches(*event, query)) visit(line, *event);
        }
        std::memmove(buffer.data(), buffer.data() + lines.size(), filled - lines.size());
        start += lines.size();
        filled -= lines.size();
    }
    return start;
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
