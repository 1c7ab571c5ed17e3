// See flat_json.hpp.
#include "protocol/flat_json.hpp"

#include <charconv>
#include <cstring>

namespace lokt::protocol::wire {
namespace {

// Deeper than any request of ours nests.
constexpr int k_max_depth = 4;

}  // namespace

bool FlatDocument::parse(std::string_view line) {
    m_values.clear();
    m_values.reserve(24);
    m_p = line.data();
    m_end = line.data() + line.size();
    if (m_p == m_end || *m_p != '{') return false;
    std::size_t top = 0;
    return parse_value(top, 0) && m_p == m_end;
}

const FlatValue* FlatDocument::member(const FlatValue& object, std::string_view key) const {
    for (const FlatMember& entry : object.members) {
        if (entry.key == key) return &m_values[entry.value];
    }
    return nullptr;
}

bool FlatDocument::parse_string(std::string_view& out) {
    if (m_p == m_end || *m_p != '"') return false;
    const char* start = ++m_p;
    // Printable ASCII only: no escapes, control characters or UTF-8 to check.
    while (m_p < m_end) {
        const char c = *m_p;
        if (c == '"') {
            out = std::string_view(start, static_cast<std::size_t>(m_p - start));
            ++m_p;
            return true;
        }
        if (c == '\\' || c < 0x20 || c > 0x7E) return false;
        ++m_p;
    }
    return false;
}

bool FlatDocument::parse_number(std::uint64_t& out) {
    // Unsigned integers without a leading zero (the full parser refuses those)
    // that fit 64 bits; a sign, a fraction or an exponent declines.
    if (m_p == m_end || *m_p < '0' || *m_p > '9') return false;
    if (*m_p == '0' && m_p + 1 < m_end && m_p[1] >= '0' && m_p[1] <= '9') return false;
    const auto [next, error] = std::from_chars(m_p, m_end, out);
    if (error != std::errc()) return false;
    if (next < m_end && (*next == '.' || *next == 'e' || *next == 'E')) return false;
    m_p = next;
    return true;
}

bool FlatDocument::parse_word(std::string_view word) {
    if (static_cast<std::size_t>(m_end - m_p) < word.size() || std::memcmp(m_p, word.data(), word.size()) != 0) return false;
    m_p += word.size();
    return true;
}

bool FlatDocument::parse_value(std::size_t& index, int depth) {
    if (m_p == m_end) return false;
    index = m_values.size();
    m_values.emplace_back();
    switch (*m_p) {
        case '"': {
            std::string_view text;
            if (!parse_string(text)) return false;
            m_values[index].kind = FlatValue::Kind::string;
            m_values[index].text = text;
            return true;
        }
        case 't':
        case 'f': {
            const bool value = *m_p == 't';
            if (!parse_word(value ? "true" : "false")) return false;
            m_values[index].kind = FlatValue::Kind::boolean;
            m_values[index].boolean = value;
            return true;
        }
        case 'n': m_values[index].kind = FlatValue::Kind::null; return parse_word("null");
        case '{': {
            if (depth >= k_max_depth) return false;
            ++m_p;
            m_values[index].kind = FlatValue::Kind::object;
            std::vector<FlatMember> members;
            if (m_p < m_end && *m_p == '}') {
                ++m_p;
                return true;
            }
            while (true) {
                FlatMember entry;
                if (!parse_string(entry.key) || m_p == m_end || *m_p++ != ':') return false;
                // A repeated key: which one counts is the full parser's business.
                for (const FlatMember& seen : members) {
                    if (seen.key == entry.key) return false;
                }
                if (!parse_value(entry.value, depth + 1)) return false;
                members.push_back(entry);
                if (m_p == m_end) return false;
                if (*m_p == ',') {
                    ++m_p;
                    continue;
                }
                if (*m_p++ != '}') return false;
                break;
            }
            m_values[index].members = std::move(members);
            return true;
        }
        case '[': {
            if (depth >= k_max_depth) return false;
            ++m_p;
            m_values[index].kind = FlatValue::Kind::array;
            std::vector<std::size_t> items;
            if (m_p < m_end && *m_p == ']') {
                ++m_p;
                return true;
            }
            while (true) {
                std::size_t item = 0;
                if (!parse_value(item, depth + 1)) return false;
                items.push_back(item);
                if (m_p == m_end) return false;
                if (*m_p == ',') {
                    ++m_p;
                    continue;
                }
                if (*m_p++ != ']') return false;
                break;
            }
            m_values[index].items = std::move(items);
            return true;
        }
        default: {
            std::uint64_t number = 0;
            if (!parse_number(number)) return false;
            m_values[index].kind = FlatValue::Kind::number;
            m_values[index].number = number;
            return true;
        }
    }
}

}  // namespace lokt::protocol::wire
