// Requests on the wire: each one's field list, which both encode() and
// decode_request() follow, and the rules across fields a request must keep.
// This is where untrusted bytes from a socket become typed requests.
#include "protocol/requests.hpp"

#include "common/slot_pool.hpp"

#include "protocol/field_codec.hpp"
#include "protocol/flat_json.hpp"
#include "protocol/record_fields.hpp"
#include "protocol/wire_words.hpp"

namespace lokt::protocol {
namespace wire {

// Fields after "id" and "op", in the order they are written.

void fields(auto& v, Like<HelloRequest> auto& m) {
    v.number("protocol_min", m.protocol.min, k_from_one_u32);
    v.number("protocol_max", m.protocol.max, k_from_one_u32);
    v.check([&](Reader& in) {
        if (m.protocol.max < m.protocol.min) in.fail_field("protocol_max", "must not be less than \"protocol_min\"");
    });
    v.text("client_version", m.client_version);
    v.optional_text("client_build", m.client_build);
    v.strings("capabilities", m.capabilities);
}

void fields(auto& v, Like<AcquireRequest> auto& m) {
    v.root(m.root);
    v.text("name", m.name);
    v.word("mode", m.mode, k_acquire_mode_words);
    v.optional_number("ttl_ms", m.ttl_ms, k_any);
    v.flag("wait", m.wait);
    v.optional_number("timeout_ms", m.timeout_ms, k_any);
    v.object("identity", m.identity);
    v.optional_number("bound_pid", m.bound_pid, k_pid);
    v.optional_number("bound_pid_start", m.bound_pid_start, k_any);
    v.optional_lock_id("nested_lock_id", m.nested_lock_id);
    v.optional_lock_id("handle", m.handle);
    v.optional_lock_id("group", m.group);
    v.optional_number("slots", m.slots, Range{1, k_max_pool_slots});
    v.optional_flag("shared", m.shared);
    v.check([&](Reader& in) {
        const bool bound_to_pid = m.mode == AcquireMode::manual && !m.ttl_ms;
        if (m.timeout_ms && !m.wait) {
            in.fail_field("timeout_ms", "needs \"wait\": true");
        } else if (bound_to_pid && !m.bound_pid) {
            in.fail_missing("bound_pid", "a manual acquire without \"ttl_ms\" is bound to a process");
        } else if (!bound_to_pid && m.bound_pid) {
            in.fail_field("bound_pid", "is only for a manual acquire without \"ttl_ms\"");
        } else if (m.bound_pid_start && !m.bound_pid) {
            in.fail_field("bound_pid_start", "needs \"bound_pid\"");
        } else if (!m.handle.empty() && m.mode != AcquireMode::guard) {
            in.fail_field("handle", "is only for a guard");
        } else if (m.shared && m.slots) {
            in.fail_field("shared", "cannot be combined with \"slots\"");
        }
    });
}

void fields(auto& v, Like<ReleaseRequest> auto& m) {
    v.root(m.root);
    v.text("name", m.name);
    v.lock_id("lock_id", m.lock_id);
    v.optional_number("exit_status", m.exit_status, Range{0, 255});
    v.optional_object("identity", m.identity);
    v.optional_lock_id("group", m.group);
}

void fields(auto& v, Like<RenewRequest> auto& m) {
    v.root(m.root);
    v.text("name", m.name);
    v.lock_id("lock_id", m.lock_id);
    v.number("ttl_ms", m.ttl_ms, k_any);
    v.optional_object("identity", m.identity);
}

void fields(auto& v, Like<UnlockRequest> auto& m) {
    v.root(m.root);
    v.text("name", m.name);
    v.word("mode", m.mode, k_unlock_mode_words);
    v.object("identity", m.identity);
}

// "owner" (with "force") or "all": true; every lock implies force.
void fields(auto& v, Like<UnlockManyRequest> auto& m) {
    v.root(m.root);
    v.optional_nonempty_text("owner", m.owner);
    if (m.owner) v.flag("force", m.force);
    bool all = !m.owner;
    v.optional_flag("all", all);
    v.object("identity", m.identity);
    v.check([&](Reader& in) {
        if (m.owner && all) {
            in.fail("fields \"owner\" and \"all\" exclude each other");
        } else if (!m.owner && !all) {
            in.fail("missing field \"owner\" or \"all\": true");
        }
    });
}

void fields(auto& v, Like<StatusRequest> auto& m) {
    v.root(m.root);
    v.optional_text("name", m.name);
    v.flag("prune_expired", m.prune_expired);
    v.optional_object("identity", m.identity);
    v.check([&](Reader& in) {
        if (m.prune_expired && !m.identity) in.fail_missing("identity", "required with \"prune_expired\": true");
    });
}

void fields(auto& v, Like<FreezeRequest> auto& m) {
    v.root(m.root);
    v.text("name", m.name);
    v.number("ttl_ms", m.ttl_ms, k_any);
    v.flag("force", m.force);
    v.object("identity", m.identity);
}

void fields(auto& v, Like<UnfreezeRequest> auto& m) {
    v.root(m.root);
    v.text("name", m.name);
    v.flag("force", m.force);
    v.object("identity", m.identity);
}

void fields(auto& v, Like<SubscribeAuditRequest> auto& m) {
    v.root(m.root);
    v.optional_text("since", m.since);
    v.optional_text("name", m.name);
}

void fields(auto& v, Like<UnsubscribeRequest> auto& m) { v.number("subscription", m.subscription, k_from_one); }

void fields(auto& v, Like<EtcdHoldRequest> auto& m) {
    v.nonempty_text("endpoints", m.endpoints);
    v.optional_text("cacert", m.cacert);
    v.optional_text("cert", m.cert);
    v.optional_text("key", m.key);
    v.optional_text("user", m.user);
    v.optional_text("password", m.password);
    v.nonempty_text("prefix", m.prefix);
    v.number("ttl_ms", m.ttl_ms, Range{1000, k_max_i32});
    v.nonempty_text("hold_key", m.hold_key);
    v.check([&](Reader& in) {
        if (m.hold_key.compare(0, m.prefix.size() + 2, m.prefix + "q/") != 0) {
            in.fail_field("hold_key", "must be a queue key under \"prefix\" + \"q/\"");
        } else if (m.cert.empty() != m.key.empty()) {
            in.fail_field("cert", "and \"key\" go together");
        }
    });
}

static_assert(std::variant_size_v<RequestBody> == k_op_words.size(), "one request type per op, in Op order");

namespace {

Result<Request> decode_request_checked(std::string_view line) {
    Failure failure;
    const auto fail = [&failure]() { return make_error(ErrorCode::usage, "invalid request: " + *failure.message); };
    const auto object = parse_object(line, failure);
    if (!object) return fail();
    Reader in(*object, "", failure);
    Request request;
    request.id = in.unsigned_integer("id", k_from_one.min, k_from_one.max);
    const auto op = read_op(in);
    if (in.failed()) return fail();
    request.body = variant_at<RequestBody>(static_cast<std::size_t>(*op));
    std::visit([&in](auto& body) { read_fields(in, body); }, request.body);
    if (in.failed()) return fail();
    return request;
}

// The same without a document, for the lines lokt sends (see flat_json.hpp);
// nullopt for any other line.
std::optional<Request> decode_request_flat_checked(std::string_view line) {
    FlatDocument document;
    if (!document.parse(line)) return std::nullopt;
    bool declined = false;
    FlatFieldReader in(document, document.top(), declined);
    Request request;
    in.number("id", request.id, k_from_one);
    Op op = Op::hello;
    in.word("op", op, k_op_words);
    if (declined) return std::nullopt;
    request.body = variant_at<RequestBody>(static_cast<std::size_t>(op));
    std::visit([&in](auto& body) { fields(in, body); }, request.body);
    if (declined) return std::nullopt;
    return request;
}

}  // namespace
}  // namespace wire

std::string encode(const Request& request) {
    wire::Json out = wire::Json::object();
    out["id"] = request.id;
    out["op"] = std::string(to_string(request.op()));
    std::visit([&out](const auto& body) { wire::write_fields(out, body); }, request.body);
    return wire::dump_line(out);
}

Result<Request> decode_request(std::string_view line) {
    if (auto flat = decode_request_flat(line)) return std::move(*flat);
    return decode_request_document(line);
}

std::optional<Request> decode_request_flat(std::string_view line) { return wire::decode_request_flat_checked(line); }

Result<Request> decode_request_document(std::string_view line) {
    try {
        return wire::decode_request_checked(line);
    } catch (const nlohmann::json::exception& error) {
        // Every access is checked first; this is a last line of defence.
        return make_error(ErrorCode::usage, std::string("invalid request: ") + error.what());
    }
}

RequestHeader peek_request_header(std::string_view line) {
    RequestHeader out;
    // With allow_exceptions false, bad JSON parses as a discarded value.
    const wire::Json object = wire::Json::parse(line.begin(), line.end(), nullptr, false);
    if (!object.is_object()) return out;
    if (const auto id = object.find("id"); id != object.end() && id->is_number_unsigned()) {
        out.id = id->get<std::uint64_t>();
    }
    if (const auto op = object.find("op"); op != object.end() && op->is_string()) {
        out.op = op_from_string(op->get_ref<const std::string&>());
    }
    return out;
}

}  // namespace lokt::protocol
