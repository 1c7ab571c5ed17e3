// `lokt audit --tail` on the file itself: follow the audit log (with
// AuditFollower, which watches the root) and print its new lines as they are
// appended, through rotation and re-creation. Used by the files backend, and by the daemon backend once the
// daemon's stream has ended.
#pragma once

#include <filesystem>

#include "common/audit_log.hpp"
#include "client/backend.hpp"

namespace lokt::client {

class AuditResume;  // daemon_audit_follow.hpp

// Follows root's audit log, printing complete new lines matching query as they
// arrive, including the log's creation; those since query.since first, when it
// is set. Returns when stdout fails (the reader went away); an error when the
// root cannot be watched or the log read. With `resume` (the daemon's stream
// ended), the log is read from there on, minus what was printed.
Result<void> follow_audit_file(const std::filesystem::path& root, const AuditQuery& query, const AuditPrinter& print,
                               AuditResume* resume = nullptr);

}  // namespace lokt::client
