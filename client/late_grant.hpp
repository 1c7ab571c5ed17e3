// A grant can reach its holder late: loktd stopped or stalled between
// granting and answering, and the hold's TTL ran all the while (the record
// says how much is left, by the boot clock). A guard's command must never
// start on a hold that could lapse before its first heartbeat, or on one
// already broken as lapsed: whoever broke it may be inside already; and
// `lock --ttl` must not report a hold that is about to end, or has. So before
// the hold is used, such a grant is renewed, or found lost and waited for again.
#pragma once

#include <chrono>
#include <string>

#include "client/acquire_options.hpp"
#include "client/backend.hpp"
#include "common/duration.hpp"

namespace lokt::client {

// How much of its TTL a granted hold must still have when it reaches us.
enum class NeededLeft {
    first_heartbeat,  // a guard's: until its first heartbeat, with TTL/4 to spare
    half_ttl,         // a manual lock's: at least half of what was asked for
};

// Who renews a late grant: its holder, as its heartbeat would (renew()), or
// whoever keeps the hold alive (renew_in_place(), for holds that share one
// connection to loktd, such as an MCP server's).
enum class RenewBy { holder, keeper };

// Renews `lease` now when less of its TTL is left than `needed`; nothing to
// do for a hold granted on time. A lost error: the hold was gone already.
Result<void> renew_if_late(Backend& store, Lease& lease, Nanoseconds ttl, NeededLeft needed, RenewBy by = RenewBy::holder);

// Makes a granted hold last as `needed` says (nothing to do for one not
// granted, or nested in a hold of ours); one found lost is recorded (`lost`),
// its message saying that the grant came too late.
Result<void> settle_grant(Backend& store, Acquired& acquired, Nanoseconds ttl, NeededLeft needed, RenewBy by = RenewBy::holder);

// Says on stderr (unless -q) that a grant was lost and the wait goes on.
void warn_waiting_again(const std::string& message);

// The loop of every acquire that checks its grants. `acquire(plan)` makes one
// attempt and returns a Result of a grant; `settle(grant)` makes each hold of
// a granted one last long enough (an error: one could not be, and one lost is
// recorded as lost); `give_back(grant)` releases every hold of it. A grant
// that could not be settled is given back; a lost one is then waited for
// again, for what is left of the plan's timeout, when the plan waits.
template <typename Acquire, typename Settle, typename GiveBack>
auto acquire_until_settled(const AcquirePlan& plan, Acquire acquire, Settle settle, GiveBack give_back)
    -> decltype(acquire(plan)) {
    const auto started = std::chrono::steady_clock::now();
    AcquirePlan asked = plan;
    for (;;) {
        auto acquired = acquire(asked);
        if (!acquired || !plan.spec.ttl) return acquired;
        Result<void> settled = settle(*acquired);
        if (settled) return acquired;
        Error error = settled.take_error();
        give_back(*acquired);
        const Nanoseconds waited = std::chrono::steady_clock::now() - started;
        if (error.code != ErrorCode::lost || !plan.wait.wait || waited >= plan.wait.timeout) return error;
        warn_waiting_again(error.message);
        asked.wait.timeout = plan.wait.timeout - waited;
    }
}

// acquire_with_progress(), and a granted hold with a TTL made to last as
// `needed` says. One found lost is recorded (`lost`) and given back; then a
// waiting acquire waits again for what is left of its timeout, and one that
// does not wait (or has no time left) returns the lost error.
Result<Acquired> acquire_in_time(Backend& store, const AcquirePlan& plan, bool quiet, NeededLeft needed);

}  // namespace lokt::client
