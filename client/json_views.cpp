// See json_views.hpp.
#include "client/json_views.hpp"

#include <algorithm>
#include <chrono>

#include "common/duration.hpp"

namespace lokt::client {

void write_lock_members(JsonWriter& out, const LockRecord& r, bool with_name) {
    if (with_name) out.field("name", r.name);
    out.field("lock_id", r.lock_id);
    out.field("owner", r.owner);
    out.field("host", r.host);
    out.field("pid", r.pid);
    if (r.pid_start) out.field("pid_start_ns", *r.pid_start);
    out.field("agent_id", r.agent_id);
    out.field("acquired_ts", format_rfc3339(r.acquired));
    out.field("ttl_sec", r.ttl_sec);
    out.key("expires_at");
    if (auto expiry = r.expiry())
        out.value(format_rfc3339(*expiry));
    else
        out.null();
    out.field("bound_to", r.bound_to ? to_string(*r.bound_to) : std::string_view("unknown"));
    if (r.fence) out.field("fence", *r.fence);
    if (!r.pool.empty()) out.field("pool", r.pool);
    if (r.slots) out.field("slots", *r.slots);
    if (r.slot) out.field("slot", *r.slot);
    if (r.version != 1) out.field("version", r.version);
    if (r.is_shared()) {
        // The top-level holder fields above are the representative's.
        out.field("mode", "shared");
        out.key("holders");
        out.begin_array();
        for (const LockRecord& member : r.holders) {
            out.begin_object();
            write_lock_members(out, member, false);
            out.end_object();
        }
        out.end_array();
    }
}

void write_lock_record(JsonWriter& out, const LockRecord& record) {
    out.begin_object();
    write_lock_members(out, record, true);
    out.end_object();
}

void write_lock_view(JsonWriter& out, const LockView& view, WallTime now) {
    out.begin_object();
    write_lock_view_members(out, view, now);
    out.end_object();
}

void write_lock_view_members(JsonWriter& out, const LockView& view, WallTime now) {
    out.field("name", view.name);
    out.field("state", shown_state(view));
    if (!view.kept_by.empty()) out.field("kept_by", view.kept_by);
    if (view.stored.kind == StoredRecord::Kind::record) {
        write_lock_members(out, view.stored.record, false);
        out.field("age_sec", static_cast<std::int64_t>(
                                 std::chrono::duration_cast<std::chrono::seconds>(now - view.stored.record.acquired).count()));
    } else if (!view.stored.problem.empty()) {
        out.field("problem", view.stored.problem);
    }
    if (view.freeze) {
        out.key("frozen");
        write_freeze(out, view.name, *view.freeze);
    }
}

std::string_view shown_state(const LockView& view) {
    if (view.state == HoldState::absent && view.freeze) return "frozen";
    return to_string(view.state);
}

void write_queue_members(JsonWriter& out, const QueueView& queue) {
    out.field("queue_known", queue.known);
    out.key("waiters").begin_array();
    for (const auto& waiter : queue.waiters) {
        out.begin_object();
        out.field("position", static_cast<std::uint64_t>(waiter.position));
        out.field("owner", waiter.holder.owner);
        out.field("host", waiter.holder.host);
        out.field("pid", static_cast<std::int64_t>(waiter.holder.pid));
        out.field("agent_id", waiter.holder.agent_id);
        out.field("waited_ms",
                  static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(waiter.waited).count()));
        if (!waiter.mode.empty()) out.field("mode", waiter.mode);
        out.end_object();
    }
    out.end_array();
}

std::string describe_waiter(const QueuedWaiter& waiter, bool with_mode) {
    std::string text = owner_at_host(waiter.holder.owner, waiter.holder.host) + " (pid " + std::to_string(waiter.holder.pid);
    if (!waiter.holder.agent_id.empty()) text += ", agent " + waiter.holder.agent_id;
    text += ") for " + format_duration(waiter.waited);
    if (with_mode && !waiter.mode.empty()) text += ", asks " + waiter.mode;
    return text;
}

bool queue_shows_modes(const QueueView& queue, const LockRecord* held) {
    if (held != nullptr && held->is_shared()) return true;
    return std::any_of(queue.waiters.begin(), queue.waiters.end(), [](const QueuedWaiter& w) { return w.mode == "shared"; });
}

void write_freeze(JsonWriter& out, const std::string& name, const LockRecord& r) {
    out.begin_object();
    out.field("name", name);
    // The freeze's id, as its audit lines carry it (lock_id, extra.holder_lock_id).
    if (!r.lock_id.empty()) out.field("lock_id", r.lock_id);
    out.field("owner", r.owner);
    out.field("host", r.host);
    out.field("pid", r.pid);
    out.field("frozen_ts", format_rfc3339(r.acquired));
    out.field("ttl_sec", r.ttl_sec);
    if (auto expiry = r.expiry()) out.field("expires_at", format_rfc3339(*expiry));
    out.end_object();
}

void write_error(JsonWriter& out, const Error& error, const Blocker& blocker) {
    out.begin_object();
    out.key("error").begin_object();
    out.field("code", to_string(error.code));
    out.field("message", error.message);
    if (blocker.holder) {
        out.key("holder");
        write_lock_record(out, *blocker.holder);
    }
    if (blocker.freeze) {
        out.field("frozen_by", owner_at_host(blocker.freeze->owner, blocker.freeze->host));
        out.key("until");
        if (auto expiry = blocker.freeze->expiry())
            out.value(format_rfc3339(*expiry));
        else
            out.null();
    }
    out.end_object();
    out.end_object();
}

}  // namespace lokt::client
