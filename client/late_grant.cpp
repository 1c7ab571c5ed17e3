// See late_grant.hpp.
#include "client/late_grant.hpp"

#include <chrono>

#include "client/cli_context.hpp"
#include "common/hold_deadline.hpp"
#include "common/wall_time.hpp"

namespace lokt::client {

Result<void> renew_if_late(Backend& store, Lease& lease, Nanoseconds ttl, NeededLeft needed) {
    const auto left = time_left(lease.record, wall_now());
    if (!left) return {};
    const Nanoseconds enough = needed == NeededLeft::first_heartbeat ? store.renew_interval(lease, ttl) + ttl / 4 : ttl / 2;
    if (*left >= enough) return {};
    return store.renew(lease, ttl);
}

Result<Acquired> acquire_in_time(Backend& store, const AcquirePlan& plan, bool quiet, NeededLeft needed) {
    const auto started = std::chrono::steady_clock::now();
    AcquirePlan asked = plan;
    for (;;) {
        auto acquired = acquire_with_progress(store, asked, quiet);
        if (!acquired || !acquired->granted() || acquired->outcome == Acquired::Outcome::nested || !plan.spec.ttl)
            return acquired;
        Lease& lease = acquired->lease;
        auto renewed = renew_if_late(store, lease, *plan.spec.ttl, needed);
        if (renewed) return acquired;
        Error error = renewed.take_error();
        if (error.code != ErrorCode::lost) {
            (void)store.release(lease, ReleaseNote{});
            return error;
        }
        error.message += " (the grant came too late: the hold lapsed before it could be used)";
        store.record_lost(lease, error.message);
        (void)store.release(lease, ReleaseNote{});  // loktd forgets the hold it granted
        const Nanoseconds waited = std::chrono::steady_clock::now() - started;
        if (!plan.wait.wait || waited >= plan.wait.timeout) return error;
        warn(error.message + "; waiting again");
        asked.wait.timeout = plan.wait.timeout - waited;
    }
}

}  // namespace lokt::client
