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
    // Appends one line. A torn last line (a crash mid-write) is closed off first
    // so that it never merges with ours.
    Result<void> append(const AuditEvent& event);
    // For a writer kept open across operations: lets go of the file if the path
    // no longer names it (rotated or removed), so the next line goes to the log
    // that is there now.
    void reopen_if_replaced();

private:
    std::filesystem::path m_path;
    UniqueFd m_fd;
    dev_t m_device = 0;
    ino_t m_inode = 0;
    off_t m_end_of_ours = -1;  // the log's size right after our last append, if known
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
