// Private to protocol/'s .cpp files. The machinery that lets each message list
// its fields once: a message's field list is a function
//
//     void fields(auto& v, Like<AcquireRequest> auto& m) {
//         v.root(m.root);
//         v.text("name", m.name);
//         v.optional_number("ttl_ms", m.ttl_ms, k_any);
//         ...
//     }
//
// run with a FieldWriter (m is const: each call writes the field into a JSON
// object, or leaves it out) or with a FieldReader (each call reads the field
// from an untrusted object through Reader, which names the field in any
// error). A kind of field is one method of each class, so what a kind writes
// and what it accepts are defined side by side; a field's key, order,
// presence and range are written once, in the list. v.check() runs a rule
// across fields when reading, at its place in the list.
#pragma once

#include "protocol/json_reader.hpp"
#include "common/result.hpp"
#include "protocol/vocabulary.hpp"
#include "common/wall_time.hpp"

#include <algorithm>
#include <concepts>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace lokt::protocol::wire {

// M is T, or const T: a field list takes a message to fill or one to write.
template <class M, class T>
concept Like = std::same_as<std::remove_const_t<M>, T>;

// A message without fields has an empty field list.
template <class V, class M>
requires std::is_empty_v<M>
void fields(V&, M&) {}

// The values an integer field accepts.
struct Range {
    std::uint64_t min = 0;
    std::uint64_t max = 0;
};
inline constexpr Range k_any{0, k_max_u64};           // durations, start times, fences
inline constexpr Range k_from_one{1, k_max_u64};      // request ids
inline constexpr Range k_count{0, k_max_u32};         // holds, waiters, connections
inline constexpr Range k_from_one_u32{1, k_max_u32};  // queue positions, protocol versions
inline constexpr Range k_pid{1, k_max_i32};

template <class T>
void write_fields(Json& out, const T& message);
template <class T>
Json write_object(const T& message);
template <class T>
void read_fields(Reader& in, T& message);

// Writes each field into a JSON object, in the list's order.
class FieldWriter {
public:
    explicit FieldWriter(Json& out) : m_out(out) {}

