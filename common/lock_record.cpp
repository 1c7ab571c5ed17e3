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

Identity holder_identity(const LockRecord& record) {
    Identity holder;
    holder.owner = record.owner;
    holder.owner_explicit = record.owner_explicit;
    holder.host = record.host;
    holder.pid = static_cast<pid_t>(record.pid);
    holder.pid_start = record.pid_start;
    holder.agent_id = record.agent_id;
    return holder;
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
    if (!r.handle.empty()) json["handle"] = r.handle;
    std::string text = json.dump(2);
    text.push_back('\n');
    return text;
}

namespace {

// Fills a LockRecord straight from the parser's events: no document tree is
// built, which makes `status` over thousands of locks several times faster.
class RecordReader {
public:
    using number_integer_t = Json::number_integer_t;
    using number_unsigned_t = Json::number_unsigned_t;
    using number_float_t = Json::number_float_t;
    using string_t = Json::string_t;
    using binary_t = Json::binary_t;

    LockRecord record;
    std::string problem;
    bool saw_name = false, saw_owner = false, saw_acquired = false;

    bool null() { return scalar(Type::null, nullptr); }
    bool boolean(bool value) { return scalar(Type::boolean, &value); }
    bool number_integer(number_integer_t value) { return scalar(Type::integer, &value); }
    bool number_unsigned(number_unsigned_t value) {
        auto as_signed = static_cast<number_integer_t>(value);
        return scalar(value > static_cast<number_unsigned_t>(INT64_MAX) ? Type::other : Type::integer, &as_signed);
    }
    bool number_float(number_float_t, const string_t&) { return scalar(Type::other, nullptr); }
    bool string(string_t& value) { return scalar(Type::string, &value); }
    bool binary(binary_t&) { return scalar(Type::other, nullptr); }
    bool start_object(std::size_t) { return open_container(); }
    bool start_array(std::size_t) {
        if (m_depth == 0) return fail("not a JSON object");
        return open_container();
    }
    bool end_object() { return close_container(); }
    bool end_array() { return close_container(); }
    bool key(string_t& value) {
        if (m_depth == 1) m_field = field_of(value);
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return fail("not valid JSON"); }

private:
    enum class Type { null, boolean, integer, string, other };
    enum class Field {
        unknown,
        version,
        name,
        lock_id,
        owner,
        host,
        pid,
        pid_start,
        agent_id,
        acquired,
        ttl_sec,
        expires_at,
        bound_to,
        owner_set,
        boot_id,
        fence,
        handle
    };
    struct FieldName {
        std::string_view key;
        Field field;
    };
    static constexpr FieldName k_fields[] = {
        {"version", Field::version},
        {"name", Field::name},
        {"lock_id", Field::lock_id},
        {"owner", Field::owner},
        {"host", Field::host},
        {"pid", Field::pid},
        {"pid_start_ns", Field::pid_start},
        {"agent_id", Field::agent_id},
        {"acquired_ts", Field::acquired},
        {"ttl_sec", Field::ttl_sec},
        {"expires_at", Field::expires_at},
        {"bound_to", Field::bound_to},
        {"owner_set", Field::owner_set},
        {"boot_id", Field::boot_id},
        {"fence", Field::fence},
        {"handle", Field::handle},
    };

    static Field field_of(std::string_view key) {
        for (const auto& entry : k_fields) {
            if (entry.key == key) return entry.field;
        }
        return Field::unknown;
    }
    static std::string_view key_of(Field field) {
        for (const auto& entry : k_fields) {
            if (entry.field == field) return entry.key;
        }
        return "?";
    }
    static bool is_integer_field(Field f) {
        return f == Field::version || f == Field::pid || f == Field::pid_start || f == Field::ttl_sec || f == Field::fence;
    }

