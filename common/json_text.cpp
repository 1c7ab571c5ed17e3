// See json_text.hpp.
#include "common/json_text.hpp"

#include <charconv>
#include <nlohmann/json.hpp>
#include <vector>

namespace lokt {
namespace {

// Deeper than any extra object of ours nests.
constexpr int k_max_depth = 8;

const char* const k_hex = "0123456789abcdef";

// The library's escape for a byte below 0x20 ("\n", or "\u001f").
void append_control(std::string& out, char c) {
    switch (c) {
        case '\b': out += "\\b"; return;
        case '\t': out += "\\t"; return;
        case '\n': out += "\\n"; return;
        case '\f': out += "\\f"; return;
        case '\r': out += "\\r"; return;
        default: break;
    }
    const auto byte = static_cast<unsigned char>(c);
    out += "\\u00";
    out.push_back(k_hex[byte >> 4]);
    out.push_back(k_hex[byte & 0x0F]);
}

// A strict reader of the library's compact output: accepts a value only if
// reading and writing it again gives back the same bytes.
struct CompactChecker {
    const char* p;
    const char* end;

    bool string(std::string_view* out) {
        if (p == end || *p != '"') return false;
        const char* start = ++p;
        while (p < end) {
            const char c = *p;
            if (c == '"') {
                if (out != nullptr) *out = std::string_view(start, static_cast<std::size_t>(p - start));
                ++p;
                return true;
            }
            if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x80) return false;
            if (c == '\\') {
                if (++p == end) return false;
                switch (*p) {
                    case '"':
                    case '\\':
                    case 'b':
                    case 'f':
                    case 'n':
                    case 'r':
                    case 't': break;
                    case 'u': {
                        // Only the library's own \u00xx for a control byte it has no short escape for.
                        if (end - p < 5 || p[1] != '0' || p[2] != '0') return false;
                        const char high = p[3];
                        const char low = p[4];
                        if (high != '0' && high != '1') return false;
                        const bool low_hex = (low >= '0' && low <= '9') || (low >= 'a' && low <= 'f');
                        if (!low_hex) return false;
                        const int byte = (high - '0') * 16 + (low <= '9' ? low - '0' : low - 'a' + 10);
                        if (byte == '\b' || byte == '\t' || byte == '\n' || byte == '\f' || byte == '\r') return false;
                        p += 4;
                        break;
                    }
                    default: return false;
                }
            }
            ++p;
        }
        return false;
    }
    bool number() {
        const char* start = p;
        if (p < end && *p == '-') ++p;
        if (p == end || *p < '0' || *p > '9') return false;
        if (*p == '0' && (p + 1 < end && p[1] >= '0' && p[1] <= '9')) return false;
        if (*start == '-' && *p == '0') return false;  // -0 reads back as 0
        const char* digits = p;
        while (p < end && *p >= '0' && *p <= '9') ++p;
        if (p - digits > 18) return false;  // might not fit, or be read as a float
        return p == end || (*p != '.' && *p != 'e' && *p != 'E');
    }
    bool word(std::string_view w) {
        if (static_cast<std::size_t>(end - p) < w.size() || std::string_view(p, w.size()) != w) return false;
        p += w.size();
        return true;
    }
    bool value(int depth) {
        if (p == end) return false;
        switch (*p) {
            case '"': return string(nullptr);
            case 't': return word("true");
            case 'f': return word("false");
            case 'n': return word("null");
            case '{': return object(depth + 1);
            case '[': {
                if (depth + 1 > k_max_depth) return false;
                ++p;
                if (p < end && *p == ']') {
                    ++p;
                    return true;
                }
                while (true) {
                    if (!value(depth + 1) || p == end) return false;
                    if (*p == ']') {
                        ++p;
                        return true;
                    }
                    if (*p++ != ',') return false;
                }
            }
            default: return number();
        }
    }
    bool object(int depth) {
        if (depth > k_max_depth || p == end || *p != '{') return false;
        ++p;
        if (p < end && *p == '}') {
            ++p;
            return true;
        }
        std::vector<std::string_view> keys;
        while (true) {
            std::string_view key;
            if (!string(&key) || p == end || *p++ != ':') return false;
            for (const auto& seen : keys) {
                if (seen == key) return false;
            }
            keys.push_back(key);
            if (!value(depth) || p == end) return false;
            if (*p == '}') {
                ++p;
                return true;
            }
            if (*p++ != ',') return false;
        }
    }
};

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
    for (const char c : text) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            // UTF-8, valid or not: the library's own escaping and replacement.
            out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            return;
        }
    }
    out.push_back('"');
    for (const char c : text) {
        if (c == '"') {
            out += "\\\"";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (static_cast<unsigned char>(c) < 0x20) {
            append_control(out, c);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

void append_json_integer(std::string& out, std::int64_t value) {
    char digits[24];
    const auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
    out.append(digits, end);
}

void append_json_unsigned(std::string& out, std::uint64_t value) {
    char digits[24];
    const auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
    out.append(digits, end);
}

bool is_compact_json_object(std::string_view text) {
    if (text.size() < 2 || text == "{}") return false;
    CompactChecker checker{text.data(), text.data() + text.size()};
    return checker.object(1) && checker.p == checker.end;
}

}  // namespace lokt