    void text(std::string_view key, const std::string& value) { put(key, value); }
    void nonempty_text(std::string_view key, const std::string& value) { put(key, value); }
    // Left out when empty.
    void optional_text(std::string_view key, const std::string& value) {
        if (!value.empty()) put(key, value);
    }
    // Left out when absent; never empty when present.
    void optional_nonempty_text(std::string_view key, const std::optional<std::string>& value) {
        if (value) put(key, *value);
    }
    void root(const std::string& value) { put("root", value); }
    void lock_id(std::string_view key, const std::string& value) { put(key, value); }
    // Left out when empty.
    void optional_lock_id(std::string_view key, const std::string& value) {
        if (!value.empty()) put(key, value);
    }
    void flag(std::string_view key, bool value) { put(key, value); }
    // Left out when false.
    void optional_flag(std::string_view key, bool value) {
        if (value) put(key, true);
    }
    template <class T>
    void number(std::string_view key, T value, Range) {
        put(key, value);
    }
    template <class T>
    void optional_number(std::string_view key, const std::optional<T>& value, Range) {
        if (value) put(key, *value);
    }
    void signed_number(std::string_view key, std::int64_t value) { put(key, value); }
    // A value the table has no word for is written as its first word.
    template <class E, std::size_t N>
    void word(std::string_view key, E value, const std::array<Word<E>, N>& table) {
        put(key, std::string(word_of(table, value).value_or(table[0].word)));
    }
    template <class E, std::size_t N>
    void optional_word(std::string_view key, const std::optional<E>& value, const std::array<Word<E>, N>& table) {
        if (value) word(key, *value, table);
    }
    void error_code(std::string_view key, ErrorCode code) { put(key, std::string(to_string(code))); }
    void strings(std::string_view key, const std::vector<std::string>& values) { put(key, values); }
    // An instant as RFC 3339; the zero instant (unknown) as "".
    void time(std::string_view key, WallTime value) {
        put(key, value.time_since_epoch().count() == 0 ? std::string() : format_rfc3339(value));
    }
    void optional_time(std::string_view key, const std::optional<WallTime>& value) {
        if (value) put(key, format_rfc3339(*value));
    }
    // Left out when not positive.
    void seconds(std::string_view key, std::int64_t value) {
        if (value > 0) put(key, value);
    }
    // Both keys, or neither.
    void optional_range(std::string_view min_key, std::string_view max_key, const std::optional<VersionRange>& value) {
        if (!value) return;
        put(min_key, value->min);
        put(max_key, value->max);
    }
    template <class T>
    void object(std::string_view key, const T& value) {
        put(key, write_object(value));
    }
    template <class T>
    void optional_object(std::string_view key, const std::optional<T>& value) {
        if (value) object(key, *value);
    }
    template <class T>
    void objects(std::string_view key, const std::vector<T>& values) {
        Json array = Json::array();
        for (const auto& value : values) array.push_back(write_object(value));
        put(key, std::move(array));
    }
    // Left out when empty.
    template <class T>
    void optional_objects(std::string_view key, const std::vector<T>& values) {
        if (!values.empty()) objects(key, values);
    }
    // Left out when absent.
    template <class T>
    void optional_objects(std::string_view key, const std::optional<std::vector<T>>& values) {
        if (values) objects(key, *values);
    }
    // A field whose value is always the same.
    void fixed_word(std::string_view key, std::string_view word) { put(key, std::string(word)); }
    void fixed_true(std::string_view key) { put(key, true); }
    // A JSON object passed on as it is (compact text); anything else is sent
    // as null, which every reader refuses.
    void raw_object(std::string_view key, const std::string& text) {
        Json value = Json::parse(text.begin(), text.end(), nullptr, false);
        if (!value.is_object()) value = nullptr;
        put(key, std::move(value));
    }
    template <class F>
    void check(F&&) {}

private:
    template <class T>
    void put(std::string_view key, T&& value) {
        m_out[std::string(key)] = std::forward<T>(value);
    }

    Json& m_out;
};

// Reads each field from an untrusted object through Reader: the first
// missing or wrong field is recorded, by name, and the rest still read.
class FieldReader {
public:
    explicit FieldReader(Reader& in) : m_in(in) {}

