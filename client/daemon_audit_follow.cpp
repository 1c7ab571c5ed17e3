// See daemon_audit_follow.hpp.
#include "client/daemon_audit_follow.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "common/lock_name.hpp"
#include "protocol/messages.hpp"

namespace lokt::client {
namespace {

// Writers stamp an event before appending it, so file order and timestamp
// order can disagree by the time in between. The file follower starts this far
// before the newest printed line, so that an older line the daemon had not sent
// yet is still shown; the lines printed since then are skipped.
constexpr std::chrono::nanoseconds k_reorder_slack = std::chrono::seconds(1);

// A line as the daemon sends it (the same object re-serialized), so that a line
// of the file compares equal to its streamed copy even if another tool wrote it.
std::string daemon_form(std::string_view line) {
    auto event = protocol::make_audit_event(0, line);
    return event ? std::move(event->audit) : std::string(line);
}

}  // namespace

void AuditResume::printed(std::string_view line, const AuditEvent& event) {
    if (!m_newest || event.ts > *m_newest) {
        m_newest = event.ts;
        m_recent.erase(m_recent.begin(), m_recent.lower_bound(from()));
    }
    if (event.ts >= from()) m_recent.emplace(event.ts, std::string(line));
}

WallTime AuditResume::from() const {
    if (!m_newest) return m_floor;
    return std::max(m_floor, *m_newest - k_reorder_slack);
}

bool AuditResume::already_printed(std::string_view line, const AuditEvent& event) {
    const auto [first, last] = m_recent.equal_range(event.ts);
    if (first == last) return false;
    const std::string text = daemon_form(line);
    for (auto it = first; it != last; ++it) {
        if (it->second == text) {
            m_recent.erase(it);
            return true;
        }
    }
    return false;
}

Result<DaemonFollowEnd> follow_audit_through_daemon(DaemonConnection& connection, const std::filesystem::path& root,
                                                    const AuditQuery& query, const AuditPrinter& print) {
    protocol::SubscribeAuditRequest request;
    request.root = root.string();
    // loktd filters by a lock's name; a reservation glob's events are picked
    // out here, from every line it sends.
    if (validate_lock_name(query.name)) request.name = query.name;
    if (query.since) request.since = format_rfc3339(*query.since);
    DaemonFollowEnd end{false, AuditResume(query.since.value_or(wall_now()))};
    auto on_line = [&](const std::string& line) {
        auto event = parse_audit_line(line);
        // The daemon filters by name already; the file follower's test keeps --since the same.
        if (!event || !audit_event_matches(*event, query)) return true;
        print(line, *event);
        end.resume.printed(line, *event);
        std::fflush(stdout);
        end.reader_gone = std::ferror(stdout) != 0;
        return !end.reader_gone;
    };
    auto followed = connection.subscribe_audit(std::move(request), on_line);
    if (!followed) {
        if (connection.alive()) return followed.take_error();
        if (std::getenv("LOKT_LOG") != nullptr) {
            std::fprintf(stderr, "lokt: %s; following the file\n", followed.error().message.c_str());
        }
    }
    return end;
}

}  // namespace lokt::client
