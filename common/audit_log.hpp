// The append-only JSONL audit log (root/audit.log): one compact JSON object per
// line, keys in SPEC.md's order. Written with a single O_APPEND write(2) per
// line, so concurrent writers never interleave inside a line. Read by seeking:
// timestamps are roughly in file order, so `--since` bisects (audit_seek.hpp)
// instead of decoding ten million lines.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/identity.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "common/wall_time.hpp"

namespace lokt {

struct AuditEvent {
    WallTime ts{};
    std::string event;  // acquire, deny, release, renew, force-break, ...
    std::string name;
    std::string lock_id;
    std::string owner;
    std::string host;
    std::int64_t pid = 0;
    std::string agent_id;
    std::int64_t ttl_sec = 0;
    std::string extra_json;  // a serialized JSON object, or empty
};

// Fills owner, host, pid and agent_id from who performed the operation.
AuditEvent make_audit_event(std::string_view event, std::string_view name, const Identity& actor);

std::string serialize_audit_event(const AuditEvent& event);  // one line, no newline
std::optional<AuditEvent> parse_audit_line(std::string_view line);

class AuditWriter {
public:
    explicit AuditWriter(std::filesystem::path log_path) : m_path(std::move(log_path)) {}
    // Appends one line with one write(2), under an exclusive flock(2) on the
    // log that other lokt writers take too. A torn last line (a crash
    // mid-write) is closed off first so that it never merges with ours; a
    // line of ours cut short (disk full) is truncated away again, and the
    // error says why.
    Result<void> append(const AuditEvent& event);
    // Appends the line, then makes the change it announces (`commit`) before
    // any other lokt writer appends; when commit fails or returns false, the
    // line is taken back. So the line stands for a change that happened.
    Result<bool> append_for(const AuditEvent& event, const std::function<Result<bool>()>& commit);
    // Called with every log file this writer creates or opens, before the
    // first line goes in (see file_owner.hpp: a log created by root in a root
    // another user owns is handed to that user).
    void on_open(std::function<Result<void>(int fd, const std::filesystem::path& path)> hand_over) {
        m_hand_over = std::move(hand_over);
    }
    // For a writer kept open across operations: lets go of the file if the path
    // no longer names it (rotated or removed), so the next line goes to the log
    // that is there now.
    void reopen_if_replaced();
    // For a writer that must not block (the daemon's event loop): the log's
    // lock is tried once, and a line appended without it when another writer
    // has it (whole all the same; only the exact take-back is lost).
    void never_wait_for_lock() { m_try_lock_once = true; }

private:
    Result<void> open_log();
    // Takes the log's lock; false when it could not be had in time.
    bool lock_log();
    // Writes one line at the end; returns where it starts (the log's size before).
    // `locked` says whether we hold the log's lock; it may take it (and the
    // caller then lets it go) to tell a torn last line from one being written.
    Result<off_t> write_line(const AuditEvent& event, bool& locked);

    std::filesystem::path m_path;
    std::function<Result<void>(int fd, const std::filesystem::path& path)> m_hand_over;
    UniqueFd m_fd;
    dev_t m_device = 0;
    ino_t m_inode = 0;
    off_t m_end_of_ours = -1;  // the log's size right after our last append, if known
    bool m_try_lock_once = false;
};

struct AuditQuery {
    std::optional<WallTime> since;
    std::string name;  // empty: every name
};

// Calls visit for every matching line (raw text and parsed event) in file order.
// Unparseable lines are skipped. A missing log is an empty one.
Result<void> read_audit(const std::filesystem::path& log_path, const AuditQuery& query,
                        const std::function<void(std::string_view, const AuditEvent&)>& visit);

// The same over the first `limit` bytes of an open log (the size it had when
// looked at); returns the offset reached, so a follower can continue from it.
Result<std::size_t> read_audit_prefix(int fd, const std::string& display_path, std::size_t limit, const AuditQuery& query,
                                      const std::function<void(std::string_view, const AuditEvent&)>& visit);

bool audit_event_matches(const AuditEvent& event, const AuditQuery& query);

}  // namespace lokt
