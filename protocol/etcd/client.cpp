// See client.hpp: the gateway's JSON both ways, and fail-over.
#include "protocol/etcd/client.hpp"

#include <charconv>
#include <nlohmann/json.hpp>
#include <thread>

#include "protocol/etcd/base64.hpp"

namespace lokt::etcd {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// int64 fields come as strings ("42"); accept numbers too.
std::int64_t int_of(const json& object, const char* field) {
    const auto found = object.find(field);
    if (found == object.end()) return 0;
    if (found->is_number_integer()) return found->get<std::int64_t>();
    if (found->is_string()) {
        const std::string& text = found->get_ref<const std::string&>();
        std::int64_t value = 0;
        std::from_chars(text.data(), text.data() + text.size(), value);
        return value;
    }
    return 0;
}

std::string bytes_of(const json& object, const char* field) {
    const auto found = object.find(field);
    if (found == object.end() || !found->is_string()) return {};
    return base64_decode(found->get_ref<const std::string&>()).value_or(std::string());
}

KeyValue kv_of(const json& object) {
    KeyValue kv;
    kv.key = bytes_of(object, "key");
    kv.value = bytes_of(object, "value");
    kv.create_revision = int_of(object, "create_revision");
    kv.mod_revision = int_of(object, "mod_revision");
    kv.version = int_of(object, "version");
    kv.lease = int_of(object, "lease");
    return kv;
}

std::int64_t header_revision(const json& reply) {
    const auto header = reply.find("header");
    return header == reply.end() ? 0 : int_of(*header, "revision");
}

json range_json(const RangeRequest& request) {
    json body{{"key", base64_encode(request.key)}};
    if (!request.range_end.empty()) body["range_end"] = base64_encode(request.range_end);
    if (request.limit > 0) body["limit"] = std::to_string(request.limit);
    if (request.sort_by_create) {
        body["sort_target"] = "CREATE";
        body["sort_order"] = request.descending ? "DESCEND" : "ASCEND";
    } else if (request.descending) {
        body["sort_target"] = "KEY";
        body["sort_order"] = "DESCEND";
    }
    if (request.keys_only) body["keys_only"] = true;
    if (request.count_only) body["count_only"] = true;
    if (request.revision > 0) body["revision"] = std::to_string(request.revision);
    return body;
}

RangeResponse range_of(const json& reply) {
    RangeResponse response;
    response.revision = header_revision(reply);
    if (const auto kvs = reply.find("kvs"); kvs != reply.end() && kvs->is_array()) {
        for (const auto& kv : *kvs) response.kvs.push_back(kv_of(kv));
    }
    response.count = int_of(reply, "count");
    response.more = reply.value("more", false);
    return response;
}

json put_json(const PutRequest& request) {
    json body{{"key", base64_encode(request.key)}, {"value", base64_encode(request.value)}};
    if (request.lease != 0) body["lease"] = std::to_string(request.lease);
    return body;
}

json delete_json(const DeleteRequest& request) {
    json body{{"key", base64_encode(request.key)}};
    if (!request.range_end.empty()) body["range_end"] = base64_encode(request.range_end);
    if (request.prev_kv) body["prev_kv"] = true;
    return body;
}

DeleteResponse delete_of(const json& reply) {
    DeleteResponse response;
    response.revision = header_revision(reply);
    response.deleted = int_of(reply, "deleted");
    if (const auto prev = reply.find("prev_kvs"); prev != reply.end() && prev->is_array()) {
        for (const auto& kv : *prev) response.prev_kvs.push_back(kv_of(kv));
    }
    return response;
}

json operation_json(const Operation& operation) {
    switch (operation.kind) {
        case Operation::Kind::range: return json{{"request_range", range_json(operation.range)}};
        case Operation::Kind::put: return json{{"request_put", put_json(operation.put)}};
        case Operation::Kind::erase: return json{{"request_delete_range", delete_json(operation.erase)}};
    }
    return json::object();
}

json compare_json(const Compare& compare) {
    static const char* const targets[] = {"CREATE", "MOD", "VERSION", "VALUE", "LEASE"};
    static const char* const relations[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
    json body{{"key", base64_encode(compare.key)},
              {"target", targets[static_cast<int>(compare.target)]},
              {"result", relations[static_cast<int>(compare.relation)]}};
    if (!compare.range_end.empty()) body["range_end"] = base64_encode(compare.range_end);
    switch (compare.target) {
        case Compare::Target::create: body["create_revision"] = std::to_string(compare.number); break;
        case Compare::Target::mod: body["mod_revision"] = std::to_string(compare.number); break;
        case Compare::Target::version: body["version"] = std::to_string(compare.number); break;
        case Compare::Target::lease: body["lease"] = std::to_string(compare.number); break;
        case Compare::Target::value: body["value"] = base64_encode(compare.value); break;
    }
    return body;
}

// Errors the gateway reports as {"error": ..., "code": N} (gRPC codes).
struct GatewayError {
    int code = 0;
    std::string message;
};

std::optional<GatewayError> gateway_error(const json& reply) {
    if (!reply.is_object() || !reply.contains("error")) return std::nullopt;
    GatewayError error;
    error.code = reply.value("code", 0);
    error.message = reply.value("message", reply.value("error", std::string("unknown error")));
    return error;
}

// Worth asking another member: no leader, a timeout, a member stopping.
bool ask_elsewhere(const GatewayError& error) {
    return error.code == 14 || error.code == 4 || error.code == 1 || error.message.find("leader") != std::string::npos ||
           error.message.find("timed out") != std::string::npos || error.message.find("stopped") != std::string::npos;
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty()) {
        if (static_cast<unsigned char>(end.back()) < 0xff) {
            end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key
}

Compare Compare::created_at(std::string key, std::int64_t revision) {
    Compare compare;
    compare.target = Target::create;
    compare.relation = Relation::equal;
    compare.key = std::move(key);
    compare.number = revision;
    return compare;
}

Compare Compare::none_in(std::string key, std::string range_end) {
    Compare compare = created_at(std::move(key), 0);
    compare.range_end = std::move(range_end);
    return compare;
}

Compare Compare::none_created_before(std::string key, std::string range_end, std::int64_t revision) {
    Compare compare = created_at(std::move(key), revision - 1);
    compare.relation = Relation::greater;
    compare.range_end = std::move(range_end);
    return compare;
}

Operation Operation::of(RangeRequest request) {
    Operation operation;
    operation.kind = Kind::range;
    operation.range = std::move(request);
    return operation;
}
Operation Operation::of(PutRequest request) {
    Operation operation;
    operation.kind = Kind::put;
    operation.put = std::move(request);
    return operation;
}
Operation Operation::of(DeleteRequest request) {
    Operation operation;
    operation.kind = Kind::erase;
    operation.erase = std::move(request);
    return operation;
}

Client::Client(ClientOptions options) : m_options(std::move(options)) {}

Client::~Client() { settle(); }

void Client::settle() {
    if (!m_pending) return;
    const std::string body = std::move(*m_pending);
    m_pending.reset();
    if (m_connection.open()) {
        auto reply = m_connection.receive(m_options.attempt_timeout);
        // Answered (whether its compare held is for later reads to find out),
        // unless with an error: then once more, as any call.
        if (reply && reply->body.find("\"error\"") == std::string::npos) return;
        m_connection.close();
    }
    (void)call("/v3/kv/txn", body);
}

const Endpoint& Client::endpoint() const { return m_options.endpoints.at(m_current); }

std::string Client::auth_header() const { return m_token.empty() ? std::string() : "Authorization: " + m_token + "\r\n"; }

Result<void> Client::authenticate(HttpConnection& connection, Millis timeout) {
    const json body{{"name", m_options.user}, {"password", m_options.password}};
    LOKT_TRY_LET(reply, connection.post("/v3/auth/authenticate", body.dump(), "", timeout));
    const json parsed = json::parse(reply->body, nullptr, false);
    if (auto error = gateway_error(parsed)) {
        if (ask_elsewhere(*error)) {
            return make_error(ErrorCode::unavailable, "etcd at " + connection.endpoint().text + ": " + error->message);
        }
        return make_error(ErrorCode::unavailable, "etcd at " + connection.endpoint().text + " refused user \"" + m_options.user +
                                                      "\": " + error->message);
    }
    if (!parsed.is_object() || !parsed.contains("token")) {
        return make_error(ErrorCode::unavailable,
                          "etcd at " + connection.endpoint().text + " gave no token for user \"" + m_options.user + "\"");
    }
    m_token = parsed["token"].get<std::string>();
    return {};
}

Result<void> Client::ensure_connected(std::size_t index, Millis timeout) {
    if (index == m_current && m_connection.open()) return {};
    m_connection.close();
    LOKT_TRY_LET(connection, HttpConnection::connect(m_options.endpoints.at(index), m_options.tls, timeout));
    m_current = index;
    m_connection = std::move(connection.value());
    if (!m_options.user.empty() && m_token.empty()) {
        if (auto done = authenticate(m_connection, timeout); !done) {
            m_connection.close();
            return done.take_error();
        }
    }
    return {};
}

namespace {

// Nothing listens at the member's address (as opposed to a member that is
// slow, paused, electing a leader or unreachable).
bool refused_connection(const Error& error) { return error.message.find("Connection refused") != std::string::npos; }

}  // namespace

Result<std::string> Client::call(std::string_view path, const std::string& body) {
    settle();
    m_retried = false;
    const auto deadline = Clock::now() + m_options.call_timeout;
    const std::size_t count = m_options.endpoints.size();
    std::size_t index = m_current;
    int attempts = 0;
    bool reauthenticated = false;
    bool every_member_refused = true;  // in this round of the members
    Error last = make_error(ErrorCode::unavailable, "no etcd endpoint");
    for (;;) {
        const auto now = Clock::now();
        if (now >= deadline) break;
        const Millis left = std::chrono::ceil<Millis>(deadline - now);
        const Millis timeout = std::min(left, m_options.attempt_timeout);
        if (auto connected = ensure_connected(index, timeout); !connected) {
            last = connected.take_error();
            every_member_refused = every_member_refused && refused_connection(last);
            // A refused password or certificate is not cured by another member.
            if (last.message.find("refused user") != std::string::npos || last.message.find("cannot load") != std::string::npos ||
                last.message.find("TLS") != std::string::npos) {
                return last;
            }
        } else {
            every_member_refused = false;
            if (attempts > 0) m_retried = true;
            ++attempts;
            auto reply = m_connection.post(path, body, auth_header(), timeout);
            if (!reply) {
                last = reply.take_error();
                m_connection.close();
                if (last.message.find("bad certificate") != std::string::npos ||
                    last.message.find("certificate required") != std::string::npos) {
                    // The member wants a certificate we did not (or could not) show.
                    last.message +=
                        " (the member asks for a client certificate signed by its CA: set LOKT_ETCD_CERT and "
                        "LOKT_ETCD_KEY)";
                    return last;
                }
            } else {
                const json parsed = json::parse(reply->body, nullptr, false);
                if (parsed.is_discarded()) {
                    return make_error(ErrorCode::io, "etcd at " + m_connection.endpoint().text + " answered " +
                                                         std::to_string(reply->status) + " with no JSON");
                }
                m_answered_once = true;
                auto error = gateway_error(parsed);
                if (!error) return std::move(reply->body);
                if (error->code == 16 && !m_options.user.empty() && !reauthenticated) {
                    // The token expired (or the member restarted): once more with a new one.
                    reauthenticated = true;
                    m_token.clear();
                    m_connection.close();
                    continue;
                }
                const std::string where = "etcd at " + m_connection.endpoint().text + ": ";
                if (error->code == 5) return make_error(ErrorCode::not_found, where + error->message);
                if (error->code == 16 || error->code == 7) {
                    return make_error(ErrorCode::unavailable, where + "permission denied: " + error->message);
                }
                if (!ask_elsewhere(*error)) return make_error(ErrorCode::io, where + error->message);
                last = make_error(ErrorCode::unavailable, where + error->message);
                m_connection.close();
            }
        }
        index = (index + 1) % count;
        // Every member tried once: a short pause before the next round (an
        // election takes a moment), never past the deadline.
        if (index == m_current || count == 1) {
            if (every_member_refused && !m_answered_once) {
                last.message +=
                    count > 1 ? " (and so did every other member: is etcd running there?)" : " (is etcd running there?)";
                return last;
            }
            every_member_refused = true;
            std::this_thread::sleep_for(std::min(Millis(50), std::chrono::ceil<Millis>(deadline - Clock::now())));
        }
    }
    if (m_options.endpoints.size() > 1) {
        last.message = "no etcd member answered in " + std::to_string(m_options.call_timeout.count() / 1000) +
                       "s (last: " + last.message + ")";
    }
    return last;
}

Result<RangeResponse> Client::range(const RangeRequest& request) {
    LOKT_TRY_LET(reply, call("/v3/kv/range", range_json(request).dump()));
    return range_of(json::parse(*reply));
}

Result<std::int64_t> Client::put(const PutRequest& request) {
    LOKT_TRY_LET(reply, call("/v3/kv/put", put_json(request).dump()));
    return header_revision(json::parse(*reply));
}

Result<DeleteResponse> Client::erase(const DeleteRequest& request) {
    LOKT_TRY_LET(reply, call("/v3/kv/deleterange", delete_json(request).dump()));
    return delete_of(json::parse(*reply));
}

namespace {

std::string txn_json(const TxnRequest& request) {
    json body = json::object();
    body["compare"] = json::array();
    for (const auto& compare : request.compare) body["compare"].push_back(compare_json(compare));
    body["success"] = json::array();
    for (const auto& operation : request.success) body["success"].push_back(operation_json(operation));
    body["failure"] = json::array();
    for (const auto& operation : request.failure) body["failure"].push_back(operation_json(operation));
    return body.dump();
}

}  // namespace

Result<void> Client::txn_later(const TxnRequest& request) {
    settle();
    std::string body = txn_json(request);
    if (m_connection.open() && m_connection.send("/v3/kv/txn", body, auth_header(), m_options.attempt_timeout)) {
        m_pending = std::move(body);
        return {};
    }
    // No connection to leave it on: sent and answered now.
    LOKT_TRY(call("/v3/kv/txn", body));
    return {};
}

namespace {

TxnResponse txn_response_of(const json& parsed) {
    TxnResponse response;
    response.succeeded = parsed.value("succeeded", false);  // omitted when false
    response.revision = header_revision(parsed);
    if (const auto responses = parsed.find("responses"); responses != parsed.end() && responses->is_array()) {
        for (const auto& item : *responses) {
            OperationResponse one;
            if (const auto r = item.find("response_range"); r != item.end()) one.range = range_of(*r);
            if (const auto d = item.find("response_delete_range"); d != item.end()) {
                const DeleteResponse deleted = delete_of(*d);
                one.deleted = deleted.deleted;
                one.prev_kvs = deleted.prev_kvs;
            }
            response.responses.push_back(std::move(one));
        }
    }
    return response;
}

}  // namespace

Result<TxnResponse> Client::txn(const TxnRequest& request) {
    LOKT_TRY_LET(reply, call("/v3/kv/txn", txn_json(request)));
    return txn_response_of(json::parse(*reply));
}

Result<std::int64_t> Client::lease_grant(std::int64_t ttl_sec) {
    LOKT_TRY_LET(reply, call("/v3/lease/grant", json{{"TTL", std::to_string(ttl_sec)}}.dump()));
    const json parsed = json::parse(*reply);
    const std::int64_t id = int_of(parsed, "ID");
    if (id == 0) return make_error(ErrorCode::io, "etcd granted no lease: " + parsed.value("error", std::string("no ID")));
    return id;
}

namespace {

// Deletes each key the transaction (either branch) may have put on the lease
// id, if it is still on that lease: one small transaction per key.
std::vector<TxnRequest> undo_puts(const TxnRequest& request, std::int64_t id) {
    std::vector<TxnRequest> undo;
    for (const auto* branch : {&request.success, &request.failure}) {
        for (const auto& operation : *branch) {
            if (operation.kind != Operation::Kind::put || operation.put.lease != id) continue;
            TxnRequest one;
            Compare on_lease = Compare::created_at(operation.put.key, 0);
            on_lease.target = Compare::Target::lease;
            on_lease.number = id;
            one.compare.push_back(std::move(on_lease));
            one.success.push_back(Operation::of(DeleteRequest{operation.put.key, {}, false}));
            undo.push_back(std::move(one));
        }
    }
    return undo;
}

}  // namespace

Result<TxnResponse> Client::grant_then_txn(std::int64_t id, std::int64_t ttl_sec, const TxnRequest& request) {
    settle();
    m_retried = false;
    const std::string grant = json{{"TTL", std::to_string(ttl_sec)}, {"ID", std::to_string(id)}}.dump();
    const std::string body = txn_json(request);
    if (!ensure_connected(m_current, m_options.attempt_timeout) ||
        !m_connection.send("/v3/lease/grant", grant, auth_header(), m_options.attempt_timeout) ||
        !m_connection.send("/v3/kv/txn", body, auth_header(), m_options.attempt_timeout)) {
        // Not sent as a pair: one after the other, as any calls.
        m_connection.close();
        auto granted = call("/v3/lease/grant", grant);
        if (!granted) {
            if (granted.error().code == ErrorCode::io) return make_error(ErrorCode::not_found, granted.error().message);
            return granted.take_error();
        }
        return txn(request);
    }
    auto granted = m_connection.receive(m_options.attempt_timeout);
    if (granted) {
        const json reply = json::parse(granted->body, nullptr, false);
        if (reply.is_discarded() || gateway_error(reply) || int_of(reply, "ID") != id) {
            // Refused (a lease of that id is someone else's, or the member
            // cannot grant now): whatever the transaction put on a lease of
            // that id is taken back, and the caller grants one the usual way.
            auto done = m_connection.receive(m_options.attempt_timeout);
            if (!done) m_connection.close();
            for (const auto& undo : undo_puts(request, id)) (void)txn(undo);
            std::string why = reply.is_discarded() ? std::string("no JSON") : reply.value("message", std::string("no ID"));
            return make_error(ErrorCode::not_found, "etcd at " + endpoint().text + " refused the lease: " + why);
        }
    }
    auto done = granted ? m_connection.receive(m_options.attempt_timeout) : Result<HttpResponse>(granted.error());
    if (!granted || !done) {
        // The connection broke: what was applied is not known. The grant
        // again (refused if it was applied, which is as good), then the
        // transaction, as a call sent twice.
        m_connection.close();
        (void)call("/v3/lease/grant", grant);
        auto again = txn(request);
        m_retried = true;
        return again;
    }
    const json parsed = json::parse(done->body, nullptr, false);
    if (parsed.is_discarded()) return make_error(ErrorCode::io, "etcd at " + endpoint().text + " answered with no JSON");
    if (auto error = gateway_error(parsed)) {
        if (error->code == 5) return make_error(ErrorCode::not_found, "etcd at " + endpoint().text + ": " + error->message);
        return make_error(ErrorCode::io, "etcd at " + endpoint().text + ": " + error->message);
    }
    return txn_response_of(parsed);
}

Result<std::int64_t> Client::lease_keepalive(std::int64_t id) {
    auto reply = call("/v3/lease/keepalive", json{{"ID", std::to_string(id)}}.dump());
    if (!reply) {
        if (reply.error().code == ErrorCode::not_found) return make_error(ErrorCode::lost, "its etcd lease is gone");
        return reply.take_error();
    }
    const json parsed = json::parse(*reply);
    const json& result = parsed.contains("result") ? parsed["result"] : parsed;
    const std::int64_t ttl = int_of(result, "TTL");  // omitted when the lease is gone
    if (ttl <= 0) return make_error(ErrorCode::lost, "its etcd lease expired");
    return ttl;
}

Result<std::int64_t> Client::lease_time_to_live(std::int64_t id) {
    LOKT_TRY_LET(reply, call("/v3/lease/timetolive", json{{"ID", std::to_string(id)}}.dump()));
    const std::int64_t ttl = int_of(json::parse(*reply), "TTL");
    if (ttl <= 0) return make_error(ErrorCode::lost, "its etcd lease expired");
    return ttl;
}

Result<void> Client::lease_revoke(std::int64_t id) {
    auto reply = call("/v3/lease/revoke", json{{"ID", std::to_string(id)}}.dump());
    if (!reply && reply.error().code != ErrorCode::not_found) return reply.take_error();
    return {};
}

Result<Watch> Client::watch(const WatchRequest& request) {
    json create{{"key", base64_encode(request.key)}};
    if (!request.range_end.empty()) create["range_end"] = base64_encode(request.range_end);
    if (request.start_revision > 0) create["start_revision"] = std::to_string(request.start_revision);
    if (request.prev_kv) create["prev_kv"] = true;
    const std::string body = json{{"create_request", create}}.dump();
    settle();
    const auto deadline = Clock::now() + m_options.call_timeout;
    const std::size_t count = m_options.endpoints.size();
    Error last = make_error(ErrorCode::unavailable, "no etcd endpoint");
    for (std::size_t tried = 0; Clock::now() < deadline; ++tried) {
        // Make sure there is a token, then open a connection of the watch's own.
        const std::size_t index = (m_current + tried) % count;
        const Millis timeout = std::min(m_options.attempt_timeout, std::chrono::ceil<Millis>(deadline - Clock::now()));
        if (auto connected = ensure_connected(index, timeout); !connected) {
            last = connected.take_error();
            continue;
        }
        auto connection = HttpConnection::connect(m_options.endpoints[index], m_options.tls, timeout);
        if (!connection) {
            last = connection.take_error();
            continue;
        }
        auto status = connection->post_streaming("/v3/watch", body, auth_header(), timeout);
        if (!status) {
            last = status.take_error();
            continue;
        }
        auto first = connection->next_message(timeout);
        if (!first || !*first) {
            last = first ? make_error(ErrorCode::unavailable,
                                      "etcd at " + m_options.endpoints[index].text + " did not confirm the watch")
                         : first.take_error();
            continue;
        }
        const json parsed = json::parse(**first, nullptr, false);
        if (auto error = gateway_error(parsed)) {
            last = make_error(ErrorCode::unavailable, "etcd at " + m_options.endpoints[index].text + ": " + error->message);
            if (error->code == 16 || error->code == 7) return last;
            continue;
        }
        const json& result = parsed.contains("result") ? parsed["result"] : parsed;
        if (!result.value("created", false)) {
            last = make_error(ErrorCode::unavailable, "etcd at " + m_options.endpoints[index].text + " refused the watch");
            continue;
        }
        return Watch(std::move(connection.value()));
    }
    return last;
}

Result<std::optional<WatchBatch>> Watch::next(Millis timeout) {
    LOKT_TRY_LET(message, m_connection.next_message(timeout));
    if (!*message) return std::optional<WatchBatch>();
    const json parsed = json::parse(**message, nullptr, false);
    if (parsed.is_discarded()) return make_error(ErrorCode::io, "etcd sent a watch message that is not JSON");
    if (auto error = gateway_error(parsed)) {
        return make_error(ErrorCode::unavailable, "etcd watch: " + error->message);
    }
    const json& result = parsed.contains("result") ? parsed["result"] : parsed;
    WatchBatch batch;
    batch.revision = header_revision(result);
    batch.canceled = result.value("canceled", false);
    batch.compact_revision = int_of(result, "compact_revision");
    batch.cancel_reason = result.value("cancel_reason", std::string());
    if (const auto events = result.find("events"); events != result.end() && events->is_array()) {
        for (const auto& item : *events) {
            WatchEvent event;
            event.type = item.value("type", std::string("PUT")) == "DELETE" ? WatchEvent::Type::erase : WatchEvent::Type::put;
            if (const auto kv = item.find("kv"); kv != item.end()) event.kv = kv_of(*kv);
            if (const auto prev = item.find("prev_kv"); prev != item.end()) event.prev_kv = kv_of(*prev);
            batch.events.push_back(std::move(event));
        }
    }
    return std::optional<WatchBatch>(std::move(batch));
}

}  // namespace lokt::etcd
