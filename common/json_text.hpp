// JSON text written by hand, byte for byte as the JSON library writes it
// (compact, UTF-8 as it is, invalid UTF-8 replaced), for the lines written on
// every lock operation: an audit line built as a document and dumped cost more
// than the file work it records. Anything unusual (text that is not plain
// ASCII, an object not in the library's own compact form) is handed to the
// library, so the bytes never differ from what it would write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace lokt {

// Appends text as a JSON string literal.
void append_json_string(std::string& out, std::string_view text);
// Appends an integer as JSON writes it.
void append_json_integer(std::string& out, std::int64_t value);
void append_json_unsigned(std::string& out, std::uint64_t value);
// Is text a non-empty JSON object exactly as the library would write it
// back after reading it (compact, no repeated keys, integers only, strings
// in printable ASCII with the library's escapes)? Then it can be copied into
// a line as it is.
bool is_compact_json_object(std::string_view text);

}  // namespace lokt
