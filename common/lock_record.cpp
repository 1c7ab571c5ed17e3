// See lock_record.hpp.
#include "common/lock_record.hpp"

#include <sys/random.h>

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

namespace lokt {
namespace {

using Json = nlohmann::ordered_json;

Error corrupt(std::string why) { return make_error(ErrorCode::corrupt, std::move(why)); }

// What reading a file asks of a field that is always written.
enum class Need { nothing, present, nonempty };
// Whether a count of 0 is written or left out like an absent one.
enum class Zero { written, left_out };

// The lock file's fields in SPEC.md's order, lokt's own after them: the one
// list that writing (serialize_lock_record) and reading (RecordReader) both
// follow. R is LockRecord to read, const LockRecord to write. The optional_*
// fields, and ttl_sec when not positive, are left out of the file when empty,
// absent or false.
template <class V, class R>
void file_fields(V& v, R& r) {
    v.number("version", r.version);
    v.text("name", r.name, Need::nonempty);
    v.optional_text("lock_id", r.lock_id);
    v.text("owner", r.owner, Need::present);
    v.text("host", r.host);
    v.number("pid", r.pid);
    v.optional_count("pid_start_ns", r.pid_start, Zero::left_out);
    v.optional_text("agent_id", r.agent_id);
    v.time("acquired_ts", r.acquired);
    v.seconds("ttl_sec", r.ttl_sec);
    v.optional_time("expires_at", r.expires_at);
    v.optional_word("bound_to", r.bound_to, k_binding_words);
    v.optional_flag("owner_set", r.owner_explicit);
    v.optional_text("boot_id", r.boot_id);
    v.optional_count("expires_boot_ns", r.expires_boot_ns, Zero::left_out);
    v.optional_count("fence", r.fence);
    v.optional_text("handle", r.handle);
    v.optional_text("pool", r.pool);
    v.optional_count("slots", r.slots);
    v.optional_count("slot", r.slot);
    v.optional_text("mode", r.mode);
}

// Writes a record's fields into a JSON object, in the list's order.
class FileWriter {
public:
    explicit FileWriter(Json& out) : m_out(out) {}

    template <class T>
    void number(std::string_view key, T value) {
        m_out[key] = value;
    }
    void text(std::string_view key, const std::string& value, Need = Need::nothing) { m_out[key] = value; }
    void optional_text(std::string_view key, const std::string& value) {
        if (!value.empty()) m_out[key] = value;
    }
    void optional_count(std::string_view key, const std::optional<std::uint64_t>& value, Zero zero = Zero::written) {
        if (value && (*value != 0 || zero == Zero::written)) m_out[key] = *value;
    }
    void time(std::string_view key, WallTime value) { m_out[key] = format_rfc3339(value); }
    void seconds(std::string_view key, std::int64_t value) {
        if (value > 0) m_out[key] = value;
    }
    void optional_time(std::string_view key, const std::optional<WallTime>& value) {
        if (value) m_out[key] = format_rfc3339(*value);
    }
    template <class E, std::size_t N>
    void optional_word(std::string_view key, const std::optional<E>& value, const std::array<Word<E>, N>& table) {
        if (value) m_out[key] = std::string(word_of(table, *value).value_or("unknown"));
    }
    void optional_flag(std::string_view key, bool value) {
        if (value) m_out[key] = true;
    }

private:
    Json& m_out;
};

// What a JSON value in the file is, as the parser reports it.
enum class Type { null, boolean, integer, string, other };

// One field of the list as reading needs it before the value: its key, the
// JSON type it takes, and whether the file must have it.
struct FieldShape {
    std::string_view key;
    Type type;
    Need need;
};

class ShapeCollector {
public:
    std::vector<FieldShape> shapes;

