// When a hold (or a freeze) lapses, judged alike by every process of one boot.
// A record written on this boot carries its deadline twice: "expires_at" on
// the wall clock, for people and other tools, and "expires_boot_ns" on the
// kernel's boot clock, which no process can set, step or fake. Readers of the
// same boot judge by the boot clock, so a process whose wall clock is wrong
// (or a clock stepped during a hold) neither breaks a live hold nor keeps an
// expired one; records from another boot or host are judged by wall clock.
#pragma once

#include <optional>

#include "common/duration.hpp"
#include "common/lock_record.hpp"
#include "common/wall_time.hpp"

namespace lokt {

// Sets the record's deadline to ttl from now (wall) and from the boot clock now.
void set_deadline(LockRecord& record, WallTime now, Nanoseconds ttl);
// No deadline at all (a hold without TTL).
void clear_deadline(LockRecord& record);

// Time left before the record lapses (zero or less: lapsed); nullopt when it has
// no deadline. `now` is the wall clock, asked only for records not of this boot.
std::optional<Nanoseconds> time_left(const LockRecord& record, WallTime now);

inline bool has_lapsed(const LockRecord& record, WallTime now) {
    const auto left = time_left(record, now);
    return left && left->count() <= 0;
}

// The wall-clock instant this process should take the deadline to be: `now`
// plus the time left. Equals record.expiry() when clocks agree; what waiters
// and timers schedule by.
std::optional<WallTime> local_expiry(const LockRecord& record, WallTime now);

}  // namespace lokt
