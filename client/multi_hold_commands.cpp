// See multi_hold_commands.hpp.
#include "client/multi_hold_commands.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "client/guarded_child.hpp"
#include "client/json_views.hpp"
#include "client/late_grant.hpp"
#include "client/multi_acquire.hpp"
#include "common/hold_deadline.hpp"
#include "common/hold_handle.hpp"

namespace lokt::client {
namespace {

// The flags as planned for the first name (the names are checked apart).
Result<AcquirePlan> plan_for_list(const AcquireFlags& flags, const std::vector<std::string>& names, Binding binding,
                                  const Identity& holder) {
    if (flags.slots > 0) return make_error(ErrorCode::usage, "--slots takes one pool name, not a list (\"" + flags.name + "\")");
    if (flags.shared) return make_error(ErrorCode::usage, "--shared takes one lock name, not a list (\"" + flags.name + "\")");
    AcquireFlags first = flags;
    first.name = names.front();
    return plan_acquire(first, binding, holder);
}

// What the names' refusal looks like to the caller: text, or JSON with the
// first thing in the way.
int report_multi_refusal(const MultiAcquired& result, const AcquireFlags& flags, bool json) {
    const Error error = refusal_error(result.refusal);
    if (json)
        report_json(error, refusal_blocker(result.refusal));
    else
        report(error);
    return refusal_exit_status(result.refusal, flags);
}

// The guard's heartbeat over every hold: each one renewed in turn; one lost
// stops the command as for one name, and renewals that keep failing stop it
// before the first of the holds would lapse.
Beat renew_every_hold(Backend& store, MultiAcquired& held, Nanoseconds ttl, bool terminate_on_lost, bool& gave_up) {
    const Nanoseconds soon = std::chrono::milliseconds(10);
    const Nanoseconds margin = ttl / 4;
    Nanoseconds next = ttl;
    std::optional<Error> failure;
    Nanoseconds least_left = ttl;
    for (auto& hold : held.holds) {
        if (hold.outcome == Acquired::Outcome::nested) continue;
        Lease& lease = hold.lease;
        auto renewed = store.renew(lease, ttl);
        const Nanoseconds left = time_left(lease.record, wall_now()).value_or(ttl);
        least_left = std::min(least_left, left);
        if (renewed) {
            next = std::min(next, std::max(soon, std::min(store.renew_interval(lease, ttl), left - margin)));
            continue;
        }
        if (renewed.error().code == ErrorCode::lost) {
            report(renewed.error());
            store.record_lost(lease, renewed.error().message);
            if (terminate_on_lost) {
                std::fprintf(stderr, "error: stopping the command: it is no longer protected by lock \"%s\"\n",
                             lease.name().c_str());
            }
            return Beat{false};
        }
        if (!failure) failure = renewed.error();
    }
    if (!failure) return Beat{true, next};
    const Nanoseconds retry = std::max(soon, ttl / 8);
    if (least_left - retry > margin) {
        warn("cannot renew lock \"" + joined_names(held) + "\": " + failure->message + "; trying again");
        return Beat{true, retry};
    }
    gave_up = true;
    report(make_error(ErrorCode::io, "cannot renew lock \"" + joined_names(held) + "\": " + failure->message));
    for (auto& hold : held.holds) store.record_lost(hold.lease, "cannot renew: " + failure->message);
    if (terminate_on_lost) std::fprintf(stderr, "error: stopping the command: its locks cannot be renewed\n");
    return Beat{false, Nanoseconds::zero(), std::max(least_left / 2, Nanoseconds(std::chrono::milliseconds(1)))};
}

// acquire_all(), and no hold that could lapse before the first heartbeat
// (late_grant.hpp): the first names ran their TTL while the later ones were
// waited for, and any grant can come late. One found lost: every hold given
// back, and a waiting guard waits again with what is left of its timeout.
Result<MultiAcquired> acquire_all_in_time(Backend& store, const AcquirePlan& plan, const std::vector<std::string>& names,
                                          bool quiet, NeededLeft needed) {
    return acquire_until_settled(
        plan, [&](const AcquirePlan& asked) { return acquire_all(store, asked, names, quiet); },
        [&](MultiAcquired& acquired) -> Result<void> {
            if (!acquired.granted) return {};
            for (auto& hold : acquired.holds) LOKT_TRY(settle_grant(store, hold, *plan.spec.ttl, needed));
            return {};
        },
        [&](MultiAcquired& acquired) { (void)release_all(store, acquired, ReleaseNote{}); });
}

}  // namespace

int run_multi_guard(CliContext& cli, const AcquireFlags& flags, bool terminate_on_lost, const std::vector<std::string>& command) {
    if (command.empty())
        return report(make_error(ErrorCode::usage, "guard needs a command after \"--\", e.g. lokt guard build -- make"));
    auto names = parse_name_list(flags.name);
    if (!names) return report(names.error());
    auto plan = plan_for_list(flags, *names, Binding::guard, cli.identity());
    if (!plan) return report(plan.error());
    auto backend = cli.backend(false);
    if (!backend) return report(backend.error());
    Backend& store = **backend;

    // One liveness handle for every hold: the command keeps them all alive.
    auto handle = store.create_hold_handle();
    if (!handle) return report(handle.error());
    plan->spec.handle = handle->token();

    auto acquired = acquire_all_in_time(store, *plan, *names, cli.options().quiet, NeededLeft::first_heartbeat);
    if (!acquired) return report(acquired.error());
    if (!acquired->granted) return report_multi_refusal(*acquired, flags, false);
    MultiAcquired& held = *acquired;

    ChildSpec child;
    child.argv = command;
    child.handle_fd = handle->fd();
    // The names as given, and each one's id in the same order.
    child.extra_env = {{"LOKT_LOCK_NAME", flags.name},
                       {"LOKT_LOCK_ID", joined_lock_ids(held)},
                       {"LOKT_FENCE", joined_fences(held)},
                       {"LOKT_HOLD_FD", std::to_string(handle->fd())}};
    child.terminate_on_lost = terminate_on_lost;
    bool gave_up = false;
    if (plan->spec.ttl) {
        const Nanoseconds ttl = *plan->spec.ttl;
        child.heartbeat_interval = store.renew_interval(held.holds.front().lease, ttl);
        child.heartbeat = [&store, &held, ttl, terminate_on_lost, &gave_up] {
            return renew_every_hold(store, held, ttl, terminate_on_lost, gave_up);
        };
    }
    const ChildOutcome outcome = run_guarded_child(child);
    const int status = outcome.exit_status;
    const int unprotected_status = exit_status_after_loss(status, terminate_on_lost);
    if (outcome.lost && !gave_up) {
        // The holds that are still ours end with the command all the same.
        (void)release_all(store, held, ReleaseNote{status, std::nullopt, {}});
        handle->dispose();
        return unprotected_status;
    }
    ReleaseNote note;
    note.exit_status = status;
    auto released = release_all(store, held, note);
    handle->dispose();
    if (!released) {
        report(released.error());
        if (gave_up) return unprotected_status;
        if (released.error().code == ErrorCode::lost) return exit_status_after_loss(status, false);
        return status != 0 ? status : 1;
    }
    return gave_up ? unprotected_status : status;
}

int run_multi_lock(CliContext& cli, const AcquireFlags& flags, bool json) {
    auto fail = [&](const Error& error) { return json ? report_json(error) : report(error); };
    auto names = parse_name_list(flags.name);
    if (!names) return fail(names.error());
    const Binding binding = flags.ttl.empty() ? Binding::process : Binding::ttl;
    auto plan = plan_for_list(flags, *names, binding, identity_for_process(cli.identity(), ::getppid()));
    if (!plan) return fail(plan.error());
    auto backend = cli.backend(false);
    if (!backend) return fail(backend.error());
    auto acquired = acquire_all_in_time(**backend, *plan, *names, json || cli.options().quiet, NeededLeft::half_ttl);
    if (!acquired) return fail(acquired.error());
    if (!acquired->granted) return report_multi_refusal(*acquired, flags, json);

    auto outcome_word = [](const Acquired& hold) {
        return hold.outcome == Acquired::Outcome::acquired    ? "acquired"
               : hold.outcome == Acquired::Outcome::refreshed ? "refreshed"
                                                              : "nested";
    };
    if (json) {
        JsonWriter out;
        out.begin_object();
        out.field("group", acquired->group);
        out.key("locks").begin_array();
        for (const auto& hold : acquired->holds) {
            out.begin_object();
            write_lock_members(out, hold.lease.record, true);
            out.field("outcome", outcome_word(hold));
            out.end_object();
        }
        out.end_array();
        out.end_object();
        std::fputs(out.finish().c_str(), stdout);
        return 0;
    }
    for (const auto& hold : acquired->holds) {
        const LockRecord& record = hold.lease.record;
        std::string line = "lock \"" + record.name + "\" " + outcome_word(hold);
        if (auto expiry = record.expiry()) {
            line += ", expires " + format_rfc3339_seconds(*expiry);
        } else if (hold.outcome != Acquired::Outcome::nested) {
            line += ", held while pid " + std::to_string(record.pid) + " lives";
        }
        std::printf("%s\n", line.c_str());
    }
    return 0;
}

int run_multi_unlock(CliContext& cli, const std::string& list, UnlockMode mode, bool json) {
    auto fail = [&](const Error& error) { return json ? report_json(error) : report(error); };
    auto names = parse_name_list(list);
    if (!names) return fail(names.error());
    auto backend = cli.backend(true);
    if (!backend) return fail(backend.error());
    const char* verb = mode == UnlockMode::owner ? "released" : mode == UnlockMode::force ? "force-broke" : "broke stale";
    std::vector<std::string> done;
    std::vector<Error> errors;
    for (const auto& name : *names) {
        auto removed = (*backend)->unlock(name, mode);
        if (removed) {
            done.push_back(name);
            if (!json) std::printf("%s lock \"%s\"\n", verb, name.c_str());
        } else {
            errors.push_back(removed.take_error());
        }
    }
    if (json) {
        JsonWriter out;
        out.begin_object();
        out.field("action", verb);
        out.key("released").begin_array();
        for (const auto& name : done) out.value(name);
        out.end_array();
        if (!errors.empty()) {
            out.key("errors").begin_array();
            for (const auto& error : errors) {
                out.begin_object();
                out.field("code", to_string(error.code));
                out.field("message", error.message);
                out.end_object();
            }
            out.end_array();
        }
        out.end_object();
        std::fputs(out.finish().c_str(), stdout);
    }
    for (const auto& error : errors) std::fprintf(stderr, "error: %s\n", error.message.c_str());
    return errors.empty() ? 0 : exit_code_for(errors.front().code);
}

}  // namespace lokt::client