    template <class T>
    void number(std::string_view key, T&) {
        add(key, Type::integer);
    }
    void text(std::string_view key, std::string&, Need need = Need::nothing) { add(key, Type::string, need); }
    void optional_text(std::string_view key, std::string&) { add(key, Type::string); }
    void optional_count(std::string_view key, std::optional<std::uint64_t>&, Zero = Zero::written) { add(key, Type::integer); }
    void time(std::string_view key, WallTime&) { add(key, Type::string, Need::present); }
    void seconds(std::string_view key, std::int64_t&) { add(key, Type::integer); }
    void optional_time(std::string_view key, std::optional<WallTime>&) { add(key, Type::string); }
    template <class E, std::size_t N>
    void optional_word(std::string_view key, std::optional<E>&, const std::array<Word<E>, N>&) {
        add(key, Type::string);
    }
    void optional_flag(std::string_view key, bool&) { add(key, Type::boolean); }

private:
    void add(std::string_view key, Type type, Need need = Need::nothing) { shapes.push_back({key, type, need}); }
};

const std::vector<FieldShape>& file_shapes() {
    static const std::vector<FieldShape> shapes = [] {
        ShapeCollector collector;
        LockRecord scratch;
        file_fields(collector, scratch);
        return collector.shapes;
    }();
    return shapes;
}

// One scalar of the file, already checked to have its field's type.
struct Scalar {
    std::int64_t integer = 0;
    bool boolean = false;
    std::string* text = nullptr;
};

// Stores one value into the field at `index` in the list; the other fields
// are passed over. `problem` says why the value does not fit, after its key;
// `present` is false when the value counts as missing (an empty name).
class FieldStorer {
public:
    FieldStorer(std::size_t index, Scalar value) : m_index(index), m_value(value) {}

    std::string_view problem;
    bool present = true;

    template <class T>
    void number(std::string_view, T& value) {
        if (mine()) value = static_cast<T>(m_value.integer);
    }
    void text(std::string_view, std::string& value, Need need = Need::nothing) {
        if (!mine()) return;
        value = std::move(*m_value.text);
        present = need != Need::nonempty || !value.empty();
    }
    void optional_text(std::string_view key, std::string& value) { text(key, value); }
    void optional_count(std::string_view, std::optional<std::uint64_t>& value, Zero = Zero::written) {
        if (!mine()) return;
        if (m_value.integer < 0) {
            problem = " is negative";
        } else {
            value = static_cast<std::uint64_t>(m_value.integer);
        }
    }
    void time(std::string_view, WallTime& value) {
        if (!mine()) return;
        if (auto time = parse_time()) value = *time;
    }
    void seconds(std::string_view, std::int64_t& value) {
        if (mine()) value = m_value.integer > 0 ? m_value.integer : 0;  // 0 or less: no TTL
    }
    void optional_time(std::string_view, std::optional<WallTime>& value) {
        if (!mine()) return;
        if (auto time = parse_time()) value = *time;
    }
    template <class E, std::size_t N>
    void optional_word(std::string_view, std::optional<E>& value, const std::array<Word<E>, N>& table) {
        if (mine()) value = value_of(table, *m_value.text);  // a word we do not know reads as absent
    }
    void optional_flag(std::string_view, bool& value) {
        if (mine()) value = m_value.boolean;
    }

private:
    bool mine() { return m_at++ == m_index; }
    std::optional<WallTime> parse_time() {
        auto time = parse_rfc3339(*m_value.text);
        if (!time) problem = " is not an RFC 3339 time";
        return time;
    }

    std::size_t m_index;
    std::size_t m_at = 0;
    Scalar m_value;
};

}  // namespace

std::string_view to_string(Binding binding) { return word_of(k_binding_words, binding).value_or("unknown"); }

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
    Json json = Json::object();
    FileWriter writer(json);
    file_fields(writer, r);
    // A shared group's members, each a complete record, after every other key.
    if (r.is_shared()) {
        Json members = Json::array();
        for (const LockRecord& member : r.holders) {
            Json one = Json::object();
            FileWriter member_writer(one);
            file_fields(member_writer, member);
            members.push_back(std::move(one));
        }
        json["holders"] = std::move(members);
    }
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

    bool null() { return scalar(Type::null, {}); }
    bool boolean(bool value) { return scalar(Type::boolean, {0, value, nullptr}); }
    bool number_integer(number_integer_t value) { return scalar(Type::integer, {value, false, nullptr}); }
    bool number_unsigned(number_unsigned_t value) {
        if (value > static_cast<number_unsigned_t>(INT64_MAX)) return scalar(Type::other, {});
        return scalar(Type::integer, {static_cast<number_integer_t>(value), false, nullptr});
    }
    bool number_float(number_float_t, const string_t&) { return scalar(Type::other, {}); }
    bool string(string_t& value) { return scalar(Type::string, {0, false, &value}); }
    bool binary(binary_t&) { return scalar(Type::other, {}); }
    bool start_object(std::size_t) { return open_container(); }
    bool start_array(std::size_t) {
        if (m_depth == 0) return fail("not a JSON object");
        return open_container();
    }
    bool end_object() { return close_container(); }
    bool end_array() { return close_container(); }
    bool key(string_t& value) {
        if (m_depth == 1) m_field = field_index(value);
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return fail("not valid JSON"); }

