// The lokt wire protocol as C++ types: every message lokt and loktd exchange,
// with one encoder and the decoders that turn untrusted lines into those types.
// docs/protocol.md is the reference for the JSON; this header is its mirror.
// Decoders never throw on any input: every malformed line becomes an Error that
// names the offending field. No JSON type appears here: records travel as plain
// structs, and nlohmann/json stays inside messages.cpp.
#pragma once

#include "result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lokt::protocol {

// ---------------------------------------------------------------------------
// Versions and capabilities

// A closed range of protocol versions a peer speaks.
struct VersionRange {
    std::uint32_t min = 0;
    std::uint32_t max = 0;
    bool operator==(const VersionRange&) const = default;
};

// The protocol versions this build speaks, on either side.
inline constexpr VersionRange k_supported_versions{1, 1};

// Capability word: the client accepts, and the daemon sends, `progress`
// messages for waiting acquires. Both sides must list it for it to be used.
inline constexpr std::string_view k_capability_progress = "progress";

// The highest version both ranges contain, or ErrorCode::unsupported with a
// message naming both ranges when they do not overlap.
Result<std::uint32_t> negotiate_version(VersionRange client, VersionRange daemon);

// ---------------------------------------------------------------------------
// Vocabulary

enum class Op {
    hello,
    acquire,
    release,
    renew,
    unlock,
    unlock_many,
    status,
    freeze,
    unfreeze,
    subscribe_audit,
    unsubscribe,
    daemon_status,
    shutdown,
};

std::string_view to_string(Op op);
std::optional<Op> op_from_string(std::string_view word);

// What a hold is bound to: a guard hold ends with the guard's connection; a
// manual hold outlives the `lokt lock` command (SPEC.md section 3).
enum class AcquireMode { guard, manual };
std::string_view to_string(AcquireMode mode);

// How an acquire was satisfied.
enum class AcquireOutcome {
    acquired,   // a new hold
    refreshed,  // a manual lock the same explicit owner already held: new TTL, same lock_id
    nested,     // the caller runs inside a guard of this name (nested_lock_id matched)
};
std::string_view to_string(AcquireOutcome outcome);

// Which check `unlock` applies before removing a lock.
enum class UnlockMode {
    owner,        // the requester's owner string must match the holder's
    break_stale,  // only a stale lock is removed
    force,        // removed whoever holds it
};
std::string_view to_string(UnlockMode mode);

// Which rule ends a hold (SPEC.md section 3), as recorded in the lock file's
// "bound_to" field.
enum class BoundTo {
    guard,    // the guard process
    ttl,      // a manual lock with a TTL: unlock or expiry
    process,  // a manual lock without TTL: the process that ran `lokt lock`
};
std::string_view to_string(BoundTo bound_to);

// Whether a hold listed by `status` still counts.
enum class Staleness {
    live,
    expired,  // its TTL elapsed
    dead,     // its holder is on this host and no longer running
};
std::string_view to_string(Staleness staleness);

// Who performs an operation. The daemon writes these into lock files and audit
// lines exactly as the file backend would.
struct Identity {
    std::string owner;            // LOKT_OWNER, else the OS user name; never empty
    bool owner_explicit = false;  // true when LOKT_OWNER was set (re-entry needs it)
    std::string host;             // never empty
    std::int32_t pid = 0;         // the requesting process, >= 1
    // Start time of pid, in the unit of the lock file's pid_start_ns field
    // (clock ticks since boot on Linux); nullopt when unknown.
    std::optional<std::uint64_t> pid_start;
    std::string agent_id;  // empty when none
    bool operator==(const Identity&) const = default;
};

// A lock or freeze record as SPEC.md section 5 describes the file, plus lokt's
// own fields. It can hold whatever a readable file says, including files other
// tools wrote. Empty strings, nullopt and false mean the field is absent.
struct LockInfo {
    std::string name;
    std::string lock_id;
    std::string owner;
    std::string host;
    std::int64_t pid = 0;                    // as recorded; a foreign writer may have put 0
    std::optional<std::uint64_t> pid_start;  // the file's "pid_start_ns"
    std::string agent_id;
    std::string acquired_ts;  // RFC 3339, as written in the file
    std::optional<std::uint64_t> ttl_sec;
    std::string expires_at;  // RFC 3339, as written in the file
    std::optional<BoundTo> bound_to;
    bool owner_explicit = false;  // the file's "owner_set"
    std::string boot_id;
    std::optional<std::uint64_t> fence;
    std::string handle;  // a guard's liveness handle token
    bool operator==(const LockInfo&) const = default;
};

// A freeze file has the same shape as a lock file.
using FreezeInfo = LockInfo;

// ---------------------------------------------------------------------------
// Requests (client -> daemon). Every root is an absolute path.

