// The requests a client sends loktd, in the engine's own types (Identity,
// UnlockMode), with their encoder and the decoder that turns an untrusted line
// into one. docs/protocol.md is the reference for the JSON.
#pragma once

#include "common/identity.hpp"
#include "common/lock_engine.hpp"
#include "common/result.hpp"
#include "protocol/vocabulary.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lokt::protocol {

// Every root is an absolute path. An identity says who performs the operation:
// the daemon writes it into lock files and audit lines as the file backend
// would.

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
    // Names one acquire of several names (`lokt guard db,cache`): 32 hex
    // digits, the same on each name's request; empty when alone.
    std::string group;
    // A slot of a pool of this many slots (1-1024), instead of the name itself.
    std::optional<std::uint64_t> slots;
    // Join the name's group of shared holders; absent (false) for an exclusive hold.
    bool shared = false;
    bool operator==(const AcquireRequest&) const = default;
};

// Ends a hold the requester owns, proven by its lock_id.
struct ReleaseRequest {
    std::string root;
    std::string name;
    std::string lock_id;
    // A guard's command's exit status (0-255), for the release line.
    std::optional<std::uint64_t> exit_status;
    // Who releases (the audit line's actor). Optional on the wire for an older
    // client: the daemon then names the holder it knows, if any.
    std::optional<Identity> identity;
    // The group the hold was acquired in, for the release line; empty when none.
    std::string group;
    bool operator==(const ReleaseRequest&) const = default;
};

struct RenewRequest {
    std::string root;
    std::string name;
    std::string lock_id;
    std::uint64_t ttl_ms = 0;
    // Who renews; optional as in ReleaseRequest.
    std::optional<Identity> identity;
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

// A guard on etcd asks its loktd for the lease its hold goes on, and binds
// its queue key to this connection: loktd keeps one lease per (cluster,
// namespace, TTL) alive, and deletes the key (if it is still there) as soon
// as the connection closes (docs/distributed.md). The cluster is named as lokt
// reads it from its settings; the password only travels over the socket.
struct EtcdHoldRequest {
    std::string endpoints;  // "http://a:2379,http://b:2379", as configured
    std::string cacert;     // the TLS files; empty when not used
    std::string cert;
    std::string key;
    std::string user;  // empty: no authentication
    std::string password;
    std::string prefix;        // "lokt/NAMESPACE/": every key starts with it
    std::uint64_t ttl_ms = 0;  // the lease's TTL
    // The queue entry to delete when the connection closes: under prefix + "q/".
    std::string hold_key;
    bool operator==(const EtcdHoldRequest&) const = default;
};

// Alternatives in the order of Op, so that index() is the op.
using RequestBody = std::variant<HelloRequest, AcquireRequest, ReleaseRequest, RenewRequest, UnlockRequest, UnlockManyRequest,
                                 StatusRequest, FreezeRequest, UnfreezeRequest, SubscribeAuditRequest, UnsubscribeRequest,
                                 DaemonStatusRequest, ShutdownRequest, EtcdHoldRequest>;

struct Request {
    std::uint64_t id = 0;  // chosen by the client, >= 1; echoed by every answer
    RequestBody body;
    Op op() const { return static_cast<Op>(body.index()); }
    bool operator==(const Request&) const = default;
};

// Compact JSON on one line ending in '\n', keys in a fixed order, so equal
// requests give equal bytes. Invalid UTF-8 in strings is replaced with U+FFFD.
std::string encode(const Request& request);

// A request from a client (one line without its '\n'); unknown fields are
// ignored. Never throws: errors are ErrorCode::usage, worded
// `invalid request: ...` and naming the field at fault.
Result<Request> decode_request(std::string_view line);
// The two ways decode_request reads a line (exposed for the tests and the fuzz
// target, which check that they agree): without building a JSON document,
// for the compact lines lokt sends (nullopt for any other line, or one that
// would be refused), and through the full parser, for every line.
std::optional<Request> decode_request_flat(std::string_view line);
Result<Request> decode_request_document(std::string_view line);

// What can be read of a request that decode_request refused: its id (0 when
// unreadable) and its op (nullopt when unknown), to address the error reply.
struct RequestHeader {
    std::uint64_t id = 0;
    std::optional<Op> op;
};
RequestHeader peek_request_header(std::string_view line);

}  // namespace lokt::protocol
