// See lock_explanation.hpp.
#include "client/lock_explanation.hpp"

#include "client/json_views.hpp"
#include "client/pool_view.hpp"
#include "common/duration.hpp"

namespace lokt::client {
namespace {

// Where a new waiter would stand.
// with_modes: every waiter, each with the mode it asks (a shared name).
std::string queue_reason(const QueueView& queue, bool with_modes) {
    auto listed = [&]() {
        if (!with_modes) return "first: " + describe_waiter(queue.waiters.front());
        std::string text;
        for (const auto& waiter : queue.waiters) {
            text += (text.empty() ? "" : "; ") + std::to_string(waiter.position) + ". " + describe_waiter(waiter, true);
        }
        return text;
    };
    const std::string count =
        std::to_string(queue.waiters.size()) + (queue.waiters.size() == 1 ? " acquire waits" : " acquires wait");
    if (!queue.known) {
        const std::string unknown = "the queue is not known: without a daemon, waiters poll the files and nobody keeps a queue";
        if (queue.waiters.empty()) return unknown;
        return unknown + "; " + count + " (seen in " + queue.keeper + ", oldest first; " + listed() + ")";
    }
    if (queue.waiters.empty()) return "nobody waits in " + queue.keeper + ": a waiter would be next (position 1)";
    return count + " in " + queue.keeper + " (" + listed() + "): a new waiter would be number " +
           std::to_string(queue.waiters.size() + 1);
}

}  // namespace

Explanation explain(const LockView& view, const QueueView& queue, WallTime now, const Identity& me) {
    Explanation e;
    const std::string& name = view.name;
    const std::string quoted = "\"" + name + "\"";
    const LockRecord& r = view.stored.record;
    switch (view.state) {
        case HoldState::absent: e.summary = "lock " + quoted + " is free"; break;
        case HoldState::live:
            e.acquirable = false;
            if (r.is_shared()) {
                // Shared holders: another shared request may join, an exclusive one waits for every member.
                const auto live = live_members(r, now, me.host);
                e.summary = "lock " + quoted + " is held in shared mode by " + describe_shared(r, now, me.host);
                for (const LockRecord* member : live) {
                    std::string line = "shared holder " + describe_holder(*member, now, kept_by(*member, me.host));
                    if (auto expiry = member->expiry()) line += ", TTL until " + format_rfc3339_seconds(*expiry);
                    if (member->fence) line += ", fence " + std::to_string(*member->fence);
                    e.reasons.push_back(std::move(line));
                }
                e.reasons.push_back(
                    "an exclusive acquire waits until every shared holder has left; a shared one (--shared) "
                    "joins them unless an exclusive request waits ahead of it");
                e.suggestions.push_back("join them: lokt guard " + name + " --shared -- COMMAND");
                e.suggestions.push_back("wait for all of them: lokt guard " + name + " --wait --timeout 10m -- COMMAND");
                e.suggestions.push_back("see its history: lokt audit --name " + name + " --since 1h");
                e.suggestions.push_back("if a holder is stuck, a human may break the group: lokt unlock " + name + " --force");
                break;
            }
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
        const LockRecord* held = view.stored.kind == StoredRecord::Kind::record ? &view.stored.record : nullptr;
        e.reasons.push_back(queue_reason(queue, queue_shows_modes(queue, held)));
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
        e.reasons.push_back(queue_reason(queue, false));
        e.suggestions.push_back("wait for a slot: lokt guard " + pool.name + " --slots " + size +
                                " --wait --timeout 10m -- COMMAND");
        e.suggestions.push_back("see its history: lokt audit --since 1h");
    }
    return e;
}

}  // namespace lokt::client