    void text(std::string_view key, std::string& value) { value = m_in.string(key); }
    void nonempty_text(std::string_view key, std::string& value) { value = m_in.nonempty_string(key); }
    void optional_text(std::string_view key, std::string& value) { value = m_in.optional_string(key); }
    void optional_nonempty_text(std::string_view key, std::optional<std::string>& value) {
        value.reset();
        if (m_in.has(key)) value = m_in.nonempty_string(key);
    }
    void root(std::string& value) { value = m_in.root(); }
    void lock_id(std::string_view key, std::string& value) { value = m_in.lock_id(key, true); }
    void optional_lock_id(std::string_view key, std::string& value) { value = m_in.lock_id(key, false); }
    void flag(std::string_view key, bool& value) { value = m_in.boolean(key); }
    void optional_flag(std::string_view key, bool& value) { value = m_in.boolean(key); }
    template <class T>
    void number(std::string_view key, T& value, Range range) {
        value = static_cast<T>(m_in.unsigned_integer(key, range.min, range.max));
    }
    template <class T>
    void optional_number(std::string_view key, std::optional<T>& value, Range range) {
        value.reset();
        if (const auto read = m_in.optional_unsigned(key, range.min, range.max)) value = static_cast<T>(*read);
    }
    void signed_number(std::string_view key, std::int64_t& value) { value = m_in.signed_integer(key); }
    template <class E, std::size_t N>
    void word(std::string_view key, E& value, const std::array<Word<E>, N>& table) {
        value = m_in.word(key, table);
    }
    template <class E, std::size_t N>
    void optional_word(std::string_view key, std::optional<E>& value, const std::array<Word<E>, N>& table) {
        value = m_in.optional_word(key, table);
    }
    void error_code(std::string_view key, ErrorCode& code) {
        const std::string word = m_in.string(key);
        if (m_in.failed()) return;
        const auto known = error_code_from_string(word);
        if (!known) m_in.fail_field(key, "must be a known error code, got " + quote_text(word));
        code = known.value_or(ErrorCode::internal);
    }
    void strings(std::string_view key, std::vector<std::string>& values) { values = m_in.strings(key); }
    // Not RFC 3339 (a foreign writer's record): the zero instant.
    void time(std::string_view key, WallTime& value) { value = parse_rfc3339(m_in.string(key)).value_or(WallTime{}); }
    // Empty or not RFC 3339: absent.
    void optional_time(std::string_view key, std::optional<WallTime>& value) {
        const std::string text = m_in.optional_string(key);
        value = text.empty() ? std::nullopt : parse_rfc3339(text);
    }
    // Absent reads as 0; more than std::int64_t holds, as its largest value.
    void seconds(std::string_view key, std::int64_t& value) {
        const auto read = m_in.optional_unsigned(key, 0, k_max_u64);
        value = static_cast<std::int64_t>(std::min(read.value_or(0), k_max_i64));
    }
    void optional_range(std::string_view min_key, std::string_view max_key, std::optional<VersionRange>& value) {
        const auto min = m_in.optional_unsigned(min_key, 1, k_max_u32);
        const auto max = m_in.optional_unsigned(max_key, 1, k_max_u32);
        value.reset();
        if (min && max) {
            value = VersionRange{static_cast<std::uint32_t>(*min), static_cast<std::uint32_t>(*max)};
        } else if (min || max) {
            m_in.fail("fields \"" + m_in.path_of(min_key) + "\" and \"" + m_in.path_of(max_key) + "\" come together");
        }
    }
    template <class T>
    void object(std::string_view key, T& value) {
        if (auto nested = m_in.object(key, true)) read_fields(*nested, value);
    }
    template <class T>
    void optional_object(std::string_view key, std::optional<T>& value) {
        value.reset();
        if (auto nested = m_in.object(key, false)) read_fields(*nested, value.emplace());
    }
    template <class T>
    void objects(std::string_view key, std::vector<T>& values) {
        values.clear();
        for (auto& item : m_in.objects(key)) read_fields(item, values.emplace_back());
    }
    template <class T>
    void optional_objects(std::string_view key, std::vector<T>& values) {
        objects(key, values);
    }
    template <class T>
    void optional_objects(std::string_view key, std::optional<std::vector<T>>& values) {
        values.reset();
        if (m_in.has(key)) objects(key, values.emplace());
    }
    void fixed_word(std::string_view key, std::string_view word) {
        const std::string text = m_in.string(key);
        if (!m_in.failed() && text != word) {
            m_in.fail_field(key, "must be " + quote_text(word) + ", got " + quote_text(text));
        }
    }
    void fixed_true(std::string_view key) {
        if (!m_in.boolean(key) && !m_in.failed()) m_in.fail_field(key, "must be true");
    }
    void raw_object(std::string_view key, std::string& text) {
        if (auto nested = m_in.object(key, true)) text = dump(nested->json());
    }
    // A rule across fields, given the Reader to report through; it runs only
    // while nothing before it in the list has failed.
    template <class F>
    void check(F&& rule) {
        if (!m_in.failed()) rule(m_in);
    }

private:
    Reader& m_in;
};

template <class T>
void write_fields(Json& out, const T& message) {
    FieldWriter writer(out);
    fields(writer, message);
}

template <class T>
Json write_object(const T& message) {
    Json out = Json::object();
    write_fields(out, message);
    return out;
}

template <class T>
void read_fields(Reader& in, T& message) {
    FieldReader reader(in);
    fields(reader, message);
}

// The alternative of `Variant` at `index`, default-constructed.
template <class Variant, std::size_t I = 0>
Variant variant_at(std::size_t index) {
    if constexpr (I + 1 < std::variant_size_v<Variant>) {
        if (index != I) return variant_at<Variant, I + 1>(index);
    }
    return Variant(std::in_place_index<I>);
}

}  // namespace lokt::protocol::wire
