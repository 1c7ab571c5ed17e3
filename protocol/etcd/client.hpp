// An etcd v3 client over the JSON gateway (/v3/..., HTTP/1.1 keep-alive): the
// key-value calls lokt needs (Range, Put, DeleteRange, Txn with compares on
// revisions), leases (grant, one keepalive, revoke, time to live), streamed
// watches, user/password authentication, and fail-over between the endpoints.
//
// Keys and values are bytes here; base64 and int64-as-string are the gateway's
// business and stay in client.cpp. Its Txn answer omits "succeeded" when the
// compare failed, and a gone lease comes back without "TTL": both read as
// false / zero. Used by lokt today and meant for loktd too, which is why it is
// a layer of its own (depends on common only; see docs/design.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "protocol/etcd/endpoint.hpp"
#include "protocol/etcd/http_connection.hpp"
#include "protocol/etcd/tls_options.hpp"

namespace lokt::etcd {

struct KeyValue {
    std::string key;
    std::string value;
    std::int64_t create_revision = 0;
    std::int64_t mod_revision = 0;
    std::int64_t version = 0;
    std::int64_t lease = 0;
};

// The end of the range of every key starting with prefix.
std::string prefix_end(std::string_view prefix);

struct RangeRequest {
    std::string key;
    std::string range_end;  // empty: the key alone
    std::int64_t limit = 0;
    bool sort_by_create = false;  // ascending create_revision (else by key)
    bool descending = false;
    bool keys_only = false;
    bool count_only = false;
    std::int64_t revision = 0;  // 0: now
};

struct RangeResponse {
    std::int64_t revision = 0;  // the store's revision when read
    std::vector<KeyValue> kvs;
    std::int64_t count = 0;
    bool more = false;
};

struct PutRequest {
    std::string key;
    std::string value;
    std::int64_t lease = 0;
};

struct DeleteRequest {
    std::string key;
    std::string range_end;
    bool prev_kv = false;
};

struct DeleteResponse {
    std::int64_t revision = 0;
    std::int64_t deleted = 0;
    std::vector<KeyValue> prev_kvs;
};

struct Compare {
    enum class Target { create, mod, version, value, lease };
    enum class Relation { equal, greater, less, not_equal };
    Target target = Target::create;
    Relation relation = Relation::equal;
    std::string key;
    std::string range_end;  // compare every key of the range (empty range: a key with zeros)
    std::int64_t number = 0;
    std::string value;

    // create_revision(key) == revision (0: the key does not exist).
    static Compare created_at(std::string key, std::int64_t revision);
    // No key of [key, range_end) exists.
    static Compare none_in(std::string key, std::string range_end);
    // No key of [key, range_end) was created before revision (and one is
    // there: an empty range fails).
    static Compare none_created_before(std::string key, std::string range_end, std::int64_t revision);
};

struct Operation {
    enum class Kind { range, put, erase };
    Kind kind = Kind::range;
    RangeRequest range;
    PutRequest put;
    DeleteRequest erase;

