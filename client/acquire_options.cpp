// See acquire_options.hpp.
#include "acquire_options.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "lock_name.hpp"

namespace lokt::client {

void add_acquire_flags(CLI::App& command, AcquireFlags& flags) {
    command.add_option("name", flags.name, "Lock name")->required();
    command.add_option("--ttl", flags.ttl, "Hold expires after this long without renewal (e.g. 30s, 5m, 300)");
    command.add_flag("--wait", flags.wait, "Wait for the lock instead of failing with exit 2");
    command.add_option("--timeout", flags.timeout, "With --wait: give up after this long (default 10m)");
    command.add_option("-E,--conflict-exit-code", flags.conflict_exit_code,
                       "Exit with N (0-255) instead of 2 when the lock is held or frozen or --wait times out")
        ->check(CLI::Range(0, 255));
}

Result<AcquirePlan> plan_acquire(const AcquireFlags& flags, Binding binding, const Identity& holder) {
    if (auto valid = validate_lock_name(flags.name); !valid) return valid.take_error();
    AcquirePlan plan;
    plan.spec.name = flags.name;
    plan.spec.binding = binding;
    plan.spec.holder = holder;
    if (!flags.ttl.empty()) {
        auto ttl = parse_ttl(flags.ttl, "--ttl");
        if (!ttl) return ttl.take_error();
        plan.spec.ttl = *ttl;
    }
    plan.wait.wait = flags.wait;
    if (!flags.timeout.empty()) {
        if (!flags.wait) return make_error(ErrorCode::usage, "--timeout needs --wait");
        auto timeout = parse_duration_flag(flags.timeout, "--timeout", Nanoseconds::zero());
        if (!timeout) return timeout.take_error();
        plan.wait.timeout = *timeout;
    }
    const char* inherited_name = std::getenv("LOKT_LOCK_NAME");
    const char* inherited_id = std::getenv("LOKT_LOCK_ID");
    if (inherited_name != nullptr && inherited_id != nullptr && flags.name == inherited_name) {
        plan.spec.inherited_lock_id = inherited_id;
    }
    return plan;
}

Result<AcquireResult> acquire_with_progress(Backend& backend, const AcquirePlan& plan, bool quiet) {
    const bool live_line = !quiet && plan.wait.wait && ::isatty(STDERR_FILENO);
    bool shown = false;
    WaitObserver observer;
    if (live_line) {
        observer = [&](const WaitProgress& progress) {
            std::string line = "waiting " + format_duration(progress.waited) + ": " + progress.refusal.message;
            if (progress.position) line += " (queue position " + std::to_string(*progress.position) + ")";
            std::fprintf(stderr, "\r\033[K%s", line.c_str());
            std::fflush(stderr);
            shown = true;
        };
    }
    auto result = backend.acquire(plan.spec, plan.wait, observer);
    if (shown) {
        std::fprintf(stderr, "\r\033[K");
        std::fflush(stderr);
    }
    return result;
}

Error refusal_error(const Refusal& refusal) { return Error{refusal.code, refusal.message}; }

Blocker refusal_blocker(const Refusal& refusal) { return Blocker{refusal.holder, refusal.freeze}; }

int refusal_exit_status(const Refusal& refusal, const AcquireFlags& flags) {
    const bool busy = refusal.code == ErrorCode::held || refusal.code == ErrorCode::frozen || refusal.code == ErrorCode::timeout;
    return busy ? flags.conflict_exit_code : exit_code_for(refusal.code);
}

}  // namespace lokt::client
