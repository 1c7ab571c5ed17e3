// Private to protocol/'s .cpp files (it includes nlohmann/json). Typed reading
// of the fields of one untrusted JSON object: the one place that decides what a
// missing or wrong field is called, so every decoder names the offending field
// the same way ("missing field \"identity.owner\"", "field \"ttl_ms\" must be
// ..."). Nothing here throws on any input.
#pragma once

#include "common/enum_words.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lokt::protocol::wire {

// ordered_json keeps keys in insertion order: encoding is byte-stable, and an
// audit line passes through with its keys in the order they were written.
using Json = nlohmann::ordered_json;

inline constexpr std::uint64_t k_max_u32 = std::numeric_limits<std::uint32_t>::max();
inline constexpr std::uint64_t k_max_u64 = std::numeric_limits<std::uint64_t>::max();
inline constexpr std::uint64_t k_max_i32 = static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max());
inline constexpr std::uint64_t k_max_i64 = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// Compact JSON; invalid UTF-8 in strings becomes U+FFFD instead of an exception.
std::string dump(const Json& value);
// The same with the line's '\n'.
std::string dump_line(const Json& value);
// Text as a JSON string literal, cut short (after the closing quote) if long.
std::string quote_text(std::string_view text);
// A bad value as an error message shows it: strings quoted, containers named.
std::string describe(const Json& value);

// The first problem met while decoding one line; later ones are not reported.
struct Failure {
    std::optional<std::string> message;
    void set(std::string text) {
        if (!message) message = std::move(text);
    }
};

// Typed access to the fields of one JSON object. A missing or wrong field is
// recorded in the shared Failure and a neutral value returned, so a decoder
// reads every field straight through and checks failed() once at the end.
// null counts as absent for optional fields.
class Reader {
public:
    Reader(const Json& object, std::string path, Failure& failure)
        : m_object(object), m_path(std::move(path)), m_failure(failure) {}

    // The object read, for a field passed on as it is (an audit line).
    const Json& json() const { return m_object; }
    bool failed() const { return m_failure.message.has_value(); }

    // The dotted name of a field, as error messages show it.
    std::string path_of(std::string_view key) const;

    void fail(std::string message) { m_failure.set(std::move(message)); }
    void fail_field(std::string_view key, std::string_view problem);
    void fail_missing(std::string_view key, std::string_view why = {});

    bool has(std::string_view key) const { return find(key) != nullptr; }

    std::string string(std::string_view key);
    std::string optional_string(std::string_view key);
    std::string nonempty_string(std::string_view key);
    // Absent reads as false.
    bool boolean(std::string_view key);
    std::uint64_t unsigned_integer(std::string_view key, std::uint64_t min, std::uint64_t max);
    std::optional<std::uint64_t> optional_unsigned(std::string_view key, std::uint64_t min, std::uint64_t max);
    // Any integer that fits std::int64_t, negative ones included.
    std::int64_t signed_integer(std::string_view key);
    // Every request that concerns a root names it by absolute path, in "root".
    std::string root();
    // A lock id this daemon handed out: 32 lowercase hex digits.
    std::string lock_id(std::string_view key, bool required);
    // Absent reads as empty.
    std::vector<std::string> strings(std::string_view key);

    template <class E, std::size_t N>
    E word(std::string_view key, const std::array<Word<E>, N>& table) {
        const std::string text = string(key);
        if (failed()) return table[0].value;
        const auto value = value_of(table, text);
        if (!value) {
            fail_field(key, "must be " + word_list(table) + ", got " + quote_text(text));
            return table[0].value;
        }
        return *value;
    }

    template <class E, std::size_t N>
    std::optional<E> optional_word(std::string_view key, const std::array<Word<E>, N>& table) {
        if (!has(key)) return std::nullopt;
        return word(key, table);
    }

    // A nested object; nullopt (with a failure when required) if absent.
    std::optional<Reader> object(std::string_view key, bool required);
    // An optional array of objects; absent reads as empty.
    std::vector<Reader> objects(std::string_view key);

private:
    const Json* find(std::string_view key) const;
    const Json* find_required(std::string_view key, std::string_view kind);
    std::string as_string(std::string_view key, const Json& value);
    std::uint64_t as_unsigned(std::string_view key, const Json& value, std::uint64_t min, std::uint64_t max);

    const Json& m_object;
    std::string m_path;
    Failure& m_failure;
};

// Parses one line as a JSON object, or records why it is not one.
std::optional<Json> parse_object(std::string_view line, Failure& failure);

}  // namespace lokt::protocol::wire
