// See lock_record.hpp.
#include "lock_record.hpp"

#include <sys/random.h>

#include <cstdio>
#include <nlohmann/json.hpp>

namespace lokt {
namespace {

using Json = nlohmann::ordered_json;

Error corrupt(std::string why) { return make_error(ErrorCode::corrupt, std::move(why)); }

std::optional<Binding> binding_from(std::string_view text) {
    if (text == "guard") return Binding::guard;
    if (text == "ttl") return Binding::ttl;
    if (text == "process") return Binding::process;
    return std::nullopt;
}

}  // namespace

std::string_view to_string(Binding binding) {
    switch (binding) {
        case Binding::guard: return "guard";
        case Binding::ttl: return "ttl";
        case Binding::process: return "process";
    }
    return "unknown";
}

std::optional<WallTime> LockRecord::expiry() const {
    if (expires_at) return expires_at;
    if (ttl_sec > 0) return acquired + std::chrono::seconds(ttl_sec);
    return std::nullopt;
}

std::string serialize_lock_record(const LockRecord& r) {
    Json json;
    json["version"] = r.version;
    json["name"] = r.name;
    if (!r.lock_id.empty()) json["lock_id"] = r.lock_id;
    json["owner"] = r.owner;
    json["host"] = r.host;
    json["pid"] = r.pid;
    if (r.pid_start && *r.pid_start != 0) json["pid_start_ns"] = *r.pid_start;
    if (!r.agent_id.empty()) json["agent_id"] = r.agent_id;
    json["acquired_ts"] = format_rfc3339(r.acquired);
    if (r.ttl_sec > 0) json["ttl_sec"] = r.ttl_sec;
    if (r.expires_at) json["expires_at"] = format_rfc3339(*r.expires_at);
    if (r.bound_to) json["bound_to"] = to_string(*r.bound_to);
    if (r.owner_explicit) json["owner_set"] = true;
    if (!r.boot_id.empty()) json["boot_id"] = r.boot_id;
    if (r.fence) json["fence"] = *r.fence;
    std::string text = json.dump(2);
    text.push_back('\n');
    return text;
}

Result<LockRecord> parse_lock_record(std::string_view text) {
    Json json = Json::parse(text.begin(), text.end(), nullptr, false);
    if (json.is_discarded()) return corrupt("not valid JSON");
    if (!json.is_object()) return corrupt("not a JSON object");

    LockRecord r;
    r.version = 0;
    for (const auto& [key, value] : json.items()) {
        if (key == "version") {
            if (!value.is_number_integer()) return corrupt("\"version\" is not an integer");
            r.version = value.get<int>();
        } else if (key == "name" || key == "lock_id" || key == "owner" || key == "host" || key == "agent_id" ||
                   key == "boot_id") {
            if (!value.is_string()) return corrupt("\"" + key + "\" is not a string");
            std::string& field = key == "name"       ? r.name
                                 : key == "lock_id"  ? r.lock_id
                                 : key == "owner"    ? r.owner
                                 : key == "host"     ? r.host
                                 : key == "agent_id" ? r.agent_id
                                                     : r.boot_id;
            field = value.get<std::string>();
        } else if (key == "pid") {
            if (!value.is_number_integer()) return corrupt("\"pid\" is not an integer");
            r.pid = value.get<std::int64_t>();
        } else if (key == "pid_start_ns") {
            if (!value.is_number_unsigned() && !value.is_number_integer()) return corrupt("\"pid_start_ns\" is not an integer");
            if (value.get<std::int64_t>() < 0) return corrupt("\"pid_start_ns\" is negative");
            r.pid_start = value.get<std::uint64_t>();
        } else if (key == "acquired_ts" || key == "expires_at") {
            if (!value.is_string()) return corrupt("\"" + key + "\" is not a string");
            auto time = parse_rfc3339(value.get<std::string>());
            if (!time) return corrupt("\"" + key + "\" is not an RFC 3339 time");
            if (key == "acquired_ts") r.acquired = *time;
            else r.expires_at = *time;
        } else if (key == "ttl_sec") {
            if (!value.is_number_integer()) return corrupt("\"ttl_sec\" is not an integer");
            r.ttl_sec = value.get<std::int64_t>();
        } else if (key == "bound_to") {
            if (!value.is_string()) return corrupt("\"bound_to\" is not a string");
            r.bound_to = binding_from(value.get<std::string>());
        } else if (key == "owner_set") {
            if (!value.is_boolean()) return corrupt("\"owner_set\" is not a boolean");
            r.owner_explicit = value.get<bool>();
        } else if (key == "fence") {
            if (!value.is_number_unsigned()) return corrupt("\"fence\" is not a non-negative integer");
            r.fence = value.get<std::uint64_t>();
        }
    }
    if (r.name.empty()) return corrupt("\"name\" is missing");
    if (!json.contains("owner")) return corrupt("\"owner\" is missing");
    if (!json.contains("acquired_ts")) return corrupt("\"acquired_ts\" is missing");
    return r;
}

std::string new_lock_id() {
    unsigned char bytes[16];
    std::size_t filled = 0;
    while (filled < sizeof bytes) {
        const ssize_t got = ::getrandom(bytes + filled, sizeof bytes - filled, 0);
        if (got > 0) filled += static_cast<std::size_t>(got);
    }
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string id(32, '0');
    for (std::size_t i = 0; i < sizeof bytes; ++i) {
        id[2 * i] = k_hex[bytes[i] >> 4];
        id[2 * i + 1] = k_hex[bytes[i] & 0xf];
    }
    return id;
}

}  // namespace lokt
