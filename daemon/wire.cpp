// See wire.hpp.
#include "daemon/wire.hpp"

namespace lokt::daemon {

protocol::Reply error_reply(std::uint64_t id, protocol::Op op, const Error& error) {
    protocol::ErrorReply body;
    body.op = op;
    body.code = error.code;
    body.message = error.message;
    return protocol::Reply{id, body};
}

protocol::Reply refusal_reply(std::uint64_t id, const Refusal& refusal) {
    protocol::ErrorReply body;
    body.op = protocol::Op::acquire;
    body.code = refusal.code;
    body.message = refusal.message;
    body.holder = refusal.holder;
    body.freeze = refusal.freeze;
    return protocol::Reply{id, body};
}

}  // namespace lokt::daemon
