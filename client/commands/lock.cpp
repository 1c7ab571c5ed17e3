// `lokt lock NAME [--ttl D] [--wait [--timeout D]] [--json]`: acquire and return.
// With a TTL the hold lasts until unlock or expiry, across shells; without one
// it lasts as long as the process that ran lokt (the shell or script).
#include <unistd.h>

#include <memory>

#include "client/acquire_options.hpp"
#include "client/commands/commands.hpp"
#include "client/json_views.hpp"
#include "client/late_grant.hpp"
#include "client/multi_acquire.hpp"
#include "client/multi_hold_commands.hpp"

namespace lokt::client {
namespace {

struct LockFlags {
    AcquireFlags acquire;
    bool json = false;
};

int run_lock(CliContext& cli, const LockFlags& flags) {
    if (is_name_list(flags.acquire.name)) return run_multi_lock(cli, flags.acquire, flags.json);
    auto fail = [&](const Error& error) { return flags.json ? report_json(error) : report(error); };
    const Binding binding = flags.acquire.ttl.empty() ? Binding::process : Binding::ttl;
    const Identity holder = identity_for_process(cli.identity(), ::getppid());
    auto plan = plan_acquire(flags.acquire, binding, holder);
    if (!plan) return fail(plan.error());
    auto backend = cli.backend(false);
    if (!backend) return fail(backend.error());

    // A grant that reaches us with less than half its TTL left is renewed first (late_grant.hpp).
    auto acquired = acquire_in_time(**backend, *plan, flags.json || cli.options().quiet, NeededLeft::half_ttl);
    if (!acquired) return fail(acquired.error());
    if (!acquired->granted()) {
        const Error error = refusal_error(acquired->refusal);
        if (flags.json)
            report_json(error, refusal_blocker(acquired->refusal));
        else
            report(error);
        return refusal_exit_status(acquired->refusal, flags.acquire);
    }

    const LockRecord& hold = acquired->lease.record;
    const char* outcome = acquired->outcome == Acquired::Outcome::acquired    ? "acquired"
                          : acquired->outcome == Acquired::Outcome::refreshed ? "refreshed"
                                                                              : "nested";
    if (flags.json) {
        JsonWriter out;
        out.begin_object();
        write_lock_members(out, hold, true);
        if (plan->spec.shared) out.field("mode", "shared");
        out.field("outcome", outcome);
        out.end_object();
        std::fputs(out.finish().c_str(), stdout);
        return 0;
    }
    std::string line = std::string("lock \"") + hold.name + "\" " + outcome;
    if (plan->spec.shared && acquired->outcome != Acquired::Outcome::nested) line += " in shared mode";
    if (hold.slot) {
        line = "slot " + std::to_string(*hold.slot) + " of pool \"" + hold.pool + "\" " + outcome + " as lock \"" + hold.name +
               "\" (unlock it by that name)";
    }
    if (auto expiry = hold.expiry()) {
        line += ", expires " + format_rfc3339_seconds(*expiry);
    } else if (acquired->outcome != Acquired::Outcome::nested) {
        line += ", held while pid " + std::to_string(hold.pid) + " lives";
    }
    std::printf("%s\n", line.c_str());
    return 0;
}

}  // namespace

CommandSpec lock_command(CommandEnv env) {
    auto flags = std::make_shared<LockFlags>();
    CommandSpec command{"lock", "Acquire a lock and keep it after this command returns"};
    add_acquire_flags(command, flags->acquire);
    command.flag("--json", flags->json, "Print the lock as JSON (a refusal: the error with the holder)");
    command.footer = R"(Examples:
  lokt lock db-migrate --ttl 10m && ./migrate.sh; lokt unlock db-migrate
  lokt lock deploy --wait --timeout 5m --json
  lokt lock staging-db,deploy --ttl 10m  both or neither; unlock staging-db,deploy
  lokt lock test-db --slots 2 --ttl 30m --json     one of 2 slots; unlock its "name"
  lokt lock dataset --shared --ttl 1h   with other shared holders, never with an exclusive one

Without --ttl the lock lasts as long as the shell or script that ran lokt.

Exit status: 0 acquired, 2 held by another, frozen or --wait timed out (-E N
to change it), 5 deadlock (the wait would close a cycle of holds and waits),
1 error, 64 usage error.)";
    command.run = [env, flags] { *env.exit_status = run_lock(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
