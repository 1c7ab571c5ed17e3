// Private to protocol/'s .cpp files. Reading a request without building a JSON
// document: the lines lokt itself sends (compact, plain ASCII strings without
// escapes, unsigned integers) are split into their values in one pass, and a
// twin of FieldReader reads a message's field list from them. Anything else
// (whitespace, escapes, non-ASCII text, negative or fractional numbers,
// repeated keys, a field the message would refuse) makes it decline, and the
// line goes to the full parser, which accepts or refuses it with its usual
// words. So this path never decides differently from the full one; it only
// declines (the fuzz target checks that both agree on what it accepts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/field_codec.hpp"

namespace lokt::protocol::wire {

struct FlatMember {
    std::string_view key;
    std::size_t value = 0;  // index into FlatDocument's values
};

struct FlatValue {
    enum class Kind { string, number, boolean, null, object, array };
    Kind kind = Kind::null;
    std::string_view text;     // a string's contents
    std::uint64_t number = 0;  // an unsigned integer
    bool boolean = false;
    std::vector<FlatMember> members;  // an object's, in order
    std::vector<std::size_t> items;   // an array's
};

class FlatDocument {
public:
    // False when the line is not one object in the simple form described above.
    bool parse(std::string_view line);
    const FlatValue& value(std::size_t index) const { return m_values[index]; }
    const FlatValue& top() const { return m_values[0]; }
    // The member named key of an object (nullptr: none).
    const FlatValue* member(const FlatValue& object, std::string_view key) const;

private:
    bool parse_value(std::size_t& index, int depth);
    bool parse_string(std::string_view& out);
    bool parse_number(std::uint64_t& out);
    bool parse_word(std::string_view word);

    std::vector<FlatValue> m_values;
    const char* m_p = nullptr;
    const char* m_end = nullptr;
};

// FieldReader's twin over a FlatDocument: every field a message would accept
// is read as FieldReader reads it; anything it would refuse sets `declined`.
class FlatFieldReader {
public:
    FlatFieldReader(const FlatDocument& document, const FlatValue& object, bool& declined)
        : m_document(document), m_object(object), m_declined(declined) {}

    void text(std::string_view key, std::string& value) {
        const FlatValue* found = required(key, FlatValue::Kind::string);
        if (found != nullptr) value = std::string(found->text);
    }
    void nonempty_text(std::string_view key, std::string& value) {
        text(key, value);
        if (value.empty()) decline();
    }
    void optional_text(std::string_view key, std::string& value) {
        value.clear();
        if (const FlatValue* found = optional(key, FlatValue::Kind::string)) value = std::string(found->text);
    }
    void optional_nonempty_text(std::string_view key, std::optional<std::string>& value) {
        value.reset();
        if (present(key)) nonempty_text(key, value.emplace());
    }
    void root(std::string& value) {
        text("root", value);
        // What Reader::root() refuses (a NUL byte never gets this far).
        if (value.empty() || value.front() != '/' || value.size() > 4096) decline();
    }
    void lock_id(std::string_view key, std::string& value) {
        text(key, value);
        if (!lower_hex_id(value)) decline();
    }
    void optional_lock_id(std::string_view key, std::string& value) {
        optional_text(key, value);
        if (present(key) && !lower_hex_id(value)) decline();
    }
    void flag(std::string_view key, bool& value) {
        const FlatValue* found = optional(key, FlatValue::Kind::boolean);
        value = found != nullptr && found->boolean;
    }
    void optional_flag(std::string_view key, bool& value) { flag(key, value); }
    template <class T>
    void number(std::string_view key, T& value, Range range) {
        const FlatValue* found = required(key, FlatValue::Kind::number);
        if (found == nullptr) return;
        if (!in_range(found->number, range)) {
            decline();
            return;
        }
        value = static_cast<T>(found->number);
    }
    template <class T>
    void optional_number(std::string_view key, std::optional<T>& value, Range range) {
        value.reset();
        const FlatValue* found = optional(key, FlatValue::Kind::number);
        if (found == nullptr) return;
        if (!in_range(found->number, range)) {
            decline();
            return;
        }
        value = static_cast<T>(found->number);
    }
    template <class E, std::size_t N>
    void word(std::string_view key, E& value, const std::array<Word<E>, N>& table) {
        const FlatValue* found = required(key, FlatValue::Kind::string);
        if (found == nullptr) return;
        const auto known = value_of(table, found->text);
        if (!known) {
            decline();
            return;
        }
        value = *known;
    }
    void strings(std::string_view key, std::vector<std::string>& values) {
        values.clear();
        const FlatValue* found = optional(key, FlatValue::Kind::array);
        if (found == nullptr) return;
        for (const std::size_t item : found->items) {
            const FlatValue& text = m_document.value(item);
            if (text.kind != FlatValue::Kind::string) {
                decline();
                return;
            }
            values.emplace_back(text.text);
        }
    }
    template <class T>
    void object(std::string_view key, T& value) {
        if (const FlatValue* found = required(key, FlatValue::Kind::object)) {
            FlatFieldReader nested(m_document, *found, m_declined);
            fields(nested, value);
        }
    }
    template <class T>
    void optional_object(std::string_view key, std::optional<T>& value) {
        value.reset();
        if (const FlatValue* found = optional(key, FlatValue::Kind::object)) {
            FlatFieldReader nested(m_document, *found, m_declined);
            fields(nested, value.emplace());
        }
    }
    // A rule across fields, run as FieldReader runs it; whatever it would
    // refuse declines.
    template <class F>
    void check(F&& rule) {
        if (m_declined) return;
        static const Json k_empty = Json::object();
        Failure failure;
        Reader reader(k_empty, "", failure);
        rule(reader);
        if (failure.message) decline();
    }

private:
    void decline() { m_declined = true; }
    static bool in_range(std::uint64_t value, Range range) { return value >= range.min && value <= range.max; }
    static bool lower_hex_id(std::string_view text) {
        if (text.size() != 32) return false;
        for (const char c : text) {
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        }
        return true;
    }
    // Present and not null (what Reader::has() asks).
    bool present(std::string_view key) const {
        const FlatValue* found = m_document.member(m_object, key);
        return found != nullptr && found->kind != FlatValue::Kind::null;
    }
    // A field that must be there, of this kind.
    const FlatValue* required(std::string_view key, FlatValue::Kind kind) {
        const FlatValue* found = m_document.member(m_object, key);
        if (found == nullptr || found->kind != kind) {
            decline();
            return nullptr;
        }
        return found;
    }
    // A field that may be absent or null, else of this kind.
    const FlatValue* optional(std::string_view key, FlatValue::Kind kind) {
        const FlatValue* found = m_document.member(m_object, key);
        if (found == nullptr || found->kind == FlatValue::Kind::null) return nullptr;
        if (found->kind != kind) {
            decline();
            return nullptr;
        }
        return found;
    }

    const FlatDocument& m_document;
    const FlatValue& m_object;
    bool& m_declined;
};

}  // namespace lokt::protocol::wire
