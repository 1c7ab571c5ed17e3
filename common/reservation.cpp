// See reservation.hpp.
#include "common/reservation.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/hold_state.hpp"
#include "common/json_line_cursor.hpp"

namespace lokt {
namespace {

using TableJson = nlohmann::json;
using TableOrderedJson = nlohmann::ordered_json;

constexpr int k_table_version = 1;

Error corrupt_table(const std::string& why) { return make_error(ErrorCode::corrupt, "reservation table: " + why); }

TableOrderedJson reservation_json(const Reservation& r) {
    const LockRecord& h = r.holder;
    TableOrderedJson out;
    out["glob"] = r.glob.text();
    out["mode"] = to_string(r.mode);
    out["id"] = h.lock_id;
    out["owner"] = h.owner;
    if (h.owner_explicit) out["owner_set"] = true;
    out["host"] = h.host;
    out["pid"] = h.pid;
    if (h.pid_start) out["pid_start_ns"] = *h.pid_start;
    if (!h.agent_id.empty()) out["agent_id"] = h.agent_id;
    out["acquired_ts"] = format_rfc3339(h.acquired);
    if (h.ttl_sec > 0) out["ttl_sec"] = h.ttl_sec;
    if (h.expires_at) out["expires_at"] = format_rfc3339(*h.expires_at);
    if (h.bound_to) out["bound_to"] = to_string(*h.bound_to);
    if (!h.boot_id.empty()) out["boot_id"] = h.boot_id;
    if (h.expires_boot_ns) out["expires_boot_ns"] = *h.expires_boot_ns;
    return out;
}

Result<Reservation> reservation_from(const TableJson& j) {
    if (!j.is_object()) return corrupt_table("a reservation is not an object");
    auto text = [&](const char* key, bool required) -> Result<std::string> {
        const auto it = j.find(key);
        if (it == j.end()) {
            if (required) return corrupt_table(std::string("a reservation has no \"") + key + "\"");
            return std::string();
        }
        if (!it->is_string()) return corrupt_table(std::string("\"") + key + "\" is not a string");
        return it->get<std::string>();
    };
    auto time = [&](const char* key) -> Result<std::optional<WallTime>> {
        LOKT_TRY_LET(value, text(key, false));
        if (value->empty()) return std::optional<WallTime>();
        auto parsed = parse_rfc3339(*value);
        if (!parsed) return corrupt_table(std::string("\"") + key + "\" is not an RFC 3339 time");
        return std::optional<WallTime>(*parsed);
    };
    Reservation r;
    LOKT_TRY_LET(glob_text, text("glob", true));
    auto glob = PathGlob::parse(*glob_text);
    if (!glob) return corrupt_table(glob.error().message);
    r.glob = std::move(glob.value());
    LOKT_TRY_LET(mode, text("mode", true));
    const auto mode_value = value_of(k_reservation_mode_words, *mode);
    if (!mode_value) return corrupt_table("unknown mode \"" + *mode + "\"");
    r.mode = *mode_value;
    LockRecord& h = r.holder;
    h.name = r.glob.text();
    LOKT_TRY_LET(id, text("id", true));
    h.lock_id = std::move(*id);
    LOKT_TRY_LET(owner, text("owner", true));
    h.owner = std::move(*owner);
    LOKT_TRY_LET(host, text("host", true));
    h.host = std::move(*host);
    LOKT_TRY_LET(agent, text("agent_id", false));
    h.agent_id = std::move(*agent);
    LOKT_TRY_LET(boot, text("boot_id", false));
    h.boot_id = std::move(*boot);
    LOKT_TRY_LET(bound, text("bound_to", false));
    if (!bound->empty()) {
        h.bound_to = value_of(k_binding_words, *bound);
        if (!h.bound_to) return corrupt_table("unknown \"bound_to\" \"" + *bound + "\"");
    }
    LOKT_TRY_LET(acquired, time("acquired_ts"));
    if (!*acquired) return corrupt_table("a reservation has no \"acquired_ts\"");
    h.acquired = **acquired;
    LOKT_TRY_LET(expires, time("expires_at"));
    h.expires_at = *expires;
    try {
        if (auto it = j.find("owner_set"); it != j.end()) h.owner_explicit = it->get<bool>();
        if (auto it = j.find("pid"); it != j.end()) h.pid = it->get<std::int64_t>();
        if (auto it = j.find("pid_start_ns"); it != j.end()) h.pid_start = it->get<std::uint64_t>();
        if (auto it = j.find("ttl_sec"); it != j.end()) h.ttl_sec = it->get<std::int64_t>();
        if (auto it = j.find("expires_boot_ns"); it != j.end()) h.expires_boot_ns = it->get<std::uint64_t>();
    } catch (const TableJson::exception& error) {
        return corrupt_table(std::string("a field has the wrong type: ") + error.what());
    }
    return r;
}

// A glob's text (as stored: normalized) can match only paths that begin with
// its whole literal segments before the first wildcard or escape. A test of
// that prefix spares parsing the globs that cannot matter.
bool could_cover_any(std::string_view glob_text, const std::vector<std::string>& paths) {
    std::string_view prefix = glob_text.substr(0, glob_text.find_first_of("*?[\\"));
    if (prefix.size() < glob_text.size()) {
        const std::size_t slash = prefix.rfind('/');
        prefix = slash == std::string_view::npos ? std::string_view() : prefix.substr(0, slash);
    }
    return std::any_of(paths.begin(), paths.end(), [&](const std::string& path) {
        return path.compare(0, prefix.size(), prefix) == 0 &&
               (path.size() == prefix.size() || prefix.empty() || path[prefix.size()] == '/' || prefix.size() < glob_text.size());
    });
}

bool covers_any(const PathGlob& glob, const std::vector<std::string>* paths) {
    if (paths == nullptr) return true;
    return std::any_of(paths->begin(), paths->end(), [&](const std::string& path) { return glob.matches(path); });
}

// The fast path: a reservation line exactly as serialize_reservation_table
// writes it (compact, no escapes), read in place. False when the line is
// anything else, and the general parser decides instead. `skipped` is set
// when the reservation covers none of `covering`, after its glob.
bool read_reservation_line(std::string_view line, const std::vector<std::string>* covering, Reservation& r, bool& skipped) {
    JsonLineCursor c(line);
    if (!c.eat('{')) return false;
    LockRecord& h = r.holder;
    bool has_glob = false, has_mode = false, has_acquired = false;
    do {
        std::string_view key, text;
        if (!c.string(key) || !c.eat(':')) return false;
        std::int64_t number = 0;
        if (key == "glob") {
            if (!c.string(text)) return false;
            if (covering != nullptr && !could_cover_any(text, *covering)) {
                skipped = true;
                return true;
            }
            auto glob = PathGlob::parse(text);
            if (!glob) return false;
            if (!covers_any(*glob, covering)) {
                skipped = true;
                return true;
            }
            r.glob = std::move(*glob);
            h.name = r.glob.text();
            has_glob = true;
        } else if (key == "mode") {
            if (!c.string(text)) return false;
            const auto mode = value_of(k_reservation_mode_words, text);
            if (!mode) return false;
            r.mode = *mode;
            has_mode = true;
        } else if (key == "id" || key == "owner" || key == "host" || key == "agent_id" || key == "boot_id") {
            if (!c.string(text)) return false;
            std::string& field = key == "id"         ? h.lock_id
                                 : key == "owner"    ? h.owner
                                 : key == "host"     ? h.host
                                 : key == "agent_id" ? h.agent_id
                                                     : h.boot_id;
            field = text;
        } else if (key == "bound_to") {
            if (!c.string(text)) return false;
            h.bound_to = value_of(k_binding_words, text);
            if (!h.bound_to) return false;
        } else if (key == "acquired_ts" || key == "expires_at") {
            if (!c.string(text)) return false;
            const auto time = parse_rfc3339(text);
            if (!time) return false;
            if (key == "acquired_ts") {
                h.acquired = *time;
                has_acquired = true;
            } else {
                h.expires_at = *time;
            }
        } else if (key == "owner_set") {
            if (c.word("true")) {
                h.owner_explicit = true;
            } else if (!c.word("false")) {
                return false;
            }
        } else if (key == "pid" || key == "ttl_sec") {
            if (!c.integer(number)) return false;
            (key == "pid" ? h.pid : h.ttl_sec) = number;
        } else if (key == "pid_start_ns" || key == "expires_boot_ns") {
            if (!c.integer(number) || number < 0) return false;
            (key == "pid_start_ns" ? h.pid_start : h.expires_boot_ns) = static_cast<std::uint64_t>(number);
        } else if (!skip_json_value(c)) {
            return false;
        }
    } while (c.eat(','));
    return c.eat('}') && c.at_end() && has_glob && has_mode && has_acquired && !h.lock_id.empty() && !h.owner.empty() &&
           !h.host.empty();
}

// The whole table through the fast path; nullopt when any part of it is not
// as lokt writes it.
std::optional<std::vector<Reservation>> read_table_fast(std::string_view text, const std::vector<std::string>* covering) {
    constexpr std::string_view head = "{\n  \"version\": 1,\n  \"reservations\": [";
    if (text.substr(0, head.size()) != head) return std::nullopt;
    text.remove_prefix(head.size());
    std::vector<Reservation> table;
    if (text == "]\n}\n") return table;
    for (;;) {
        if (text.substr(0, 5) != "\n    ") return std::nullopt;
        text.remove_prefix(5);
        const std::size_t end = text.find('\n');
        if (end == std::string_view::npos) return std::nullopt;
        std::string_view line = text.substr(0, end);
        text.remove_prefix(end);
        const bool more = !line.empty() && line.back() == ',';
        if (more) line.remove_suffix(1);
        Reservation r;
        bool skipped = false;
        if (!read_reservation_line(line, covering, r, skipped)) return std::nullopt;
        if (!skipped) table.push_back(std::move(r));
        if (!more) break;
    }
    if (text != "\n  ]\n}\n") return std::nullopt;
    return table;
}

}  // namespace

std::string_view to_string(ReservationMode mode) { return word_of(k_reservation_mode_words, mode).value_or("unknown"); }

bool reservation_conflicts(const Reservation& existing, const PathGlob& glob, ReservationMode mode, std::string_view owner) {
    if (same_owner(existing, owner)) return false;
    if (existing.mode == ReservationMode::shared && mode == ReservationMode::shared) return false;
    return globs_overlap(existing.glob, glob);
}

bool reservation_live(const Reservation& reservation, WallTime now, const std::string& this_host, LivenessMemo* memo) {
    JudgeContext context;
    context.memo = memo;
    return judge_record(reservation.holder, now, this_host, context) == HoldState::live;
}

std::vector<const Reservation*> path_blockers(const std::vector<Reservation>& table, std::string_view path,
                                              std::string_view owner, WallTime now, const std::string& this_host) {
    LivenessMemo memo;
    std::vector<const Reservation*> covering;
    bool owner_shares = false;
    for (const Reservation& r : table) {
        if (!r.glob.matches(path) || !reservation_live(r, now, this_host, &memo)) continue;
        if (same_owner(r, owner)) {
            owner_shares = owner_shares || r.mode == ReservationMode::shared;
            continue;
        }
        covering.push_back(&r);
    }
    std::vector<const Reservation*> blockers;
    for (const Reservation* r : covering) {
        if (r->mode == ReservationMode::shared && owner_shares) continue;
        blockers.push_back(r);
    }
    return blockers;
}

std::string serialize_reservation_table(const std::vector<Reservation>& table) {
    std::string out = "{\n  \"version\": " + std::to_string(k_table_version) + ",\n  \"reservations\": [";
    for (std::size_t i = 0; i < table.size(); ++i) {
        out += i == 0 ? "\n    " : ",\n    ";
        out += reservation_json(table[i]).dump();
    }
    out += table.empty() ? "]\n}\n" : "\n  ]\n}\n";
    return out;
}

Result<std::vector<Reservation>> parse_reservation_table(std::string_view text, const std::vector<std::string>* covering) {
    if (auto fast = read_table_fast(text, covering)) return std::move(*fast);
    TableJson document;
    try {
        document = TableJson::parse(text.begin(), text.end());
    } catch (const TableJson::exception&) {
        return corrupt_table("not JSON");
    }
    if (!document.is_object()) return corrupt_table("not a JSON object");
    const auto version = document.find("version");
    if (version != document.end() && version->is_number_integer() && version->get<std::int64_t>() > k_table_version) {
        return make_error(ErrorCode::unsupported,
                          "reservation table: version " + version->dump() + " is newer than this lokt knows");
    }
    const auto list = document.find("reservations");
    if (list == document.end() || !list->is_array()) return corrupt_table("no \"reservations\" array");
    std::vector<Reservation> table;
    table.reserve(list->size());
    for (const auto& item : *list) {
        LOKT_TRY_LET(reservation, reservation_from(item));
        if (covers_any(reservation->glob, covering)) table.push_back(std::move(*reservation));
    }
    return table;
}

std::string describe_reservation(const Reservation& reservation, WallTime now) {
    return reservation.glob.text() + " (" + std::string(to_string(reservation.mode)) + ") by " +
           describe_holder(reservation.holder, now);
}

}  // namespace lokt
