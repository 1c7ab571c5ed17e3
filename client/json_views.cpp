// See json_views.hpp.
#include "json_views.hpp"

#include <chrono>

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
    if (auto expiry = r.expiry()) out.value(format_rfc3339(*expiry));
    else out.null();
    out.field("bound_to", r.bound_to ? to_string(*r.bound_to) : std::string_view("unknown"));
    if (r.fence) out.field("fence", *r.fence);
    if (r.version != 1) out.field("version", r.version);
}

void write_lock_record(JsonWriter& out, const LockRecord& record) {
    out.begin_object();
    write_lock_members(out, record, true);
    out.end_object();
}

void write_lock_view(JsonWriter& out, const LockView& view, WallTime now) {
    out.begin_object();
    out.field("name", view.name);
    out.field("state", to_string(view.state));
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
    out.end_object();
}

void write_freeze(JsonWriter& out, const std::string& name, const LockRecord& r) {
    out.begin_object();
    out.field("name", name);
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
        if (auto expiry = blocker.freeze->expiry()) out.value(format_rfc3339(*expiry));
        else out.null();
    }
    out.end_object();
    out.end_object();
}

}  // namespace lokt::client
