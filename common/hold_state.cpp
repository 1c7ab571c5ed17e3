// See hold_state.hpp.
#include "hold_state.hpp"

#include "duration.hpp"
#include "identity.hpp"
#include "process_liveness.hpp"

namespace lokt {

std::string_view to_string(HoldState state) {
    switch (state) {
        case HoldState::absent: return "free";
        case HoldState::live: return "held";
        case HoldState::expired: return "expired";
        case HoldState::dead_holder: return "dead-holder";
        case HoldState::corrupt: return "corrupt";
        case HoldState::being_written: return "being-written";
        case HoldState::unsupported: return "unsupported";
    }
    return "unknown";
}

HoldState judge_record(const LockRecord& record, WallTime now, const std::string& this_host, LivenessMemo* memo) {
    if (record.version > 1) return HoldState::unsupported;
    if (auto expiry = record.expiry(); expiry && *expiry <= now) return HoldState::expired;
    // A TTL-bound manual lock lives until its TTL, whoever ran `lokt lock`.
    if (record.bound_to == Binding::ttl && record.expiry()) return HoldState::live;
    if (record.host == this_host && record.pid > 0) {
        if (!record.boot_id.empty() && !this_boot_id().empty() && record.boot_id != this_boot_id()) {
            return HoldState::dead_holder;
        }
        const auto pid = static_cast<pid_t>(record.pid);
        const Liveness holder = memo ? memo->check(pid, record.pid_start) : process_liveness(pid, record.pid_start);
        if (holder == Liveness::dead) {
            return HoldState::dead_holder;
        }
    }
    return HoldState::live;
}

HoldState judge(const StoredRecord& stored, WallTime now, const std::string& this_host, LivenessMemo* memo) {
    switch (stored.kind) {
        case StoredRecord::Kind::absent: return HoldState::absent;
        case StoredRecord::Kind::corrupt: return HoldState::corrupt;
        case StoredRecord::Kind::being_written: return HoldState::being_written;
        case StoredRecord::Kind::record: return judge_record(stored.record, now, this_host, memo);
    }
    return HoldState::corrupt;
}

std::string describe_holder(const LockRecord& record, WallTime now) {
    std::string text = owner_at_host(record.owner, record.host);
    text += " (pid " + std::to_string(record.pid);
    const bool derived = record.agent_id.empty() ||
                         record.agent_id == derive_agent_id(static_cast<pid_t>(record.pid), record.pid_start);
    if (!derived) text += ", agent " + record.agent_id;
    text += ")";
    if (record.acquired.time_since_epoch().count() != 0) {
        text += " for " + format_duration_seconds(now - record.acquired);
    }
    return text;
}

}  // namespace lokt
