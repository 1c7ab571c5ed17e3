// Replies on the wire: each one's field list, which both encode() and the
// reply reader follow, and the framing around them ("id", "op", "ok", and
// "error" for a refusal).
#include "protocol/replies.hpp"

#include "protocol/field_codec.hpp"
#include "protocol/record_fields.hpp"
#include "protocol/reply_reader.hpp"
#include "protocol/requests.hpp"
#include "protocol/wire_words.hpp"

#include <type_traits>

namespace lokt::protocol {
namespace wire {

// Fields after "id", "op" and "ok", in the order they are written.

void fields(auto& v, Like<HelloReply> auto& m) {
    v.number("protocol", m.protocol, k_from_one_u32);
    v.text("daemon_version", m.daemon_version);
    v.optional_text("daemon_build", m.daemon_build);
    v.number("daemon_pid", m.daemon_pid, k_pid);
    v.strings("capabilities", m.capabilities);
}

void fields(auto& v, Like<AcquireReply> auto& m) {
    v.object("lock", m.lock);
    v.word("outcome", m.outcome, k_outcome_words);
}

void fields(auto& v, Like<RenewReply> auto& m) { v.object("lock", m.lock); }

void fields(auto& v, Like<UnlockReply> auto& m) { v.optional_object("lock", m.lock); }

void fields(auto& v, Like<UnlockRefusal> auto& m) {
    v.error_code("code", m.code);
    v.text("message", m.message);
    v.object("holder", m.holder);
}

void fields(auto& v, Like<UnlockManyReply> auto& m) {
    v.objects("released", m.released);
    v.optional_objects("refused", m.refused);
}

// A hold is its record's fields and two more, in one object.
void fields(auto& v, Like<LockStatus> auto& m) {
    fields(v, m.lock);
    v.word("staleness", m.state, k_staleness_words);
    v.number("waiters", m.waiters, k_count);
}

void fields(auto& v, Like<WaiterInfo> auto& m) {
    v.nonempty_text("name", m.name);
    v.number("position", m.position, k_from_one_u32);
    v.object("identity", m.identity);
    v.number("waited_ms", m.waited_ms, k_any);
    v.optional_text("mode", m.mode);
}

void fields(auto& v, Like<StatusReply> auto& m) {
    v.objects("locks", m.locks);
    v.objects("freezes", m.freezes);
    v.objects("pruned", m.pruned);
    v.optional_objects("waiting", m.waiting);
}

void fields(auto& v, Like<FreezeReply> auto& m) { v.object("freeze", m.freeze); }

void fields(auto& v, Like<UnfreezeReply> auto& m) { v.optional_object("freeze", m.freeze); }

void fields(auto& v, Like<RootStatus> auto& m) {
    v.text("root", m.root);
    v.number("holds", m.holds, k_count);
    v.number("waiters", m.waiters, k_count);
    v.number("subscriptions", m.subscriptions, k_count);
    v.optional_text("unwatched", m.unwatched);
}

void fields(auto& v, Like<DaemonStatusReply> auto& m) {
    v.number("daemon_pid", m.daemon_pid, k_pid);
    v.text("daemon_version", m.daemon_version);
    v.number("uptime_ms", m.uptime_ms, k_any);
    v.number("connections", m.connections, k_count);
    v.number("holds", m.holds, k_count);
    v.number("waiters", m.waiters, k_count);
    v.objects("roots", m.roots);
}

void fields(auto& v, Like<EtcdHoldReply> auto& m) { v.number("lease", m.lease, k_from_one); }

// The "error" object of a refusal (its op is the reply's).
void fields(auto& v, Like<ErrorReply> auto& m) {
    v.error_code("code", m.code);
    v.text("message", m.message);
    v.optional_object("holder", m.holder);
    v.optional_object("freeze", m.freeze);
    v.optional_range("protocol_min", "protocol_max", m.supported);
}

static_assert(std::variant_size_v<ReplyBody> == k_op_words.size() + 1, "ErrorReply plus one reply type per op");

Reply read_reply(Reader& in, std::uint64_t id) {
    Reply reply;
    reply.id = id;
    const bool ok = in.boolean("ok");
    if (in.failed()) return reply;
    if (!ok) {
        ErrorReply error;
        // A refused line may have no readable op: then the reply has none.
        if (in.has("op")) error.op = read_op(in);
        if (auto nested = in.object("error", true)) read_fields(*nested, error);
        reply.body = std::move(error);
        return reply;
    }
    const auto op = read_op(in);
    if (in.failed()) return reply;
    reply.body = variant_at<ReplyBody>(static_cast<std::size_t>(*op) + 1);
    std::visit([&in](auto& body) { read_fields(in, body); }, reply.body);
    return reply;
}

}  // namespace wire

std::optional<Op> Reply::op() const {
    if (const auto* error = std::get_if<ErrorReply>(&body)) return error->op;
    return static_cast<Op>(body.index() - 1);
}

std::string encode(const Reply& reply) {
    wire::Json out = wire::Json::object();
    out["id"] = reply.id;
    if (const auto op = reply.op()) out["op"] = std::string(to_string(*op));
    out["ok"] = reply.ok();
    std::visit(
        [&out](const auto& body) {
            if constexpr (std::is_same_v<std::decay_t<decltype(body)>, ErrorReply>) {
                out["error"] = wire::write_object(body);
            } else {
                wire::write_fields(out, body);
            }
        },
        reply.body);
    return wire::dump_line(out);
}

Reply error_reply_for(std::string_view line, const Error& error) {
    const RequestHeader header = peek_request_header(line);
    ErrorReply body;
    body.op = header.op;
    body.code = error.code;
    body.message = error.message;
    return Reply{header.id, std::move(body)};
}

}  // namespace lokt::protocol
