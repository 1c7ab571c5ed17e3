// `lokt audit --tail` through loktd. The daemon already watches the root and
// feeds subscribers from audit.log, whoever writes it, so a client talking to
// it subscribes instead of watching the file itself. When the daemon goes away
// mid-stream, the command carries on with the file; this also returns what the
// file follower needs to continue without losing or repeating a line.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/audit_log.hpp"
#include "client/daemon_backend.hpp"

namespace lokt::client {

// Where a file follower takes over from the daemon's stream: the time to read
// the log from, and the lines from then on that were already printed.
class AuditResume {
public:
    // Nothing before floor is shown: --since, else when following started.
    explicit AuditResume(WallTime floor) : m_floor(floor) {}

    // Remembers a line printed from the stream.
    void printed(std::string_view line, const AuditEvent& event);
    // Read the file from the first line at or after this time.
    WallTime from() const;
    // True if this line of the file was printed from the stream; each printed
    // line excuses one copy in the file.
    bool already_printed(std::string_view line, const AuditEvent& event);

private:
    WallTime m_floor;
    std::optional<WallTime> m_newest;
    // Lines printed at or after from(), by timestamp, in the daemon's form.
    std::multimap<WallTime, std::string> m_recent;
};

struct DaemonFollowEnd {
    bool reader_gone = false;  // stdout was closed: the command is done
    AuditResume resume;        // otherwise the daemon went away: go on from here
};

// Subscribes to root's audit log and prints every line matching query as it
// arrives, until stdout fails or the daemon goes away. An error means the
// daemon refused the subscription.
Result<DaemonFollowEnd> follow_audit_through_daemon(DaemonConnection& connection, const std::filesystem::path& root,
                                                    const AuditQuery& query, const AuditPrinter& print);

}  // namespace lokt::client