    static Operation of(RangeRequest request);
    static Operation of(PutRequest request);
    static Operation of(DeleteRequest request);
};

struct OperationResponse {
    RangeResponse range;       // for a range
    std::int64_t deleted = 0;  // for an erase
    std::vector<KeyValue> prev_kvs;
};

struct TxnRequest {
    std::vector<Compare> compare;
    std::vector<Operation> success;
    std::vector<Operation> failure;
};

struct TxnResponse {
    bool succeeded = false;
    std::int64_t revision = 0;
    std::vector<OperationResponse> responses;
};

struct WatchRequest {
    std::string key;
    std::string range_end;
    std::int64_t start_revision = 0;  // 0: from now
    bool prev_kv = false;
};

struct WatchEvent {
    enum class Type { put, erase };
    Type type = Type::put;
    KeyValue kv;
    std::optional<KeyValue> prev_kv;
};

struct WatchBatch {
    std::int64_t revision = 0;
    std::vector<WatchEvent> events;
    // The watch ended: its start was compacted away (compact_revision: read
    // again from there) or the server gave up on it.
    bool canceled = false;
    std::int64_t compact_revision = 0;
    std::string cancel_reason;
};

// One streamed watch on a connection of its own. next() returns the next
// batch of events (the creation notice is consumed by Client::watch).
class Watch {
public:
    Watch() = default;
    explicit Watch(HttpConnection connection) : m_connection(std::move(connection)) {}
    // nullopt when nothing came in time; ErrorCode::unavailable when the
    // stream broke (start a new watch from the last revision seen + 1).
    Result<std::optional<WatchBatch>> next(Millis timeout);
    int fd() const { return m_connection.native_fd(); }
    bool has_buffered() const { return m_connection.has_buffered_message(); }
    void close() { m_connection.close(); }

private:
    HttpConnection m_connection;
};

struct ClientOptions {
    std::vector<Endpoint> endpoints;
    TlsOptions tls;
    std::string user;  // empty: no authentication
    std::string password;
    // One attempt on one member: a stopped member is left after this long.
    Millis attempt_timeout{1500};
    // A call gives up after trying the members for this long. Until some
    // member has answered once, a round in which every member refused the
    // connection (nothing listens there) ends the call at once: a client
    // pointed at a cluster that is not running says so, while one that has
    // been talking to it rides out a restart or an election.
    Millis call_timeout{10000};
};

class Client {
public:
    explicit Client(ClientOptions options);
    // Reads the answer of a transaction sent with txn_later, if any.
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    Result<RangeResponse> range(const RangeRequest& request);
    Result<std::int64_t> put(const PutRequest& request);  // the new revision
    Result<DeleteResponse> erase(const DeleteRequest& request);
    Result<TxnResponse> txn(const TxnRequest& request);
    // Sends a transaction whose answer is read only before the next call (or
    // as the client goes), for a write nobody waits for: the caller goes on
    // while the member commits it. A transaction whose answer cannot be read
    // then (the connection broke) is sent again, so it may be applied twice.
    Result<void> txn_later(const TxnRequest& request);

    // A new lease; returns its id (the TTL granted may be larger than asked).
    Result<std::int64_t> lease_grant(std::int64_t ttl_sec);
    // Grants the lease `id` (chosen by the caller, at random) and runs request
    // right after it on the same connection, without waiting in between: the
    // member takes them in order, so the transaction may put keys on the
    // lease. If the grant was refused, the answer is ErrorCode::not_found (as
    // for any lease that is not there), and keys the transaction put on a
    // lease of that id are deleted again.
    Result<TxnResponse> grant_then_txn(std::int64_t id, std::int64_t ttl_sec, const TxnRequest& request);
    // One keepalive; the lease's TTL now. ErrorCode::lost when the lease is gone.
    Result<std::int64_t> lease_keepalive(std::int64_t id);
    // Seconds left; ErrorCode::lost when the lease is gone.
    Result<std::int64_t> lease_time_to_live(std::int64_t id);
    Result<void> lease_revoke(std::int64_t id);

    // Starts a watch on a member that answers; the creation is confirmed before it returns.
    Result<Watch> watch(const WatchRequest& request);

    // The member the last call was answered by.
    const Endpoint& endpoint() const;
    // The last call was sent more than once (a member failed mid-call): a
    // write may have been applied by an earlier attempt.
    bool last_call_retried() const { return m_retried; }

private:
    // POSTs to path on the current member, failing over on transport errors
    // and on errors that say "ask another member" (no leader, timeouts).
    Result<std::string> call(std::string_view path, const std::string& body);
    Result<void> ensure_connected(std::size_t index, Millis timeout);
    Result<void> authenticate(HttpConnection& connection, Millis timeout);
    std::string auth_header() const;
    // Reads the answer txn_later left waiting, or sends that request again.
    void settle();

    ClientOptions m_options;
    std::size_t m_current = 0;
    HttpConnection m_connection;
    std::string m_token;
    bool m_retried = false;
    bool m_answered_once = false;          // some member has answered a call
    std::optional<std::string> m_pending;  // the body of a txn_later whose answer is unread
};

}  // namespace lokt::etcd