struct HelloRequest {
    VersionRange protocol;
    std::string client_version;
    std::string client_build;
    std::vector<std::string> capabilities;
    bool operator==(const HelloRequest&) const = default;
};

struct AcquireRequest {
    std::string root;
    std::string name;
    AcquireMode mode = AcquireMode::guard;
    std::optional<std::uint64_t> ttl_ms;
    bool wait = false;
    // Only with wait; nullopt means the default of 10 minutes.
    std::optional<std::uint64_t> timeout_ms;
    Identity identity;
    // The process a manual hold without TTL lives as long as (the shell that ran
    // `lokt lock`). Required for exactly that case, absent otherwise.
    std::optional<std::int32_t> bound_pid;
    std::optional<std::uint64_t> bound_pid_start;
    // The LOKT_LOCK_ID inherited from an enclosing guard; empty when none.
    std::string nested_lock_id;
    // A guard's liveness handle (live/HANDLE in the root, flock'd by the guard
    // and inherited by its command); only with mode guard.
    std::string handle;
    bool operator==(const AcquireRequest&) const = default;
};

// Ends a hold the requester owns, proven by its lock_id.
struct ReleaseRequest {
    std::string root;
    std::string name;
    std::string lock_id;
    // A guard's command's exit status (0-255), for the release line.
    std::optional<std::uint64_t> exit_status;
    bool operator==(const ReleaseRequest&) const = default;
};

struct RenewRequest {
    std::string root;
    std::string name;
    std::string lock_id;
    std::uint64_t ttl_ms = 0;
    bool operator==(const RenewRequest&) const = default;
};

struct UnlockRequest {
    std::string root;
    std::string name;
    UnlockMode mode = UnlockMode::owner;
    Identity identity;
    bool operator==(const UnlockRequest&) const = default;
};

struct UnlockManyRequest {
    std::string root;
    // Release the locks of this owner string; nullopt releases every lock (--all).
    std::optional<std::string> owner;
    // With owner: break its live holds too, when the requester is not that
    // owner (--force). Every lock (owner nullopt) implies it.
    bool force = false;
    Identity identity;
    bool operator==(const UnlockManyRequest&) const = default;
};

struct StatusRequest {
    std::string root;
    std::string name;  // empty lists every lock and freeze
    bool prune_expired = false;
    // Who prunes, for the audit lines; required when prune_expired.
    std::optional<Identity> identity;
    bool operator==(const StatusRequest&) const = default;
};

struct FreezeRequest {
    std::string root;
    std::string name;
    std::uint64_t ttl_ms = 0;
    bool force = false;  // replace someone else's live freeze
    Identity identity;
    bool operator==(const FreezeRequest&) const = default;
};

struct UnfreezeRequest {
    std::string root;
    std::string name;
    bool force = false;
    Identity identity;
    bool operator==(const UnfreezeRequest&) const = default;
};

struct SubscribeAuditRequest {
    std::string root;
    std::string since;  // RFC 3339; empty starts with the next new line
    std::string name;   // only lines about this lock; empty for all
    bool operator==(const SubscribeAuditRequest&) const = default;
};

struct UnsubscribeRequest {
    std::uint64_t subscription = 0;  // the id of the subscribe_audit request
    bool operator==(const UnsubscribeRequest&) const = default;
};

struct DaemonStatusRequest {
    bool operator==(const DaemonStatusRequest&) const = default;
};

struct ShutdownRequest {
    bool operator==(const ShutdownRequest&) const = default;
};

// Alternatives in the order of Op, so that index() is the op.
using RequestBody =
    std::variant<HelloRequest, AcquireRequest, ReleaseRequest, RenewRequest, UnlockRequest, UnlockManyRequest, StatusRequest,
                 FreezeRequest, UnfreezeRequest, SubscribeAuditRequest, UnsubscribeRequest, DaemonStatusRequest, ShutdownRequest>;

struct Request {
    std::uint64_t id = 0;  // chosen by the client, >= 1; echoed by every answer
    RequestBody body;
    Op op() const { return static_cast<Op>(body.index()); }
    bool operator==(const Request&) const = default;
};

// ---------------------------------------------------------------------------
// Replies (daemon -> client), one per request

struct HelloReply {
    std::uint32_t protocol = 0;  // the negotiated version
    std::string daemon_version;
    std::string daemon_build;
    std::int32_t daemon_pid = 0;
    std::vector<std::string> capabilities;
    bool operator==(const HelloReply&) const = default;
};

struct AcquireReply {
    LockInfo lock;
    AcquireOutcome outcome = AcquireOutcome::acquired;
    bool operator==(const AcquireReply&) const = default;
};

struct ReleaseReply {
    bool operator==(const ReleaseReply&) const = default;
};

struct RenewReply {
    LockInfo lock;
    bool operator==(const RenewReply&) const = default;
};

struct UnlockReply {
    std::optional<LockInfo> lock;  // what was removed; nullopt for a corrupt file
    bool operator==(const UnlockReply&) const = default;
};