    bool fail(std::string why) {
        if (problem.empty()) problem = std::move(why);
        return false;
    }
    std::string wrong_type() const {
        const char* expected = m_field == Field::owner_set ? "a boolean" : is_integer_field(m_field) ? "an integer" : "a string";
        std::string text = "\"";
        text.append(key_of(m_field)).append("\" is not ").append(expected);
        return text;
    }
    bool open_container() {
        if (m_depth == 0 && m_started) return fail("not a JSON object");
        m_started = true;
        if (m_depth == 1 && m_field != Field::unknown) return fail(wrong_type());
        ++m_depth;
        return true;
    }
    bool close_container() {
        --m_depth;
        return true;
    }

    bool scalar(Type type, void* value) {
        if (m_depth == 0) return fail("not a JSON object");
        if (m_depth > 1 || m_field == Field::unknown) return true;  // unknown keys are ignored
        if (is_integer_field(m_field)) {
            if (type != Type::integer) return fail(wrong_type());
            const number_integer_t n = *static_cast<number_integer_t*>(value);
            switch (m_field) {
                case Field::version: record.version = static_cast<int>(n); break;
                case Field::pid: record.pid = n; break;
                case Field::ttl_sec: record.ttl_sec = n > 0 ? n : 0; break;  // 0 or less: no TTL
                default:
                    if (n < 0) return fail("\"" + std::string(key_of(m_field)) + "\" is negative");
                    (m_field == Field::fence ? record.fence : record.pid_start) = static_cast<std::uint64_t>(n);
            }
            return true;
        }
        if (m_field == Field::owner_set) {
            if (type != Type::boolean) return fail(wrong_type());
            record.owner_explicit = *static_cast<bool*>(value);
            return true;
        }
        if (type != Type::string) return fail(wrong_type());
        std::string& text = *static_cast<string_t*>(value);
        switch (m_field) {
            case Field::acquired:
            case Field::expires_at: {
                auto time = parse_rfc3339(text);
                if (!time) return fail("\"" + std::string(key_of(m_field)) + "\" is not an RFC 3339 time");
                if (m_field == Field::acquired) {
                    record.acquired = *time;
                    saw_acquired = true;
                } else {
                    record.expires_at = *time;
                }
                break;
            }
            case Field::bound_to: record.bound_to = binding_from(text); break;
            case Field::name:
                record.name = std::move(text);
                saw_name = true;
                break;
            case Field::owner:
                record.owner = std::move(text);
                saw_owner = true;
                break;
            case Field::lock_id: record.lock_id = std::move(text); break;
            case Field::host: record.host = std::move(text); break;
            case Field::agent_id: record.agent_id = std::move(text); break;
            case Field::boot_id: record.boot_id = std::move(text); break;
            case Field::handle: record.handle = std::move(text); break;
            default: break;
        }
        return true;
    }

    int m_depth = 0;
    bool m_started = false;
    Field m_field = Field::unknown;
};

// The lock files lokt and other tools write are flat objects of plain ASCII
// strings, integers and booleans. This scanner reads exactly that shape and
// feeds the same RecordReader as the library's parser, at a fraction of its
// cost; on anything else (escapes, non-ASCII, floats, nesting, bad syntax) it
// stops and the library parser reads the whole text again, so both paths agree
// on every input (checked by the lock-file fuzz target).
class FlatRecordScanner {
public:
    explicit FlatRecordScanner(std::string_view text) : m_text(text) {}

    enum class Outcome { accepted, rejected, not_flat };

