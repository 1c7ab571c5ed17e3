// See json_writer.hpp.
#include "client/json_writer.hpp"

#include <cstdio>

namespace lokt::client {

void append_json_string(std::string& out, std::string_view text, JsonStringFor place) {
    static constexpr char k_hex[] = "0123456789abcdef";
    const bool script = place == JsonStringFor::html_script;
    out.push_back('"');
    std::size_t plain_from = 0;  // characters that need no escape are copied in runs
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        const bool special_in_script = script && (c == '<' || c == '>' || c == '&' || c == 0x7F || c == 0xE2);
        if (c != '"' && c != '\\' && c >= 0x20 && !special_in_script) continue;
        // U+2028 and U+2029 (E2 80 A8/A9) end a line in older JavaScript.
        const bool line_separator =
            c == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
            (static_cast<unsigned char>(text[i + 2]) == 0xA8 || static_cast<unsigned char>(text[i + 2]) == 0xA9);
        if (c == 0xE2 && !line_separator) continue;  // another character starting with E2: as it is
        out.append(text.substr(plain_from, i - plain_from));
        plain_from = i + 1;
        if (line_separator) {
            out += static_cast<unsigned char>(text[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
            i += 2;
            plain_from = i + 1;
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                out += "\\u00";
                out.push_back(k_hex[(c >> 4) & 0xf]);
                out.push_back(k_hex[c & 0xf]);
        }
    }
    out.append(text.substr(plain_from));
    out.push_back('"');
}

JsonWriter JsonWriter::piece(std::size_t depth, bool continues) {
    JsonWriter writer;
    writer.m_has_member.assign(depth, true);
    if (depth > 0) writer.m_has_member.back() = continues;
    return writer;
}

JsonWriter JsonWriter::compact() {
    JsonWriter writer;
    writer.m_compact = true;
    return writer;
}

void JsonWriter::newline_indent() {
    if (m_compact) return;
    m_out.push_back('\n');
    m_out.append(2 * m_has_member.size(), ' ');
}

void JsonWriter::before_value() {
    if (m_after_key) {
        m_after_key = false;
        return;
    }
    if (!m_has_member.empty()) {
        if (m_has_member.back()) m_out.push_back(',');
        m_has_member.back() = true;
        newline_indent();
    }
}

JsonWriter& JsonWriter::key(std::string_view name) {
    if (m_has_member.back()) m_out.push_back(',');
    m_has_member.back() = true;
    newline_indent();
    append_json_string(m_out, name);
    m_out += m_compact ? ":" : ": ";
    m_after_key = true;
    return *this;
}

JsonWriter& JsonWriter::begin_object() {
    before_value();
    m_out.push_back('{');
    m_has_member.push_back(false);
    return *this;
}

JsonWriter& JsonWriter::end_object() {
    const bool had = m_has_member.back();
    m_has_member.pop_back();
    if (had) newline_indent();
    m_out.push_back('}');
    return *this;
}

JsonWriter& JsonWriter::begin_array() {
    before_value();
    m_out.push_back('[');
    m_has_member.push_back(false);
    return *this;
}

JsonWriter& JsonWriter::end_array() {
    const bool had = m_has_member.back();
    m_has_member.pop_back();
    if (had) newline_indent();
    m_out.push_back(']');
    return *this;
}

JsonWriter& JsonWriter::value(std::string_view text) {
    before_value();
    append_json_string(m_out, text);
    return *this;
}

JsonWriter& JsonWriter::value(std::int64_t number) {
    before_value();
    m_out += std::to_string(number);
    return *this;
}

JsonWriter& JsonWriter::value(std::uint64_t number) {
    before_value();
    m_out += std::to_string(number);
    return *this;
}

JsonWriter& JsonWriter::value(bool flag) {
    before_value();
    m_out += flag ? "true" : "false";
    return *this;
}

JsonWriter& JsonWriter::null() {
    before_value();
    m_out += "null";
    return *this;
}

std::string JsonWriter::finish() {
    m_out.push_back('\n');
    return std::move(m_out);
}

void JsonWriter::flush_to_stdout() {
    std::fwrite(m_out.data(), 1, m_out.size(), stdout);
    m_out.clear();
}

}  // namespace lokt::client
