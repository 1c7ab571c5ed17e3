// See top_snapshot.hpp.
#include "client/top_snapshot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <map>

#include "client/json_views.hpp"
#include "common/platform/processes.hpp"
#include "common/unique_fd.hpp"

namespace lokt::client {
namespace {

// A command line is shown on one screen line: no need for more.
constexpr std::size_t k_max_command_bytes = 512;

// /proc/PID/cmdline with its NUL separators as spaces.
std::string command_of(std::int64_t pid) {
    if (pid <= 0 || pid > std::numeric_limits<pid_t>::max()) return {};
    return platform::process_command_line(static_cast<pid_t>(pid), k_max_command_bytes);
}

std::vector<TopWaiter> waiters_of(const std::vector<QueuedWaiter>& queued, WallTime now) {
    std::vector<TopWaiter> out;
    out.reserve(queued.size());
    for (const auto& waiter : queued) {
        out.push_back(TopWaiter{waiter.position, waiter.holder,
                                now - std::chrono::duration_cast<WallTime::duration>(waiter.waited), waiter.mode});
    }
    return out;
}

std::int64_t ms_between(WallTime from, WallTime to) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

void write_waiters(JsonWriter& out, const std::vector<TopWaiter>& waiters, WallTime now) {
    out.key("waiters").begin_array();
    for (const auto& waiter : waiters) {
        out.begin_object();
        out.field("position", static_cast<std::uint64_t>(waiter.position));
        out.field("owner", waiter.who.owner);
        out.field("host", waiter.who.host);
        out.field("pid", static_cast<std::int64_t>(waiter.who.pid));
        out.field("agent_id", waiter.who.agent_id);
        out.field("since", format_rfc3339(waiter.since));
        out.field("waited_ms", ms_between(waiter.since, now));
        if (!waiter.mode.empty()) out.field("mode", waiter.mode);
        out.end_object();
    }
    out.end_array();
}

}  // namespace

std::size_t TopSnapshot::waiter_count() const {
    std::size_t count = 0;
    for (const auto& hold : holds) count += hold.waiters.size();
    for (const auto& freeze : freezes) count += freeze.waiters.size();
    return count;
}

Result<TopSnapshot> take_top_snapshot(Backend& backend, const SnapshotOptions& options) {
    TopSnapshot snapshot;
    snapshot.root = backend.root();
    snapshot.backend = std::string(backend.kind());
    auto queues = backend.queues();
    if (!queues) return queues.take_error();
    auto locks = backend.list(false);
    if (!locks) return locks.take_error();
    auto freezes = backend.list_freezes();
    if (!freezes) return freezes.take_error();
    snapshot.taken = wall_now();
    snapshot.queues_known = queues->known;

    std::map<std::string, std::vector<QueuedWaiter>>& queued = queues->by_name;
    snapshot.holds.reserve(locks->size());
    for (auto& view : *locks) {
        TopHold hold;
        hold.name = view.name;
        hold.state = std::string(to_string(view.state));
        hold.kept_by = std::string(view.kept_by);
        if (view.stored.kind == StoredRecord::Kind::record) {
            hold.record = std::move(view.stored.record);
            if (hold.record->is_shared()) hold.mode = "shared";
            if (!options.local_host.empty() && hold.record->host == options.local_host && view.state == HoldState::live) {
                hold.command = command_of(hold.record->pid);
            }
        }
        if (auto waiting = queued.find(view.name); waiting != queued.end()) {
            hold.waiters = waiters_of(waiting->second, snapshot.taken);
            queued.erase(waiting);
        }
        snapshot.holds.push_back(std::move(hold));
    }
    std::map<std::string_view, TopHold*> by_name;
    for (auto& hold : snapshot.holds) by_name.emplace(hold.name, &hold);
    for (auto& freeze : *freezes) {
        TopFreeze shown{freeze.name, std::move(freeze.record), false, {}};
        if (auto held = by_name.find(shown.name); held != by_name.end()) {
            held->second->frozen = true;
            shown.held = true;
        } else if (auto waiting = queued.find(shown.name); waiting != queued.end()) {
            shown.waiters = waiters_of(waiting->second, snapshot.taken);
            queued.erase(waiting);
        }
        snapshot.freezes.push_back(std::move(shown));
    }
    // Waiters on a name that is neither held nor frozen: the holder has just
    // gone and the daemon is about to grant it. Shown rather than hidden.
    for (auto& [name, waiting] : queued) {
        TopHold hold;
        hold.name = name;
        hold.state = "free";
        hold.waiters = waiters_of(waiting, snapshot.taken);
        snapshot.holds.push_back(std::move(hold));
    }
    if (!queued.empty()) {
        std::sort(snapshot.holds.begin(), snapshot.holds.end(),
                  [](const TopHold& a, const TopHold& b) { return a.name < b.name; });
    }
    snapshot.events = backend.latest_audit_events(options.max_events);
    return snapshot;
}

std::string snapshot_signature(const TopSnapshot& snapshot) {
    std::string text;
    text.reserve(snapshot.holds.size() * 64);
    for (const auto& hold : snapshot.holds) {
        text += hold.name + ' ' + hold.state + ' ' + hold.kept_by + (hold.frozen ? " f" : " -");
        if (hold.record) text += ' ' + hold.record->lock_id + ' ' + format_rfc3339(hold.record->expiry().value_or(WallTime{}));
        for (const auto& waiter : hold.waiters) text += ' ' + std::to_string(waiter.who.pid);
        text += '\n';
    }
    for (const auto& freeze : snapshot.freezes) {
        text += "F " + freeze.name + ' ' + freeze.record.lock_id;
        for (const auto& waiter : freeze.waiters) text += ' ' + std::to_string(waiter.who.pid);
        text += '\n';
    }
    if (!snapshot.events.empty()) text += "E " + serialize_audit_event(snapshot.events.back());
    return text;
}

void write_top_snapshot(JsonWriter& out, const TopSnapshot& snapshot) {
    const WallTime now = snapshot.taken;
    out.begin_object();
    out.field("taken", format_rfc3339(now));
    out.field("root", snapshot.root);
    out.field("backend", snapshot.backend);
    out.field("queues_known", snapshot.queues_known);
    out.field("held_count", static_cast<std::uint64_t>(snapshot.holds.size()));
    out.field("waiter_count", static_cast<std::uint64_t>(snapshot.waiter_count()));
    out.key("held").begin_array();
    for (const auto& hold : snapshot.holds) {
        out.begin_object();
        out.field("name", hold.name);
        out.field("state", hold.state);
        out.field("mode", hold.mode);
        if (hold.record) {
            const LockRecord& r = *hold.record;
            out.field("owner", r.owner);
            out.field("host", r.host);
            out.field("pid", r.pid);
            out.field("agent_id", r.agent_id);
            out.field("command", hold.command);
            out.field("lock_id", r.lock_id);
            out.field("acquired", format_rfc3339(r.acquired));
            out.field("held_ms", ms_between(r.acquired, now));
            if (auto expiry = r.expiry()) {
                out.field("ttl_left_ms", std::max<std::int64_t>(0, ms_between(now, *expiry)));
            } else {
                out.key("ttl_left_ms").null();
            }
            if (r.fence) {
                out.field("fence", *r.fence);
            } else {
                out.key("fence").null();
            }
        }
        if (!hold.kept_by.empty()) out.field("kept_by", hold.kept_by);
        out.field("frozen", hold.frozen);
        write_waiters(out, hold.waiters, now);
        out.end_object();
    }
    out.end_array();
    out.key("frozen").begin_array();
    for (const auto& freeze : snapshot.freezes) {
        out.begin_object();
        out.field("name", freeze.name);
        out.field("owner", freeze.record.owner);
        out.field("host", freeze.record.host);
        out.field("pid", freeze.record.pid);
        out.field("agent_id", freeze.record.agent_id);
        if (auto expiry = freeze.record.expiry()) {
            out.field("until", format_rfc3339(*expiry));
            out.field("left_ms", std::max<std::int64_t>(0, ms_between(now, *expiry)));
        }
        out.field("held", freeze.held);
        write_waiters(out, freeze.waiters, now);
        out.end_object();
    }
    out.end_array();
    out.key("events").begin_array();
    for (const auto& event : snapshot.events) {
        out.begin_object();
        out.field("ts", format_rfc3339(event.ts));
        out.field("event", event.event);
        out.field("name", event.name);
        out.field("owner", event.owner);
        out.field("host", event.host);
        out.field("pid", event.pid);
        out.field("agent_id", event.agent_id);
        out.end_object();
    }
    out.end_array();
    out.end_object();
}

}  // namespace lokt::client
