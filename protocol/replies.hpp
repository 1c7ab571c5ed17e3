// loktd's answers, one per request, in the engine's own types: lock and freeze
// records are LockRecords, identities Identities, outcomes and staleness the
// engine's enums. With their encoder, and the error reply to a refused line.
#pragma once

#include "common/hold_state.hpp"
#include "common/identity.hpp"
#include "common/lock_engine.hpp"
#include "common/lock_record.hpp"
#include "common/result.hpp"
#include "protocol/vocabulary.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lokt::protocol {

// Records on the wire are the lock and freeze files' fields without "version"
// (docs/protocol.md section 5): a decoded record has version 1. A record may
// describe a file another tool wrote, so only types are checked; a time that
// is not RFC 3339 reads as absent (a zero acquired time, no expiry).

struct HelloReply {
    std::uint32_t protocol = 0;  // the negotiated version
    std::string daemon_version;
    std::string daemon_build;
    std::int32_t daemon_pid = 0;
    std::vector<std::string> capabilities;
    bool operator==(const HelloReply&) const = default;
};

struct AcquireReply {
    LockRecord lock;
    // acquired, refreshed or nested; never refused (that is an ErrorReply).
    AcquireResult::Outcome outcome = AcquireResult::Outcome::acquired;
    bool operator==(const AcquireReply&) const = default;
};

struct ReleaseReply {
    bool operator==(const ReleaseReply&) const = default;
};

struct RenewReply {
    LockRecord lock;
    bool operator==(const RenewReply&) const = default;
};

struct UnlockReply {
    std::optional<LockRecord> lock;  // what was removed; nullopt for a corrupt file
    bool operator==(const UnlockReply&) const = default;
};

// A live hold unlock_many left in place, and why: not_owner (someone else's,
// or a running guard's) or unsupported (a newer tool's file).
struct UnlockRefusal {
    ErrorCode code = ErrorCode::not_owner;
    std::string message;
    LockRecord holder;
    bool operator==(const UnlockRefusal&) const = default;
};

struct UnlockManyReply {
    std::vector<LockRecord> released;
    std::vector<UnlockRefusal> refused;  // left out of the JSON when empty
    bool operator==(const UnlockManyReply&) const = default;
};

// One hold as `status` reports it: the record plus what only a reader can tell.
struct LockStatus {
    LockRecord lock;
    // The wire tells a stale hold's kind ("expired", "dead": dead_holder) and
    // calls every other state "live"; a decoded state is one of those three.
    HoldState state = HoldState::live;
    std::uint32_t waiters = 0;  // acquires queued behind it in the daemon
    bool operator==(const LockStatus&) const = default;
};

// One acquire waiting in the daemon's queue of a name.
struct WaiterInfo {
    std::string name;
    std::uint32_t position = 0;  // 1 is next in line
    Identity identity;           // who waits
    std::uint64_t waited_ms = 0;
    // "shared" or "exclusive", as the waiter asked; empty from a daemon
    // that does not say (older than shared locks).
    std::string mode;
    bool operator==(const WaiterInfo&) const = default;
};

struct StatusReply {
    std::vector<LockStatus> locks;
    std::vector<LockRecord> freezes;
    std::vector<LockRecord> pruned;  // removed by prune_expired
    // The acquires queued in the daemon for the names asked about, in queue
    // order per name; nullopt when the reply does not say (an older daemon).
    std::optional<std::vector<WaiterInfo>> waiting;
    bool operator==(const StatusReply&) const = default;
};

struct FreezeReply {
    LockRecord freeze;
    bool operator==(const FreezeReply&) const = default;
};

struct UnfreezeReply {
    std::optional<LockRecord> freeze;  // what was removed; nullopt for a corrupt file
    bool operator==(const UnfreezeReply&) const = default;
};

struct SubscribeAuditReply {
    bool operator==(const SubscribeAuditReply&) const = default;
};

struct UnsubscribeReply {
    bool operator==(const UnsubscribeReply&) const = default;
};

struct RootStatus {
    std::string root;
    std::uint32_t holds = 0;
    std::uint32_t waiters = 0;
    std::uint32_t subscriptions = 0;
    // Why the daemon looks at this root on a timer instead of being told of
    // its changes (no inotify watch left); empty (left out) while it is watched.
    std::string unwatched;
    bool operator==(const RootStatus&) const = default;
};

struct DaemonStatusReply {
    std::int32_t daemon_pid = 0;
    std::string daemon_version;
    std::uint64_t uptime_ms = 0;
    std::uint32_t connections = 0;
    std::uint32_t holds = 0;
    std::uint32_t waiters = 0;
    std::vector<RootStatus> roots;
    bool operator==(const DaemonStatusReply&) const = default;
};

struct ShutdownReply {
    bool operator==(const ShutdownReply&) const = default;
};

struct EtcdHoldReply {
    std::uint64_t lease = 0;  // the etcd lease id the hold goes on
    bool operator==(const EtcdHoldReply&) const = default;
};

// `"ok": false`. Holder and freeze explain held, frozen and timeout errors;
// `supported` is the daemon's range on an unsupported hello.
struct ErrorReply {
    std::optional<Op> op;  // nullopt when the request's op could not be read
    ErrorCode code = ErrorCode::internal;
    std::string message;
    std::optional<LockRecord> holder;
    std::optional<LockRecord> freeze;
    std::optional<VersionRange> supported;

    Error to_error() const { return Error{code, message}; }
    bool operator==(const ErrorReply&) const = default;
};

// ErrorReply first, then the ok replies in the order of Op.
using ReplyBody = std::variant<ErrorReply, HelloReply, AcquireReply, ReleaseReply, RenewReply, UnlockReply, UnlockManyReply,
                               StatusReply, FreezeReply, UnfreezeReply, SubscribeAuditReply, UnsubscribeReply, DaemonStatusReply,
                               ShutdownReply, EtcdHoldReply>;

struct Reply {
    std::uint64_t id = 0;  // the request's id; 0 when it could not be read
    ReplyBody body;

    bool ok() const { return body.index() != 0; }
    std::optional<Op> op() const;
    bool operator==(const Reply&) const = default;
};

// Compact JSON on one line ending in '\n', keys in a fixed order. Replies are
// decoded with the daemon's other lines: decode_reply() in events.hpp.
std::string encode(const Reply& reply);

// The error reply to a line decode_request refused.
Reply error_reply_for(std::string_view line, const Error& error);

}  // namespace lokt::protocol
