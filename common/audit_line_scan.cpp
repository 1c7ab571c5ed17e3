// See audit_line_scan.hpp.
#include "common/audit_line_scan.hpp"

#include "common/json_line_cursor.hpp"

namespace lokt {

bool scan_audit_event(std::string_view line, AuditEvent& e) {
    e = AuditEvent{};
    JsonLineCursor c(line);
    if (!c.eat('{') || c.peek('}')) return false;
    bool has_ts = false;
    do {
        std::string_view key;
        if (!c.string(key) || !c.eat(':')) return false;
        const JsonKind kind = json_kind_at(c);
        if (kind == JsonKind::string) {
            std::string_view text;
            if (!c.string(text)) return false;
            if (key == "ts") {
                auto ts = parse_rfc3339(text);
                if (!ts) return false;
                e.ts = *ts;
                has_ts = true;
            } else if (key == "event") {
                e.event = text;
            } else if (key == "name") {
                e.name = text;
            } else if (key == "lock_id") {
                e.lock_id = text;
            } else if (key == "owner") {
                e.owner = text;
            } else if (key == "host") {
                e.host = text;
            } else if (key == "agent_id") {
                e.agent_id = text;
            }
        } else if (kind == JsonKind::integer) {
            std::int64_t number = 0;
            if (!c.integer(number)) return false;
            if (key == "pid")
                e.pid = number;
            else if (key == "ttl_sec")
                e.ttl_sec = number;
        } else {
            const char* start = c.p;
            if (!skip_json_value(c)) return false;
            if (key == "extra" && kind == JsonKind::object) e.extra_json.assign(start, static_cast<std::size_t>(c.p - start));
        }
    } while (c.eat(','));
    return c.eat('}') && c.at_end() && has_ts && !e.event.empty();
}

}  // namespace lokt
