// See record_conversion.hpp.
#include "record_conversion.hpp"

#include <cstdint>

#include "wall_time.hpp"

namespace lokt::protocol {

Identity identity_to_wire(const lokt::Identity& identity) {
    Identity wire;
    wire.owner = identity.owner;
    wire.owner_explicit = identity.owner_explicit;
    wire.host = identity.host;
    wire.pid = static_cast<std::int32_t>(identity.pid);
    wire.pid_start = identity.pid_start;
    wire.agent_id = identity.agent_id;
    return wire;
}

lokt::Identity identity_from_wire(const Identity& identity) {
    lokt::Identity id;
    id.owner = identity.owner;
    id.owner_explicit = identity.owner_explicit;
    id.host = identity.host;
    id.pid = identity.pid;
    id.pid_start = identity.pid_start;
    id.agent_id = identity.agent_id;
    return id;
}

LockInfo record_to_wire(const LockRecord& record) {
    LockInfo info;
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
            case Binding::guard: info.bound_to = BoundTo::guard; break;
            case Binding::ttl: info.bound_to = BoundTo::ttl; break;
            case Binding::process: info.bound_to = BoundTo::process; break;
        }
    }
    info.owner_explicit = record.owner_explicit;
    info.boot_id = record.boot_id;
    info.fence = record.fence;
    info.handle = record.handle;
    return info;
}

LockRecord record_from_wire(const LockInfo& info) {
    LockRecord record;
    record.name = info.name;
    record.lock_id = info.lock_id;
    record.owner = info.owner;
    record.host = info.host;
    record.pid = info.pid;
    record.pid_start = info.pid_start;
    record.agent_id = info.agent_id;
    if (auto acquired = parse_rfc3339(info.acquired_ts)) record.acquired = *acquired;
    record.ttl_sec = static_cast<std::int64_t>(info.ttl_sec.value_or(0));
    if (!info.expires_at.empty()) record.expires_at = parse_rfc3339(info.expires_at);
    if (info.bound_to) {
        switch (*info.bound_to) {
            case BoundTo::guard: record.bound_to = Binding::guard; break;
            case BoundTo::ttl: record.bound_to = Binding::ttl; break;
            case BoundTo::process: record.bound_to = Binding::process; break;
        }
    }
    record.owner_explicit = info.owner_explicit;
    record.boot_id = info.boot_id;
    record.fence = info.fence;
    record.handle = info.handle;
    return record;
}

}  // namespace lokt::protocol