    Outcome scan(RecordReader& reader) {
        skip_space();
        if (!take('{')) return Outcome::not_flat;
        if (!reader.start_object(std::size_t(-1))) return Outcome::rejected;
        skip_space();
        if (!take('}')) {
            for (;;) {
                std::string key;
                if (!string(key)) return Outcome::not_flat;
                skip_space();
                if (!take(':')) return Outcome::not_flat;
                if (!reader.key(key)) return Outcome::rejected;
                skip_space();
                const Outcome value = scalar(reader);
                if (value != Outcome::accepted) return value;
                skip_space();
                if (take(',')) {
                    skip_space();
                    continue;
                }
                if (take('}')) break;
                return Outcome::not_flat;
            }
        }
        if (!reader.end_object()) return Outcome::rejected;
        skip_space();
        return m_at == m_text.size() ? Outcome::accepted : Outcome::not_flat;
    }

private:
    bool take(char c) {
        if (m_at < m_text.size() && m_text[m_at] == c) {
            ++m_at;
            return true;
        }
        return false;
    }
    void skip_space() {
        while (m_at < m_text.size()) {
            const char c = m_text[m_at];
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
            ++m_at;
        }
    }
    // A string of printable ASCII without escapes.
    bool string(std::string& out) {
        if (!take('"')) return false;
        const std::size_t begin = m_at;
        while (m_at < m_text.size()) {
            const auto c = static_cast<unsigned char>(m_text[m_at]);
            if (c == '"') {
                out.assign(m_text.substr(begin, m_at - begin));
                ++m_at;
                return true;
            }
            if (c < 0x20 || c >= 0x7f || c == '\\') return false;
            ++m_at;
        }
        return false;
    }
    bool word(std::string_view literal) {
        if (m_text.substr(m_at, literal.size()) != literal) return false;
        m_at += literal.size();
        return true;
    }
    Outcome scalar(RecordReader& reader) {
        if (m_at >= m_text.size()) return Outcome::not_flat;
        const char c = m_text[m_at];
        bool kept = true;
        if (c == '"') {
            std::string value;
            if (!string(value)) return Outcome::not_flat;
            kept = reader.string(value);
        } else if (c == 't' || c == 'f' || c == 'n') {
            if (word("true"))
                kept = reader.boolean(true);
            else if (word("false"))
                kept = reader.boolean(false);
            else if (word("null"))
                kept = reader.null();
            else
                return Outcome::not_flat;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            const bool negative = take('-');
            const std::size_t digits_at = m_at;
            std::uint64_t magnitude = 0;
            while (m_at < m_text.size() && m_text[m_at] >= '0' && m_text[m_at] <= '9') {
                magnitude = magnitude * 10 + static_cast<std::uint64_t>(m_text[m_at] - '0');
                ++m_at;
            }
            const std::size_t digits = m_at - digits_at;
            // Leave to the library: no digits, leading zeros, 19+ digits, fractions and exponents.
            if (digits == 0 || digits > 18 || (digits > 1 && m_text[digits_at] == '0')) return Outcome::not_flat;
            if (m_at < m_text.size() && (m_text[m_at] == '.' || m_text[m_at] == 'e' || m_text[m_at] == 'E')) {
                return Outcome::not_flat;
            }
            kept = negative ? reader.number_integer(-static_cast<std::int64_t>(magnitude)) : reader.number_unsigned(magnitude);
        } else {
            return Outcome::not_flat;
        }
        return kept ? Outcome::accepted : Outcome::rejected;
    }

    std::string_view m_text;
    std::size_t m_at = 0;
};

Result<LockRecord> finish(RecordReader& reader, bool parsed) {
    if (!parsed) return corrupt(reader.problem.empty() ? "not valid JSON" : reader.problem);
    if (!reader.saw_name || reader.record.name.empty()) return corrupt("\"name\" is missing");
    if (!reader.saw_owner) return corrupt("\"owner\" is missing");
    if (!reader.saw_acquired) return corrupt("\"acquired_ts\" is missing");
    return std::move(reader.record);
}

}  // namespace

Result<LockRecord> parse_lock_record(std::string_view text) {
    {
        RecordReader reader;
        reader.record.version = 0;  // absent means 0
        const auto outcome = FlatRecordScanner(text).scan(reader);
        if (outcome != FlatRecordScanner::Outcome::not_flat) {
            return finish(reader, outcome == FlatRecordScanner::Outcome::accepted);
        }
    }
    return parse_lock_record_with_library(text);
}

Result<LockRecord> parse_lock_record_with_library(std::string_view text) {
    RecordReader reader;
    reader.record.version = 0;  // absent means 0
    const bool parsed = Json::sax_parse(text.begin(), text.end(), &reader);
    return finish(reader, parsed);
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
