// Deciding whether a lock file still stands for a live hold: the one place that
// says what "stale" means (TTL elapsed, or holder dead on this host by pid and
// start time, or a different boot).
#pragma once

#include <string>

#include "lock_record.hpp"
#include "lock_store.hpp"
#include "process_liveness.hpp"
#include "wall_time.hpp"

namespace lokt {

enum class HoldState {
    absent,
    live,
    expired,        // TTL elapsed
    dead_holder,    // holder process gone (same host)
    corrupt,        // not a lock record: removed by the next acquire
    being_written,  // another tool's empty file, younger than the grace period
    unsupported,    // version > 1: touched only by --force
};

std::string_view to_string(HoldState state);

// Stale holds never block an acquire.
inline bool is_stale(HoldState state) { return state == HoldState::expired || state == HoldState::dead_holder; }
// States in which an acquire must wait or be refused.
inline bool blocks_acquire(HoldState state) {
    return state == HoldState::live || state == HoldState::being_written || state == HoldState::unsupported;
}

// memo, when given, answers liveness questions already asked during the same judgement pass.
HoldState judge_record(const LockRecord& record, WallTime now, const std::string& this_host,
                       LivenessMemo* memo = nullptr);
HoldState judge(const StoredRecord& stored, WallTime now, const std::string& this_host,
                LivenessMemo* memo = nullptr);

// "agent-1@macbook (pid 48201) for 12s", with the agent id when it was set explicitly.
std::string describe_holder(const LockRecord& record, WallTime now);

}  // namespace lokt
