// See wire.hpp.
#include "wire.hpp"

#include "record_conversion.hpp"

namespace lokt::daemon {

protocol::Staleness staleness_of(HoldState state) {
    switch (state) {
        case HoldState::expired: return protocol::Staleness::expired;
        case HoldState::dead_holder: return protocol::Staleness::dead;
        default: return protocol::Staleness::live;
    }
}

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
    if (refusal.holder) body.holder = protocol::record_to_wire(*refusal.holder);
    if (refusal.freeze) body.freeze = protocol::record_to_wire(*refusal.freeze);
    return protocol::Reply{id, body};
}

}  // namespace lokt::daemon
