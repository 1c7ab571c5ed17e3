// What loktd sends besides replies: progress while an acquire waits, and the
// audit lines of a subscription; and the decoder of any line from the daemon,
// which tells these from replies.
#pragma once

#include "common/lock_record.hpp"
#include "protocol/replies.hpp"
#include "common/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace lokt::protocol {

// Sent while an acquire waits, before its reply; id is the acquire's.
struct Progress {
    std::uint64_t id = 0;
    std::uint32_t position = 0;      // 1 is next in line
    std::uint32_t queue_length = 0;  // waiters on this name, including this one
    std::optional<LockRecord> holder;
    std::optional<LockRecord> freeze;
    bool operator==(const Progress&) const = default;
};

// One audit line for a subscription; id is the subscribe_audit request's.
struct AuditEvent {
    std::uint64_t id = 0;
    // The audit line's JSON object, compact, keys in the order written. Build it
    // with make_audit_event(), which checks that the line is an object.
    std::string audit;
    bool operator==(const AuditEvent&) const = default;
};

// An audit event for subscription `id` from one line of audit.log; an error
// (ErrorCode::corrupt) when the line is not a JSON object, so it is skipped.
Result<AuditEvent> make_audit_event(std::uint64_t id, std::string_view audit_line);

// Anything the daemon sends.
using ServerMessage = std::variant<Reply, Progress, AuditEvent>;

// Compact JSON on one line ending in '\n', keys in a fixed order.
std::string encode(const Progress& progress);
std::string encode(const AuditEvent& event);
std::string encode(const ServerMessage& message);

// Anything the daemon sends (one line without its '\n'); unknown fields are
// ignored. Never throws: errors are ErrorCode::internal, worded
// `invalid message from daemon: ...` and naming the field at fault.
Result<ServerMessage> decode_server_message(std::string_view line);

// Like decode_server_message, but a progress or event line is an error.
Result<Reply> decode_reply(std::string_view line);

}  // namespace lokt::protocol
