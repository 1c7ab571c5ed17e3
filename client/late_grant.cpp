// See late_grant.hpp.
#include "client/late_grant.hpp"

#include "client/cli_context.hpp"
#include "common/hold_deadline.hpp"
#include "common/wall_time.hpp"

namespace lokt::client {

Result<void> renew_if_late(Backend& store, Lease& lease, Nanoseconds ttl, NeededLeft needed, RenewBy by) {
    const auto left = time_left(lease.record, wall_now());
    if (!left) return {};
    const Nanoseconds enough = needed == NeededLeft::first_heartbeat ? store.renew_interval(lease, ttl) + ttl / 4 : ttl / 2;
    if (*left >= enough) return {};
    return by == RenewBy::keeper ? store.renew_in_place(lease, ttl) : store.renew(lease, ttl);
}

Result<void> settle_grant(Backend& store, Acquired& acquired, Nanoseconds ttl, NeededLeft needed, RenewBy by) {
    if (!acquired.granted() || acquired.outcome == Acquired::Outcome::nested) return {};
    auto renewed = renew_if_late(store, acquired.lease, ttl, needed, by);
    if (renewed) return {};
    Error error = renewed.take_error();
    if (error.code == ErrorCode::lost) {
        error.message += " (the grant came too late: the hold lapsed before it could be used)";
        store.record_lost(acquired.lease, error.message);
    }
    return error;
}

void warn_waiting_again(const std::string& message) { warn(message + "; waiting again"); }

Result<Acquired> acquire_in_time(Backend& store, const AcquirePlan& plan, bool quiet, NeededLeft needed) {
    return acquire_until_settled(
        plan, [&](const AcquirePlan& asked) { return acquire_with_progress(store, asked, quiet); },
        [&](Acquired& acquired) { return settle_grant(store, acquired, *plan.spec.ttl, needed); },
        // A release also makes loktd forget the hold it granted.
        [&](Acquired& acquired) { (void)store.release(acquired.lease, ReleaseNote{}); });
}

}  // namespace lokt::client
