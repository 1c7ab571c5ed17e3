// `lokt why NAME [--json]`: why NAME cannot be acquired now, and what to do.
// Exit 0 when an acquire would succeed, 2 when it would not.
#include <memory>

#include "client/commands/commands.hpp"
#include "client/json_views.hpp"
#include "client/pool_view.hpp"
#include "common/duration.hpp"
#include "common/lock_name.hpp"

namespace lokt::client {
namespace {

struct WhyFlags {
    std::string name;
    bool json = false;
};

struct Explanation {
    bool acquirable = true;
    std::string summary;
    std::vector<std::string> reasons;
    std::vector<std::string> suggestions;
};

// Where a new waiter would stand.
std::string queue_reason(const QueueView& queue) {
    if (!queue.known) return "the queue is not known: without a daemon, waiters poll the files and nobody keeps a queue";
    if (queue.waiters.empty()) return "nobody waits in the daemon's queue: a waiter would be next (position 1)";
    std::string text = std::to_string(queue.waiters.size()) + (queue.waiters.size() == 1 ? " acquire waits" : " acquires wait") +
                       " in the daemon's queue (first: " + describe_waiter(queue.waiters.front()) +
                       "): a new waiter would be number " + std::to_string(queue.waiters.size() + 1);
    return text;
}

Explanation explain(const LockView& view, const QueueView& queue, WallTime now, const Identity& me) {
    Explanation e;
    const std::string& name = view.name;
    const std::string quoted = "\"" + name + "\"";
    const LockRecord& r = view.stored.record;
    switch (view.state) {
        case HoldState::absent: e.summary = "lock " + quoted + " is free"; break;
        case HoldState::live:
            e.acquirable = false;
            e.summary = "lock " + quoted + " is held by " + describe_holder(r, now, view.kept_by);
            if (view.kept_by == "command") {
                e.reasons.push_back("its guard (pid " + std::to_string(r.pid) +
                                    ") is gone, but the command it ran still runs and keeps the hold: it ends when "
                                    "the command's last process exits");
            } else if (r.bound_to == Binding::ttl) {
                e.reasons.push_back("it is a manual lock: it lasts until 'lokt unlock " + name +
                                    "' or its TTL, whether or not the process that took it still runs");
            } else if (r.host == me.host) {
                e.reasons.push_back("the holder's process " + std::to_string(r.pid) + " is alive on this host");
            } else {
                e.reasons.push_back("the holder is on another host (" + r.host + "); its liveness cannot be checked from here");
            }
            if (auto expiry = r.expiry()) {
                e.reasons.push_back("its TTL runs until " + format_rfc3339_seconds(*expiry) + " (in " +
                                    format_duration(*expiry - now) + ")");
            } else {
                e.reasons.push_back("it has no TTL: it lasts as long as the holder's process");
            }
            if (r.owner == me.owner && !(r.owner_explicit && me.owner_explicit)) {
                e.reasons.push_back(
                    "the owner name matches yours, but without LOKT_OWNER set on both sides two processes are never the same "
                    "holder");
            }
            e.suggestions.push_back("wait for it: lokt guard " + name + " --wait --timeout 10m -- COMMAND");
            e.suggestions.push_back("see its history: lokt audit --name " + name + " --since 1h");
            e.suggestions.push_back("if the holder is stuck, a human may break it: lokt unlock " + name + " --force");
            break;
        case HoldState::expired:
        case HoldState::dead_holder:
            e.summary = "lock " + quoted + " is stale (" +
                        (view.state == HoldState::expired ? std::string("its TTL has elapsed")
                                                          : std::string("its holder's process is gone")) +
                        "); the next acquire takes it over";
            e.suggestions.push_back("remove it now: lokt unlock " + name + " --break-stale");
            break;
        case HoldState::corrupt:
            e.summary = "lock " + quoted + " has a corrupt lock file (" + view.stored.problem + "); the next acquire removes it";
            e.suggestions.push_back("remove it now: lokt unlock " + name + " --break-stale");
            break;
        case HoldState::being_written:
            e.acquirable = false;
            e.summary = "lock " + quoted + " is being created by another process";
            e.suggestions.push_back("look again in a moment: lokt status " + name);
            break;
        case HoldState::unsupported:
            e.acquirable = false;
            e.summary = "lock " + quoted + " was written by a newer lokt (file version " + std::to_string(r.version) + ")";
            e.suggestions.push_back("use the newer lokt, or a human may break it: lokt unlock " + name + " --force");
            break;
    }
    if (view.freeze) {
        e.acquirable = false;
        const std::string until = format_rfc3339_seconds(*view.freeze->expiry());
        e.reasons.insert(e.reasons.begin(),
                         "it is frozen until " + until + " by " + owner_at_host(view.freeze->owner, view.freeze->host));
        if (view.state == HoldState::absent) e.summary = "lock " + quoted + " is frozen until " + until;
        e.suggestions.push_back("lift the freeze (if it is yours): lokt unfreeze " + name);
    }
    if (e.acquirable) {
        e.suggestions.insert(e.suggestions.begin(), "acquire it: lokt guard " + name + " -- COMMAND");
    } else {
        e.reasons.push_back(queue_reason(queue));
    }
    return e;
}

// For a pool: who holds every slot, and where a new waiter would stand.
Explanation explain_pool(const PoolView& pool, const QueueView& queue, WallTime now) {
    Explanation e;
    const std::string quoted = "\"" + pool.name + "\"";
    const std::string size = std::to_string(pool.slots);
    e.acquirable = pool.held_count() < pool.slots;
    e.summary = "pool " + quoted + ": " + std::to_string(pool.held_count()) + "/" + size + " slots held" +
                (e.acquirable ? "; a slot is free" : "");
    for (std::uint64_t k = 0; k < pool.slots; ++k) {
        const LockView* view = pool.slot(k);
        e.reasons.push_back(
            "slot " + std::to_string(k) +
            (view ? " is held by " + describe_holder(view->stored.record, now, view->kept_by) + " (lock \"" + view->name + "\")"
                  : std::string(" is free")));
    }
    if (e.acquirable) {
        e.suggestions.push_back("acquire a slot: lokt guard " + pool.name + " --slots " + size + " -- COMMAND");
    } else {
        e.reasons.push_back(queue_reason(queue));
        e.suggestions.push_back("wait for a slot: lokt guard " + pool.name + " --slots " + size +
                                " --wait --timeout 10m -- COMMAND");
        e.suggestions.push_back("see its history: lokt audit --since 1h");
    }
    return e;
}

int run_why(CliContext& cli, const WhyFlags& flags) {
    auto fail = [&](const Error& error) { return flags.json ? report_json(error) : report(error); };
    if (auto valid = validate_lock_name(flags.name); !valid) return fail(valid.error());
    auto backend = cli.backend(true);
    if (!backend) return fail(backend.error());
    auto view = (*backend)->inspect(flags.name);
    if (!view) return fail(view.error());
    auto queue = (*backend)->queue(flags.name);
    if (!queue) return fail(queue.error());
    const WallTime now = wall_now();
    std::optional<PoolView> pool;
    if (view->state == HoldState::absent && !view->freeze) {
        auto found = inspect_pool(**backend, flags.name);
        if (!found) return fail(found.error());
        pool = std::move(found.value());
    }
    const Explanation e = pool ? explain_pool(*pool, *queue, now) : explain(*view, *queue, now, cli.identity());
    if (flags.json) {
        JsonWriter out;
        out.begin_object();
        out.field("name", flags.name);
        out.field("acquirable", e.acquirable);
        out.field("state", pool ? std::string_view(e.acquirable ? "free" : "held") : shown_state(*view));
        out.field("summary", e.summary);
        if (pool) {
            out.field("slots", pool->slots);
            out.key("holders").begin_array();
            for (const auto& held : pool->held) write_lock_record(out, held.stored.record);
            out.end_array();
        }
        if (view->stored.kind == StoredRecord::Kind::record) {
            out.key("holder");
            write_lock_record(out, view->stored.record);
        }
        if (view->freeze) {
            out.key("freeze");
            write_freeze(out, flags.name, *view->freeze);
            out.field("frozen_by", owner_at_host(view->freeze->owner, view->freeze->host));
            out.field("until", format_rfc3339(*view->freeze->expiry()));
        }
        write_queue_members(out, *queue);
        out.key("reasons").begin_array();
        for (const auto& reason : e.reasons) out.value(reason);
        out.end_array();
        out.key("suggestions").begin_array();
        for (const auto& suggestion : e.suggestions) out.value(suggestion);
        out.end_array();
        out.end_object();
        std::fputs(out.finish().c_str(), stdout);
    } else {
        std::printf("%s\n", e.summary.c_str());
        for (const auto& reason : e.reasons) std::printf("  because %s\n", reason.c_str());
        for (const auto& suggestion : e.suggestions) std::printf("  try: %s\n", suggestion.c_str());
    }
    return e.acquirable ? 0 : exit_code_for(ErrorCode::held);
}

}  // namespace

CommandSpec why_command(CommandEnv env) {
    auto flags = std::make_shared<WhyFlags>();
    CommandSpec command{"why", "Explain why a lock cannot be acquired now"};
    command.option("name", flags->name, "Lock name").required();
    command.flag("--json", flags->json,
                 "Print JSON: acquirable, state, holder, frozen_by, until, queue_known, waiters, reasons, ...");
    command.footer = R"(Examples:
  lokt why build
  lokt why build --json | jq .holder.owner

Exit status: 0 it could be acquired now, 2 it could not (held or frozen),
1 error, 64 usage error.)";
    command.run = [env, flags] { *env.exit_status = run_why(*env.cli, *flags); };
    return command;
}

}  // namespace lokt::client