    // The first field the file must have and does not, if any.
    std::optional<std::string_view> missing() const {
        for (std::size_t i = 0; i < m_shapes.size(); ++i) {
            if (m_shapes[i].need != Need::nothing && (m_present & bit(i)) == 0) return m_shapes[i].key;
        }
        return std::nullopt;
    }

private:
    static constexpr std::size_t k_unknown = static_cast<std::size_t>(-1);

    std::size_t field_index(std::string_view key) const {
        for (std::size_t i = 0; i < m_shapes.size(); ++i) {
            if (m_shapes[i].key == key) return i;
        }
        return k_unknown;
    }
    static std::uint64_t bit(std::size_t index) { return std::uint64_t{1} << index; }

    bool fail(std::string why) {
        if (problem.empty()) problem = std::move(why);
        return false;
    }
    bool wrong_type() {
        const FieldShape& shape = m_shapes[m_field];
        const char* expected = shape.type == Type::boolean   ? "a boolean"
                               : shape.type == Type::integer ? "an integer"
                                                             : "a string";
        std::string text = "\"";
        text.append(shape.key).append("\" is not ").append(expected);
        return fail(std::move(text));
    }
    bool open_container() {
        if (m_depth == 0 && m_started) return fail("not a JSON object");
        m_started = true;
        if (m_depth == 1 && m_field != k_unknown) return wrong_type();
        ++m_depth;
        return true;
    }
    bool close_container() {
        --m_depth;
        return true;
    }

    bool scalar(Type type, Scalar value) {
        if (m_depth == 0) return fail("not a JSON object");
        if (m_depth > 1 || m_field == k_unknown) return true;  // unknown keys are ignored
        if (type != m_shapes[m_field].type) return wrong_type();
        FieldStorer storer(m_field, value);
        file_fields(storer, record);
        if (!storer.problem.empty()) return fail("\"" + std::string(m_shapes[m_field].key) + "\"" + std::string(storer.problem));
        m_present = storer.present ? (m_present | bit(m_field)) : (m_present & ~bit(m_field));
        return true;
    }

    const std::vector<FieldShape>& m_shapes = file_shapes();
    int m_depth = 0;
    bool m_started = false;
    std::size_t m_field = k_unknown;
    std::uint64_t m_present = 0;  // a bit per field of the list that the file has
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
    if (const auto key = reader.missing()) return corrupt("\"" + std::string(*key) + "\" is missing");
    return std::move(reader.record);
}

// The members of a shared group's file: `holders`, each read as a record of
// its own. A group without a readable member list is corrupt.
Result<void> read_members(std::string_view text, LockRecord& group) {
    const Json json = Json::parse(text, nullptr, false);
    if (!json.is_object() || !json.contains("holders") || !json["holders"].is_array()) {
        return corrupt("\"holders\" is missing from a shared lock");
    }
    for (const Json& member : json["holders"]) {
        if (!member.is_object()) return corrupt("\"holders\" has a member that is not an object");
        RecordReader reader;
        reader.record.version = 0;
        const std::string member_text = member.dump();
        const bool parsed = Json::sax_parse(member_text.begin(), member_text.end(), &reader);
        auto record = finish(reader, parsed);
        if (!record) return corrupt("a member of \"holders\": " + record.error().message);
        group.holders.push_back(std::move(record.value()));
    }
    return {};
}

Result<LockRecord> with_members(Result<LockRecord> read, std::string_view text) {
    if (!read || !read->is_shared()) return read;
    LOKT_TRY(read_members(text, read.value()));
    return read;
}

}  // namespace

Result<LockRecord> parse_lock_record(std::string_view text) {
    {
        RecordReader reader;
        reader.record.version = 0;  // absent means 0
        const auto outcome = FlatRecordScanner(text).scan(reader);
        if (outcome != FlatRecordScanner::Outcome::not_flat) {
            return with_members(finish(reader, outcome == FlatRecordScanner::Outcome::accepted), text);
        }
    }
    return parse_lock_record_with_library(text);
}

Result<LockRecord> parse_lock_record_with_library(std::string_view text) {
    RecordReader reader;
    reader.record.version = 0;  // absent means 0
    const bool parsed = Json::sax_parse(text.begin(), text.end(), &reader);
    return with_members(finish(reader, parsed), text);
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
