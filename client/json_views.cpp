// See json_views.hpp.
#include "json_views.hpp"

#include <chrono>

namespace lokt::client {

nlohmann::ordered_json lock_record_json(const LockRecord& r) {
    nlohmann::ordered_json json;
    json["name"] = r.name;
    json["lock_id"] = r.lock_id;
    json["owner"] = r.owner;
    json["host"] = r.host;
    json["pid"] = r.pid;
    if (r.pid_start) json["pid_start_ns"] = *r.pid_start;
    json["agent_id"] = r.agent_id;
    json["acquired_ts"] = format_rfc3339(r.acquired);
    json["ttl_sec"] = r.ttl_sec;
    if (auto expiry = r.expiry()) json["expires_at"] = format_rfc3339(*expiry);
    else json["expires_at"] = nullptr;
    json["bound_to"] = r.bound_to ? std::string(to_string(*r.bound_to)) : std::string("unknown");
    if (r.fence) json["fence"] = *r.fence;
    if (r.version != 1) json["version"] = r.version;
    return json;
}

nlohmann::ordered_json lock_view_json(const LockView& view, WallTime now) {
    nlohmann::ordered_json json;
    json["name"] = view.name;
    json["state"] = to_string(view.state);
    if (view.stored.kind == StoredRecord::Kind::record) {
        const auto record = lock_record_json(view.stored.record);
        for (const auto& [key, value] : record.items()) {
            if (key != "name") json[key] = value;
        }
        json["age_sec"] = std::chrono::duration_cast<std::chrono::seconds>(now - view.stored.record.acquired).count();
    } else if (!view.stored.problem.empty()) {
        json["problem"] = view.stored.problem;
    }
    if (view.freeze) json["frozen"] = freeze_json(view.name, *view.freeze);
    return json;
}

nlohmann::ordered_json freeze_json(const std::string& name, const LockRecord& r) {
    nlohmann::ordered_json json;
    json["name"] = name;
    json["owner"] = r.owner;
    json["host"] = r.host;
    json["pid"] = r.pid;
    json["frozen_ts"] = format_rfc3339(r.acquired);
    json["ttl_sec"] = r.ttl_sec;
    if (auto expiry = r.expiry()) json["expires_at"] = format_rfc3339(*expiry);
    return json;
}

}  // namespace lokt::client
