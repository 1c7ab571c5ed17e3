// A streaming JSON writer for --json output: pretty-printed with two-space
// indentation, keys in the order written, no document tree in between (status
// over 10,000 locks would otherwise spend most of its time building one).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lokt::client {

class JsonWriter {
public:
    JsonWriter() = default;
    // A writer for a piece of a document whose first `depth` containers were
    // opened by another writer; `continues` when the innermost already has
    // members. Long arrays are written in pieces on several threads this way:
    // flush_to_stdout() the main writer, write each piece's text() in order,
    // then mark_has_members() and go on.
    static JsonWriter piece(std::size_t depth, bool continues);
    // A writer of one line with no spaces, for JSON Lines output.
    static JsonWriter compact();

    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(std::string_view name);

    JsonWriter& value(std::string_view text);
    JsonWriter& value(const char* text) { return value(std::string_view(text)); }
    JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
    JsonWriter& value(std::int64_t number);
    JsonWriter& value(std::uint64_t number);
    JsonWriter& value(int number) { return value(static_cast<std::int64_t>(number)); }
    JsonWriter& value(bool flag);
    JsonWriter& null();

    // Shorthand for key(name).value(v).
    template <class T>
    JsonWriter& field(std::string_view name, const T& v) {
        key(name);
        return value(v);
    }

    // The finished text with a trailing newline.
    std::string finish();
    // The text so far, for a piece.
    std::string& text() { return m_out; }
    // Marks the innermost open container as having members (after pieces were written).
    void mark_has_members() { m_has_member.back() = true; }
    // Writes the text so far to stdout and clears it (for very long output).
    void flush_to_stdout();

private:
    void before_value();
    void newline_indent();

    std::string m_out;
    // One entry per open container: true once it has a member.
    std::vector<bool> m_has_member;
    bool m_after_key = false;
    bool m_compact = false;
};

// Where a JSON string literal goes: a JSON document, or a <script> block of an
// HTML page, where "<", ">", "&", DEL and U+2028/U+2029 are escaped as well so
// that no text can end the block or the script's line.
enum class JsonStringFor { json, html_script };

// Appends text as a JSON string literal (quotes and escapes included).
void append_json_string(std::string& out, std::string_view text, JsonStringFor place = JsonStringFor::json);

}  // namespace lokt::client
