// A cursor over one line of compact JSON as lokt writes it (no whitespace, no
// escapes, integer numbers): the audit readers pick such lines apart in place,
// without building a document, and hand anything else to the full parser.
// Every method returns false on what it does not know, which is the caller's
// signal to fall back; so the fast path never decides differently from the
// full parser, it only declines.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace lokt {

struct JsonLineCursor {
    const char* p;
    const char* end;

    explicit JsonLineCursor(std::string_view text) : p(text.data()), end(text.data() + text.size()) {}

    bool at_end() const { return p == end; }
    bool eat(char c) {
        if (p == end || *p != c) return false;
        ++p;
        return true;
    }
    bool peek(char c) const { return p < end && *p == c; }
    // A string without escapes, returned in place.
    bool string(std::string_view& out) {
        if (!eat('"')) return false;
        const char* start = p;
        const void* quote = std::memchr(p, '"', static_cast<std::size_t>(end - p));
        if (quote == nullptr) return false;
        const char* stop = static_cast<const char*>(quote);
        if (std::memchr(start, '\\', static_cast<std::size_t>(stop - start)) != nullptr) return false;
        out = std::string_view(start, static_cast<std::size_t>(stop - start));
        p = stop + 1;
        return true;
    }
    bool integer(std::int64_t& out) {
        auto [next, error] = std::from_chars(p, end, out);
        if (error != std::errc() || (next < end && (*next == '.' || *next == 'e' || *next == 'E'))) return false;
        p = next;
        return true;
    }
    bool word(std::string_view w) {
        if (static_cast<std::size_t>(end - p) < w.size() || std::string_view(p, w.size()) != w) return false;
        p += w.size();
        return true;
    }
};

enum class JsonKind { string, integer, boolean, null, object, array, other };

inline JsonKind json_kind_at(const JsonLineCursor& c) {
    if (c.p == c.end) return JsonKind::other;
    switch (*c.p) {
        case '"': return JsonKind::string;
        case 't':
        case 'f': return JsonKind::boolean;
        case 'n': return JsonKind::null;
        case '{': return JsonKind::object;
        case '[': return JsonKind::array;
        default: return *c.p == '-' || (*c.p >= '0' && *c.p <= '9') ? JsonKind::integer : JsonKind::other;
    }
}

// Steps over one value of any kind, nested objects and arrays included (to a
// depth that no line of ours reaches).
inline bool skip_json_value(JsonLineCursor& c, int depth = 0) {
    std::string_view text;
    std::int64_t number = 0;
    switch (json_kind_at(c)) {
        case JsonKind::string: return c.string(text);
        case JsonKind::integer: return c.integer(number);
        case JsonKind::boolean: return c.word("true") || c.word("false");
        case JsonKind::null: return c.word("null");
        case JsonKind::object:
            if (depth > 8 || !c.eat('{')) return false;
            if (c.eat('}')) return true;
            do {
                if (!c.string(text) || !c.eat(':') || !skip_json_value(c, depth + 1)) return false;
            } while (c.eat(','));
            return c.eat('}');
        case JsonKind::array:
            if (depth > 8 || !c.eat('[')) return false;
            if (c.eat(']')) return true;
            do {
                if (!skip_json_value(c, depth + 1)) return false;
            } while (c.eat(','));
            return c.eat(']');
        default: return false;
    }
}

}  // namespace lokt
