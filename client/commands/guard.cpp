// `lokt guard NAME [--ttl D] [--wait [--timeout D]] -- CMD...`: acquire, run CMD,
// release however CMD ends; exit as CMD did.
#include <algorithm>
#include <memory>

#include "client/acquire_options.hpp"
#include "client/commands/commands.hpp"
#include "client/guarded_child.hpp"
#include "client/late_grant.hpp"
#include "client/multi_acquire.hpp"
#include "client/multi_hold_commands.hpp"
#include "common/hold_deadline.hpp"
#include "common/hold_handle.hpp"

namespace lokt::client {
namespace {

struct GuardFlags {
    AcquireFlags acquire;
    std::string on_lost = "terminate";
};

int run_guard(CliContext& cli, const GuardFlags& flags, const std::vector<std::string>& command) {
    if (is_name_list(flags.acquire.name)) return run_multi_guard(cli, flags.acquire, flags.on_lost == "terminate", command);
    if (command.empty())
        return report(make_error(ErrorCode::usage, "guard needs a command after \"--\", e.g. lokt guard build -- make"));
    auto plan = plan_acquire(flags.acquire, Binding::guard, cli.identity());
    if (!plan) return report(plan.error());
    auto backend = cli.backend(false);
    if (!backend) return report(backend.error());
    Backend& store = **backend;
    // A backend whose holds live on renewed leases gives a guard without --ttl one.
    if (!plan->spec.ttl) plan->spec.ttl = store.guard_lease_ttl();

    // The liveness handle exists and is locked before the hold names it: from
    // the first moment anyone can read the hold, its command keeps it alive.
    auto handle = store.create_hold_handle();
    if (!handle) return report(handle.error());
    plan->spec.handle = handle->token();

    // Renewed first when it reaches us late, or waited for again if it lapsed meanwhile (late_grant.hpp).
    auto acquired = acquire_in_time(store, *plan, cli.options().quiet, NeededLeft::first_heartbeat);
    if (!acquired) return report(acquired.error());
    if (!acquired->granted()) {
        report(refusal_error(acquired->refusal));
        return refusal_exit_status(acquired->refusal, flags.acquire);
    }

    Lease& lease = acquired->lease;
    ChildSpec child;
    child.argv = command;
    if (acquired->outcome == Acquired::Outcome::nested) {
        // Inside a guard of this very lock: run under the outer hold, release nothing.
        handle->dispose();
        return run_guarded_child(child).exit_status;
    }
    child.handle_fd = handle->fd();
    // A slot's hold is named after its pool, so that a nested guard of the pool finds it.
    const std::string& held_name = lease.record.pool.empty() ? lease.name() : lease.record.pool;
    child.extra_env = {
        {"LOKT_LOCK_NAME", held_name}, {"LOKT_LOCK_ID", lease.lock_id()}, {"LOKT_HOLD_FD", std::to_string(handle->fd())}};
    if (lease.record.fence) child.extra_env.emplace_back("LOKT_FENCE", std::to_string(*lease.record.fence));
    if (lease.record.slot) child.extra_env.emplace_back("LOKT_SLOT", std::to_string(*lease.record.slot));
    if (plan->spec.shared) child.extra_env.emplace_back("LOKT_LOCK_MODE", "shared");
    child.terminate_on_lost = flags.on_lost == "terminate";
    // Set when renewing failed until the hold was about to lapse: the command
    // was stopped (or warned about), but the hold is still ours to release.
    bool gave_up = false;
    if (plan->spec.ttl) {
        const Nanoseconds ttl = *plan->spec.ttl;
        child.heartbeat_interval = store.renew_interval(lease, ttl);
        child.heartbeat = [&store, &lease, ttl, &child, &gave_up]() -> Beat {
            auto renewed = store.renew(lease, ttl);
            const Nanoseconds left = time_left(lease.record, wall_now()).value_or(ttl);
            // A hold is never let come within TTL/4 of its end unrenewed. How
            // often to look is the backend's (through the daemon, which
            // renews, more often than it would renew itself: renew_interval).
            const Nanoseconds margin = ttl / 4;
            const Nanoseconds soon = std::chrono::milliseconds(10);
            if (renewed) return Beat{true, std::max(soon, std::min(store.renew_interval(lease, ttl), left - margin))};
            const std::string& cause = renewed.error().message;
            if (renewed.error().code == ErrorCode::lost) {
                report(renewed.error());
                store.record_lost(lease, cause);
                if (child.terminate_on_lost) {
                    std::fprintf(stderr, "error: stopping the command: it is no longer protected by lock \"%s\"\n",
                                 lease.name().c_str());
                }
                return Beat{false};
            }
            // Tried again every TTL/8 while a retry still comes before TTL/4 is left.
            const Nanoseconds retry = std::max(soon, ttl / 8);
            if (left - retry > margin) {
                // A full disk or a lost permission may pass: try again soon,
                // while the hold still covers the command.
                warn("cannot renew lock \"" + lease.name() + "\": " + cause + "; trying again (the hold lapses in " +
                     format_duration(std::chrono::ceil<std::chrono::milliseconds>(left)) + ")");
                return Beat{true, retry};
            }
            // Renewing failed until the end was near: stop the command while
            // the hold still covers it, as when the lock is lost, so that
            // nobody who breaks the lapsed hold overlaps with it.
            gave_up = true;
            report(make_error(ErrorCode::io, "cannot renew lock \"" + lease.name() + "\": " + cause));
            store.record_lost(lease, "cannot renew: " + cause);
            if (child.terminate_on_lost) {
                std::fprintf(
                    stderr, "error: stopping the command: lock \"%s\" cannot be renewed and lapses in %s\n", lease.name().c_str(),
                    format_duration(std::chrono::ceil<std::chrono::milliseconds>(std::max(left, Nanoseconds::zero()))).c_str());
            }
            return Beat{false, Nanoseconds::zero(), std::max(left / 2, Nanoseconds(std::chrono::milliseconds(1)))};
        };
    }

    const ChildOutcome outcome = run_guarded_child(child);
    int status = outcome.exit_status;
    // Unprotected at the end: the command was stopped, or ran on with --on-lost warn.
    const int unprotected_status = exit_status_after_loss(status, child.terminate_on_lost);
    if (outcome.lost && !gave_up) return unprotected_status;
    ReleaseNote note;
    note.exit_status = status;
    note.acquired = lease.record.acquired;
    auto released = store.release(lease, note);
    // The hold ends with the command, whatever it left behind: processes it
    // started and that still hold the handle now hold a file nobody names.
    handle->dispose();
    if (!released) {
        // Lost, or the root no longer lets us remove the file or log its
        // removal: either way the release did not happen as asked, and a
        // successful exit would hide it.
        report(released.error());
        if (gave_up) return unprotected_status;
        if (released.error().code == ErrorCode::lost) {
            store.record_lost(lease, released.error().message);
            return exit_status_after_loss(status, false);
        }
        return status != 0 ? status : 1;
    }
    return gave_up ? unprotected_status : status;
}

}  // namespace

CommandSpec guard_command(CommandEnv env) {
    auto flags = std::make_shared<GuardFlags>();
    CommandSpec command{"guard", "Acquire a lock, run a command, release it when the command ends"};
    add_acquire_flags(command, flags->acquire);
    command.option("--on-lost", flags->on_lost, "If the lock is lost mid-command: terminate it (default) or warn")
        .choices({"terminate", "warn"});
    command.footer = R"(Usage: lokt guard NAME [--ttl D] [--wait [--timeout D]] [-E N] -- COMMAND [ARGS...]

Examples:
  lokt guard build --ttl 5m -- make build
  lokt guard deploy --wait --timeout 10m -- ./deploy.sh
  lokt guard test -E 75 -- make test      exit 75 (not 2) if the lock is busy
  lokt guard staging-db,deploy --wait -- ./deploy.sh   both locks or neither
  lokt guard gpu --slots 3 --wait -- sh -c 'CUDA_VISIBLE_DEVICES=$LOKT_SLOT ./train.sh'
  lokt guard dataset --shared -- ./read-only-report.sh   readers together, writers alone

The command gets LOKT_LOCK_NAME, LOKT_LOCK_ID, LOKT_FENCE (the hold's fencing
token: greater than every earlier holder's), with --slots, LOKT_SLOT, and with
--shared, LOKT_LOCK_MODE=shared.

Exit status: the command's own (128+N if signal N killed it); 2 when the lock
is held or frozen or --wait timed out (-E N to change it), 5 deadlock (the
wait would close a cycle of holds and waits), 6 the lock was lost while the
command ran (the command was stopped; with --on-lost warn, 6 only if the
command succeeded), 1 error, 64 usage error.)";
    command.run = [env, flags] { *env.exit_status = run_guard(*env.cli, *flags, *env.after_dashes); };
    return command;
}

}  // namespace lokt::client