// A live hold unlock_many left in place, and why: not_owner (someone else's,
// or a running guard's) or unsupported (a newer tool's file).
struct UnlockRefusal {
    ErrorCode code = ErrorCode::not_owner;
    std::string message;
    LockInfo holder;
    bool operator==(const UnlockRefusal&) const = default;
};

struct UnlockManyReply {
    std::vector<LockInfo> released;
    std::vector<UnlockRefusal> refused;  // left out of the JSON when empty
    bool operator==(const UnlockManyReply&) const = default;
};

// One hold as `status` reports it: the record plus what only a reader can tell.
struct LockStatus {
    LockInfo lock;
    Staleness staleness = Staleness::live;
    std::uint32_t waiters = 0;  // acquires queued behind it in the daemon
    bool operator==(const LockStatus&) const = default;
};

// One acquire waiting in the daemon's queue of a name.
struct WaiterInfo {
    std::string name;
    std::uint32_t position = 0;  // 1 is next in line
    Identity identity;           // who waits
    std::uint64_t waited_ms = 0;
    bool operator==(const WaiterInfo&) const = default;
};

struct StatusReply {
    std::vector<LockStatus> locks;
    std::vector<FreezeInfo> freezes;
    std::vector<LockInfo> pruned;  // removed by prune_expired
    // The acquires queued in the daemon for the names asked about, in queue
    // order per name; nullopt when the reply does not say (an older daemon).
    std::optional<std::vector<WaiterInfo>> waiting;
    bool operator==(const StatusReply&) const = default;
};

struct FreezeReply {
    FreezeInfo freeze;
    bool operator==(const FreezeReply&) const = default;
};

struct UnfreezeReply {
    std::optional<FreezeInfo> freeze;  // what was removed; nullopt for a corrupt file
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

// `"ok": false`. Holder and freeze explain held, frozen and timeout errors;
// `supported` is the daemon's range on an unsupported hello.
struct ErrorReply {
    std::optional<Op> op;  // nullopt when the request's op could not be read
    ErrorCode code = ErrorCode::internal;
    std::string message;
    std::optional<LockInfo> holder;
    std::optional<FreezeInfo> freeze;
    std::optional<VersionRange> supported;

    Error to_error() const { return Error{code, message}; }
    bool operator==(const ErrorReply&) const = default;
};

// ErrorReply first, then the ok replies in the order of Op.
using ReplyBody =
    std::variant<ErrorReply, HelloReply, AcquireReply, ReleaseReply, RenewReply, UnlockReply, UnlockManyReply, StatusReply,
                 FreezeReply, UnfreezeReply, SubscribeAuditReply, UnsubscribeReply, DaemonStatusReply, ShutdownReply>;

struct Reply {
    std::uint64_t id = 0;  // the request's id; 0 when it could not be read
    ReplyBody body;

    bool ok() const { return body.index() != 0; }
    std::optional<Op> op() const;
    bool operator==(const Reply&) const = default;
};

// ---------------------------------------------------------------------------
// Unsolicited messages (daemon -> client)

// Sent while an acquire waits, before its reply; id is the acquire's.
struct Progress {
    std::uint64_t id = 0;
    std::uint32_t position = 0;      // 1 is next in line
    std::uint32_t queue_length = 0;  // waiters on this name, including this one
    std::optional<LockInfo> holder;
    std::optional<FreezeInfo> freeze;
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

// ---------------------------------------------------------------------------
// Encoding: compact JSON on one line ending in '\n', keys in a fixed order, so
// equal messages give equal bytes. Invalid UTF-8 in strings is replaced with
// U+FFFD rather than failing.

std::string encode(const Request& request);
std::string encode(const Reply& reply);
std::string encode(const Progress& progress);
std::string encode(const AuditEvent& event);
std::string encode(const ServerMessage& message);

// ---------------------------------------------------------------------------
// Decoding one line (without its '\n'). Unknown fields are ignored.

// A request from a client. Errors are ErrorCode::usage, worded
// `invalid request: ...` and naming the field at fault.
Result<Request> decode_request(std::string_view line);

// Anything the daemon sends. Errors are ErrorCode::internal (the daemon broke
// the protocol), worded `invalid message from daemon: ...`.
Result<ServerMessage> decode_server_message(std::string_view line);

// Like decode_server_message, but a progress or event line is an error.
Result<Reply> decode_reply(std::string_view line);

// What can be read of a request that decode_request refused: its id (0 when
// unreadable) and its op (nullopt when unknown), to address the error reply.
struct RequestHeader {
    std::uint64_t id = 0;
    std::optional<Op> op;
};
RequestHeader peek_request_header(std::string_view line);

// The error reply to a line decode_request refused.
Reply error_reply_for(std::string_view line, const Error& error);

}  // namespace lokt::protocol
