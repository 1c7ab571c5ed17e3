// See hold_state.hpp.
#include "common/hold_state.hpp"

#include "common/duration.hpp"
#include "common/hold_deadline.hpp"
#include "common/hold_handle.hpp"
#include "common/identity.hpp"
#include "common/platform/processes.hpp"
#include "common/process_liveness.hpp"

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

namespace {

// Is the holder process of a record on this host gone (pid and start time,
// or a different boot)?
bool holder_gone(const LockRecord& record, LivenessMemo* memo) {
    if (!record.boot_id.empty() && !platform::this_boot_id().empty() && record.boot_id != platform::this_boot_id()) return true;
    const auto pid = static_cast<pid_t>(record.pid);
    const Liveness holder = memo ? memo->check(pid, record.pid_start) : process_liveness(pid, record.pid_start);
    return holder == Liveness::dead;
}

bool same_boot(const LockRecord& record) {
    return record.boot_id.empty() || platform::this_boot_id().empty() || record.boot_id == platform::this_boot_id();
}

}  // namespace

HoldState judge_record(const LockRecord& record, WallTime now, const std::string& this_host, JudgeContext context) {
    if (record.version > 1) return HoldState::unsupported;
    if (record.is_shared()) {
        // A group lives while any member does, each judged as a plain hold;
        // with none, it is stale as a whole (dead unless every member expired).
        HoldState group = HoldState::expired;
        for (const LockRecord& member : record.holders) {
            const HoldState state = judge_record(member, now, this_host, context);
            if (state == HoldState::live) return HoldState::live;
            if (state != HoldState::expired) group = HoldState::dead_holder;
        }
        return record.holders.empty() ? HoldState::dead_holder : group;
    }
    const bool expired = has_lapsed(record, now);
    const bool has_handle = !record.handle.empty() && record.bound_to == Binding::guard;
    if (expired && !has_handle) return HoldState::expired;
    // A TTL-bound manual lock lives until its TTL, whoever ran `lokt lock`.
    if (record.bound_to == Binding::ttl && record.expiry()) return HoldState::live;
    if (record.host == this_host && record.pid > 0) {
        if (!holder_gone(record, context.memo)) return expired ? HoldState::expired : HoldState::live;
        // The guard is gone; its command may still run and carry the hold.
        if (has_handle && context.root != nullptr && same_boot(record) &&
            probe_handle(*context.root, record.handle) == HandleState::held) {
            return HoldState::live;
        }
        // Guard and command both gone says more than an expiry nobody was left to renew.
        return expired && !has_handle ? HoldState::expired : HoldState::dead_holder;
    }
    return expired ? HoldState::expired : HoldState::live;
}

HoldState judge(const StoredRecord& stored, WallTime now, const std::string& this_host, JudgeContext context) {
    switch (stored.kind) {
        case StoredRecord::Kind::absent: return HoldState::absent;
        case StoredRecord::Kind::corrupt: return HoldState::corrupt;
        case StoredRecord::Kind::being_written: return HoldState::being_written;
        case StoredRecord::Kind::record: return judge_record(stored.record, now, this_host, context);
    }
    return HoldState::corrupt;
}

std::string_view stale_reason(const LockRecord& record, HoldState state) {
    if (record.is_shared()) return state == HoldState::expired ? "every shared holder expired" : "no shared holder is alive";
    if (state == HoldState::expired) return "expired";
    if (!record.handle.empty() && record.bound_to == Binding::guard) return "guard and its command have exited";
    return "holder process is dead";
}

std::string_view kept_by(const LockRecord& record, const std::string& this_host, LivenessMemo* memo) {
    if (record.handle.empty() || record.bound_to != Binding::guard || record.host != this_host || record.pid <= 0) {
        return {};
    }
    return holder_gone(record, memo) ? "command" : "guard";
}

std::vector<const LockRecord*> live_members(const LockRecord& group, WallTime now, const std::string& this_host,
                                            JudgeContext context) {
    std::vector<const LockRecord*> live;
    for (const LockRecord& member : group.holders) {
        if (judge_record(member, now, this_host, context) == HoldState::live) live.push_back(&member);
    }
    return live;
}

std::string describe_shared(const LockRecord& group, WallTime now, const std::string& this_host, JudgeContext context) {
    const auto live = live_members(group, now, this_host, context);
    std::string text = std::to_string(live.size()) + (live.size() == 1 ? " holder: " : " holders: ");
    for (std::size_t i = 0; i < live.size(); ++i) {
        if (i > 0) text += ", ";
        text += describe_holder(*live[i], now, kept_by(*live[i], this_host, context.memo));
    }
    return text;
}

std::string describe_holder(const LockRecord& record, WallTime now, std::string_view kept) {
    std::string text = owner_at_host(record.owner, record.host);
    text += " (pid " + std::to_string(record.pid);
    if (kept == "command") text += ", exited; kept by its command";
    const bool derived =
        record.agent_id.empty() || record.agent_id == derive_agent_id(static_cast<pid_t>(record.pid), record.pid_start);
    if (!derived) text += ", agent " + record.agent_id;
    text += ")";
    if (record.acquired.time_since_epoch().count() != 0) {
        text += " for " + format_duration_seconds(now - record.acquired);
    }
    return text;
}

}  // namespace lokt
