// The flags and behaviour `guard` and `lock` share: --ttl, --wait, --timeout,
// nested holds inherited through LOKT_LOCK_NAME/LOKT_LOCK_ID, and the live
// "waiting for ..." line on a terminal.
#pragma once

#include <optional>
#include <string>

#include "client/backend.hpp"
#include "client/cli_context.hpp"
#include "client/command_spec.hpp"

namespace lokt::client {

struct AcquireFlags {
    std::string name;
    std::string ttl;
    bool wait = false;
    std::string timeout;
    // -E: the exit status for "busy" (held, frozen, --wait timed out), like flock -E.
    int conflict_exit_code = 2;
    // --slots N: a slot of the pool NAME of N slots (0: not a pool).
    int slots = 0;
    // --shared: hold NAME together with other shared holders (never with an exclusive one).
    bool shared = false;
};

void add_acquire_flags(CommandSpec& command, AcquireFlags& flags);

struct AcquirePlan {
    AcquireSpec spec;
    WaitOptions wait;
};

// Validates the flags into a plan (usage errors for bad names and durations).
Result<AcquirePlan> plan_acquire(const AcquireFlags& flags, Binding binding, const Identity& holder);

// Acquires through the backend, showing the live waiting line on a terminal.
Result<Acquired> acquire_with_progress(Backend& backend, const AcquirePlan& plan, bool quiet);

// The error for a refusal (held, frozen, timeout, unsupported).
Error refusal_error(const Refusal& refusal);
// What blocks the acquire, for a --json refusal.
Blocker refusal_blocker(const Refusal& refusal);
// The exit status of a refused acquire: -E's for "busy", else the code's own.
int refusal_exit_status(const Refusal& refusal, const AcquireFlags& flags);

}  // namespace lokt::client
