// See wire.hpp.
#include "wire.hpp"

namespace lokt::daemon {

Identity from_wire(const protocol::Identity& identity) {
    Identity id;
    id.owner = identity.owner;
    id.owner_explicit = identity.owner_explicit;
    id.host = identity.host;
    id.pid = identity.pid;
    id.pid_start = identity.pid_start;
    id.agent_id = identity.agent_id;
    return id;
}

protocol::LockInfo to_wire(const LockRecord& record) {
    protocol::LockInfo info;
    info.name = record.name;
    info.lock_id = record.lock_id;
    info.owner = record.owner;
    info.host = record.host;
    info.pid = record.pid;
    info.pid_start = record.pid_start;
    info.agent_id = record.agent_id;
    if (record.acquired.time_since_epoch().count() != 0) info.acquired_ts = format_rfc3339(record.acquired);
    if (record.ttl_sec > 0) info.ttl_sec = static_cast<std::uint64_t>(record.ttl_sec);
    if (record.expires_at) info.expires_at = format_rfc3339(*record.expires_at);
    if (record.bound_to) {
        switch (*record.bound_to) {
            case Binding::guard: info.bound_to = protocol::BoundTo::guard; break;
            case Binding::ttl: info.bound_to = protocol::BoundTo::ttl; break;
            case Binding::process: info.bound_to = protocol::BoundTo::process; break;
        }
    }
    info.owner_explicit = record.owner_explicit;
    info.boot_id = record.boot_id;
    info.fence = record.fence;
    return info;
}

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
    if (refusal.holder) body.holder = to_wire(*refusal.holder);
    if (refusal.freeze) body.freeze = to_wire(*refusal.freeze);
    return protocol::Reply{id, body};
}

}  // namespace lokt::daemon
