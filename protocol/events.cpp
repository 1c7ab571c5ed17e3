// Progress and audit event lines: their field lists (framing included), which
// both encode() and the decoder follow; and decode_server_message(), which
// tells a reply, a progress line and an event apart.
#include "protocol/events.hpp"

#include "protocol/field_codec.hpp"
#include "protocol/record_fields.hpp"
#include "protocol/reply_reader.hpp"

namespace lokt::protocol {
namespace wire {

void fields(auto& v, Like<Progress> auto& m) {
    v.number("id", m.id, k_from_one);
    v.fixed_word("op", to_string(Op::acquire));
    v.fixed_true("progress");
    v.number("position", m.position, k_count);
    v.number("queue_length", m.queue_length, k_count);
    v.optional_object("holder", m.holder);
    v.optional_object("freeze", m.freeze);
}

void fields(auto& v, Like<AuditEvent> auto& m) {
    v.number("id", m.id, k_from_one);
    v.fixed_word("op", to_string(Op::subscribe_audit));
    v.fixed_true("event");
    v.raw_object("audit", m.audit);
}

namespace {

template <class T>
T read_message(Reader& in) {
    T message;
    read_fields(in, message);
    return message;
}

Result<ServerMessage> decode_server_message_checked(std::string_view line) {
    Failure failure;
    const auto fail = [&failure]() {
        return make_error(ErrorCode::internal, "invalid message from daemon: " + *failure.message);
    };
    const auto object = parse_object(line, failure);
    if (!object) return fail();
    Reader in(*object, "", failure);
    std::optional<ServerMessage> message;
    if (in.has("progress")) {
        message = read_message<Progress>(in);
    } else if (in.has("event")) {
        message = read_message<AuditEvent>(in);
    } else if (in.has("ok")) {
        message = read_reply(in, in.unsigned_integer("id", 0, k_max_u64));
    } else {
        in.fail("a message from the daemon needs one of the fields \"ok\", \"progress\" or \"event\"");
    }
    if (in.failed()) return fail();
    return std::move(*message);
}

}  // namespace
}  // namespace wire

Result<AuditEvent> make_audit_event(std::uint64_t id, std::string_view audit_line) {
    const wire::Json object = wire::Json::parse(audit_line.begin(), audit_line.end(), nullptr, false);
    if (!object.is_object()) return make_error(ErrorCode::corrupt, "audit line is not a JSON object");
    return AuditEvent{id, wire::dump(object)};
}

std::string encode(const Progress& progress) { return wire::dump_line(wire::write_object(progress)); }

// make_audit_event() guarantees an object; anything else would be a bug, sent
// as null so that every reader rejects it instead of a broken line.
std::string encode(const AuditEvent& event) { return wire::dump_line(wire::write_object(event)); }

std::string encode(const ServerMessage& message) {
    return std::visit([](const auto& alternative) { return encode(alternative); }, message);
}

Result<ServerMessage> decode_server_message(std::string_view line) {
    try {
        return wire::decode_server_message_checked(line);
    } catch (const nlohmann::json::exception& error) {
        // Every access is checked first; this is a last line of defence.
        return make_error(ErrorCode::internal, std::string("invalid message from daemon: ") + error.what());
    }
}

Result<Reply> decode_reply(std::string_view line) {
    LOKT_TRY_LET(message, decode_server_message(line));
    if (auto* reply = std::get_if<Reply>(&message.value())) return std::move(*reply);
    const char* kind = std::holds_alternative<Progress>(message.value()) ? "a progress message" : "an audit event";
    return make_error(ErrorCode::internal, std::string("invalid message from daemon: expected a reply, got ") + kind);
}

}  // namespace lokt::protocol
