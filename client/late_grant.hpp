// A grant can reach its holder late: loktd stopped or stalled between
// granting and answering, and the hold's TTL ran all the while (the record
// says how much is left, by the boot clock). A guard's command must never
// start on a hold that could lapse before its first heartbeat, or on one
// already broken as lapsed: whoever broke it may be inside already; and
// `lock --ttl` must not report a hold that is about to end, or has. So before
// the hold is used, such a grant is renewed, or found lost and waited for again.
#pragma once

#include "client/acquire_options.hpp"
#include "client/backend.hpp"
#include "common/duration.hpp"

namespace lokt::client {

// How much of its TTL a granted hold must still have when it reaches us.
enum class NeededLeft {
    first_heartbeat,  // a guard's: until its first heartbeat, with TTL/4 to spare
    half_ttl,         // a manual lock's: at least half of what was asked for
};

// Renews `lease` now when less of its TTL is left than `needed`; nothing to
// do for a hold granted on time. A lost error: the hold was gone already.
Result<void> renew_if_late(Backend& store, Lease& lease, Nanoseconds ttl, NeededLeft needed);

// acquire_with_progress(), and a granted hold with a TTL made to last as
// `needed` says. One found lost is recorded (`lost`) and given back; then a
// waiting acquire waits again for what is left of its timeout, and one that
// does not wait (or has no time left) returns the lost error.
Result<Acquired> acquire_in_time(Backend& store, const AcquirePlan& plan, bool quiet, NeededLeft needed);

}  // namespace lokt::client
