// Deciding whether a lock file still stands for a live hold: the one place that
// says what "stale" means (TTL elapsed, or holder dead on this host by pid and
// start time, or a different boot).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/lock_record.hpp"
#include "common/lock_store.hpp"
#include "common/process_liveness.hpp"
#include "common/wall_time.hpp"

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

// What a judgement may look at besides the record: the root, for a guard's
// liveness handle (hold_handle.hpp), and answers already given about pids
// during the same judgement pass. Both optional.
struct JudgeContext {
    const std::filesystem::path* root = nullptr;
    LivenessMemo* memo = nullptr;
};

// A guard hold whose guard process is gone is alive while its liveness handle
// is held (the command still runs), even past its TTL: nobody is left to
// renew it, and the work it guards has not ended.
HoldState judge_record(const LockRecord& record, WallTime now, const std::string& this_host, JudgeContext context = {});
HoldState judge(const StoredRecord& stored, WallTime now, const std::string& this_host, JudgeContext context = {});

// Why a stale hold may be broken, as the audit line's extra.reason says it.
std::string_view stale_reason(const LockRecord& record, HoldState state);

// What keeps a live hold alive, for status and why: "guard" while the guard
// process runs, "command" once it is gone and its command's processes keep
// the handle; "" for other holds or another host.
std::string_view kept_by(const LockRecord& record, const std::string& this_host, LivenessMemo* memo = nullptr);

// "agent-1@macbook (pid 48201) for 12s", with the agent id when it was set
// explicitly, and "(pid 48201, exited; kept by its command)" for a guard
// whose command carries the hold on.
std::string describe_holder(const LockRecord& record, WallTime now, std::string_view kept = {});

// The members of a shared group (LockRecord::holders) that are live, in the
// file's order.
std::vector<const LockRecord*> live_members(const LockRecord& group, WallTime now, const std::string& this_host,
                                            JudgeContext context = {});
// "3 holders: a@h (pid 10) for 5s, b@h (pid 11) for 2s, ...": the live members.
std::string describe_shared(const LockRecord& group, WallTime now, const std::string& this_host, JudgeContext context = {});

}  // namespace lokt
