// See file_audit_follow.hpp.
#include "client/file_audit_follow.hpp"

#include <cstdio>
#include <string_view>

#include "common/audit_follower.hpp"
#include "client/daemon_audit_follow.hpp"

namespace lokt::client {

Result<void> follow_audit_file(const std::filesystem::path& root, const AuditQuery& query, const AuditPrinter& print,
                               AuditResume* resume) {
    AuditFollower follower(root);
    LOKT_TRY(follower.watch());
    // Whatever exists when we start is history: shown only with --since.
    if (resume != nullptr) {
        AuditQuery rest = query;
        rest.since = resume->from();
        LOKT_TRY(follower.start_with_history(rest, [&](std::string_view line, const AuditEvent& event) {
            if (!resume->already_printed(line, event)) print(line, event);
        }));
    } else if (query.since) {
        LOKT_TRY(follower.start_with_history(query, print));
    } else {
        follower.start_at_end();
    }
    for (;;) {
        follower.read_new(query, print);
        std::fflush(stdout);
        if (std::ferror(stdout)) return {};  // the reader went away
        LOKT_TRY(follower.wait());
    }
}

}  // namespace lokt::client
