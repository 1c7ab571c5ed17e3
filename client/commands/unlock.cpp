// `lokt unlock NAME [--break-stale | --force]`, `lokt unlock --owner O | --all [--force] [--json]`.
// Without --force, --owner and --all release your own holds and break stale
// ones, and leave anyone else's live hold in place (exit 4), as `unlock NAME` does.
#include <memory>

#include "client/commands/commands.hpp"
#include "client/json_views.hpp"
#include "client/multi_acquire.hpp"
#include "client/multi_hold_commands.hpp"
#include "common/lock_name.hpp"

namespace lokt::client {
namespace {

struct UnlockFlags {
    std::string name;
    bool has_name = false;  // given, even if empty
    bool break_stale = false;
    bool force = false;
    std::string owner;
    bool all = false;
    bool json = false;
};

// For a --json refusal: the holder that kept the lock, as it is now.
Blocker blocker_of(Backend& backend, const std::string& name, const Error& error) {
    Blocker blocker;
    if (error.code != ErrorCode::held && error.code != ErrorCode::not_owner) return blocker;
    if (auto view = backend.inspect(name); view && view->stored.kind == StoredRecord::Kind::record) {
        blocker.holder = view->stored.record;
    }
    return blocker;
}

int run_unlock(CliContext& cli, const UnlockFlags& flags) {
    auto fail = [&](const Error& error) { return flags.json ? report_json(error) : report(error); };
    if (flags.has_name && is_name_list(flags.name) && flags.owner.empty() && !flags.all && !(flags.break_stale && flags.force)) {
        const UnlockMode mode = flags.force ? UnlockMode::force : flags.break_stale ? UnlockMode::break_stale : UnlockMode::owner;
        return run_multi_unlock(cli, flags.name, mode, flags.json);
    }
    if (flags.has_name) {
        if (auto valid = validate_lock_name(flags.name); !valid) return fail(valid.error());
    }
    const int selectors = (flags.has_name ? 1 : 0) + (!flags.owner.empty() ? 1 : 0) + (flags.all ? 1 : 0);
    if (selectors != 1) {
        return fail(make_error(ErrorCode::usage, "unlock needs exactly one of: a lock name, --owner O, --all"));
    }
    if (flags.break_stale && flags.force)
        return fail(make_error(ErrorCode::usage, "--break-stale and --force exclude each other"));
    if (!flags.has_name && flags.break_stale) return fail(make_error(ErrorCode::usage, "--break-stale needs a lock name"));

    if (flags.has_name) {
        if (auto valid = validate_lock_name(flags.name); !valid) return fail(valid.error());
        auto backend = cli.backend(true);
        if (!backend) return fail(backend.error());
        const UnlockMode mode = flags.force ? UnlockMode::force : flags.break_stale ? UnlockMode::break_stale : UnlockMode::owner;
        auto removed = (*backend)->unlock(flags.name, mode);
        if (!removed)
            return flags.json ? report_json(removed.error(), blocker_of(**backend, flags.name, removed.error()))
                              : report(removed.error());
        const char* verb = mode == UnlockMode::owner ? "released" : mode == UnlockMode::force ? "force-broke" : "broke stale";
        if (flags.json) {
            JsonWriter out;
            out.begin_object();
            out.field("name", flags.name);
            out.field("action", verb);
            out.key("released").begin_array().value(flags.name).end_array();
            if (!removed->name.empty()) {
                out.key("previous_holder");
                write_lock_record(out, *removed);
            }
            out.end_object();
            std::fputs(out.finish().c_str(), stdout);
        } else {
            std::string line = std::string(verb) + " lock \"" + flags.name + "\"";
            if (mode != UnlockMode::owner && !removed->name.empty()) {
                line +=
                    " (held by " + owner_at_host(removed->owner, removed->host) + ", pid " + std::to_string(removed->pid) + ")";
            }
            std::printf("%s\n", line.c_str());
        }
        return 0;
    }

    auto backend = cli.backend(true);
    if (!backend) return fail(backend.error());
    auto done = (*backend)->unlock_many(flags.owner, flags.force);
    if (!done) return fail(done.error());
    const auto& released = done->released;
    const auto& refused = done->refused;
    if (flags.json) {
        JsonWriter out;
        out.begin_object();
        out.key("released").begin_array();
        for (const auto& record : released) out.value(record.name);
        out.end_array();
        if (!refused.empty()) {
            out.key("refused").begin_array();
            for (const auto& refusal : refused) {
                out.begin_object();
                out.field("name", refusal.holder->name);
                out.field("code", to_string(refusal.code));
                out.field("message", refusal.message);
                out.key("holder");
                write_lock_record(out, *refusal.holder);
                out.end_object();
            }
            out.end_array();
        }
        out.end_object();
        std::fputs(out.finish().c_str(), stdout);
    } else {
        for (const auto& record : released) std::printf("released lock \"%s\"\n", record.name.c_str());
        std::printf("%zu lock%s released\n", released.size(), released.size() == 1 ? "" : "s");
    }
    // Each hold left in place is an error of its own; the status is the first one's (4: not the owner).
    for (const auto& refusal : refused) report(Error{refusal.code, refusal.message});
    return refused.empty() ? 0 : exit_code_for(refused.front().code);
}

}  // namespace

CommandSpec unlock_command(CommandEnv env) {
    auto flags = std::make_shared<UnlockFlags>();
    CommandSpec command{"unlock", "Release a lock (yours), or break a stale or stuck one"};
    command.option("name", flags->name, "Lock name").record_given(flags->has_name);
    command.flag("--break-stale", flags->break_stale, "Remove only if stale (TTL elapsed or holder dead)");
    command.flag("--force", flags->force, "Remove whoever holds it (break-glass)");
    command.option("--owner", flags->owner, "Release every lock held by this owner (another's live holds need --force)");
    command.flag("--all", flags->all, "Release every lock you own (with --force: every lock)");
    command.flag("--json", flags->json, "Print the result as JSON (a refusal: the error with the holder)");
    command.footer = R"(Examples:
  lokt unlock db-migrate                 release your own lock
  lokt unlock build --break-stale        remove it only if its holder is gone or its TTL ran out
  lokt unlock build --force              break-glass: remove whoever holds it
  lokt unlock --all                      every lock you hold

Exit status: 0 released, 2 not stale (--break-stale), 3 not held, 4 held by
someone else, 1 error, 64 usage error.)";
    command.run = [env, flags] { *env.exit_status = run_unlock(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
