// See json_reader.hpp.
#include "protocol/json_reader.hpp"

namespace lokt::protocol::wire {
namespace {

// PATH_MAX on Linux.
constexpr std::size_t k_max_root_bytes = 4096;
// How much of a bad value an error message quotes.
constexpr std::size_t k_max_quoted_bytes = 64;
constexpr std::size_t k_max_parse_error_bytes = 200;

// At most `limit` bytes of `text`, cut at a UTF-8 character boundary.
std::string truncated(std::string_view text, std::size_t limit) {
    if (text.size() <= limit) return std::string(text);
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) --cut;
    return std::string(text.substr(0, cut)) + "...";
}

// `text` with each invalid UTF-8 sequence replaced by U+FFFD, so that an error
// message quoting raw input survives being sent as JSON unchanged.
std::string valid_utf8(std::string_view text) { return Json::parse(dump(Json(std::string(text)))).get<std::string>(); }

bool is_lower_hex_id(std::string_view text) {
    if (text.size() != 32) return false;
    for (const char c : text) {
        const bool digit = c >= '0' && c <= '9';
        const bool lower = c >= 'a' && c <= 'f';
        if (!digit && !lower) return false;
    }
    return true;
}

std::string indexed(std::string_view key, std::size_t index) { return std::string(key) + "[" + std::to_string(index) + "]"; }

}  // namespace

std::string dump(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string dump_line(const Json& value) {
    std::string line = dump(value);
    line.push_back('\n');
    return line;
}

std::string quote_text(std::string_view text) {
    if (text.size() <= k_max_quoted_bytes) return dump(Json(std::string(text)));
    std::string cut = truncated(text, k_max_quoted_bytes);
    cut.resize(cut.size() - 3);  // truncated() appended "..."
    return dump(Json(cut)) + "...";
}

std::string describe(const Json& value) {
    if (value.is_object()) return "an object";
    if (value.is_array()) return "an array";
    if (value.is_string()) return quote_text(value.get_ref<const std::string&>());
    return truncated(dump(value), k_max_quoted_bytes);
}

std::string Reader::path_of(std::string_view key) const {
    return m_path.empty() ? std::string(key) : m_path + "." + std::string(key);
}

void Reader::fail_field(std::string_view key, std::string_view problem) {
    fail("field \"" + path_of(key) + "\" " + std::string(problem));
}

void Reader::fail_missing(std::string_view key, std::string_view why) {
    std::string message = "missing field \"" + path_of(key) + "\"";
    if (!why.empty()) message += " (" + std::string(why) + ")";
    fail(std::move(message));
}

std::string Reader::string(std::string_view key) {
    const Json* value = find_required(key, "a string");
    if (value == nullptr) return {};
    return as_string(key, *value);
}

std::string Reader::optional_string(std::string_view key) {
    const Json* value = find(key);
    if (value == nullptr) return {};
    return as_string(key, *value);
}

std::string Reader::nonempty_string(std::string_view key) {
    std::string text = string(key);
    if (!failed() && text.empty()) fail_field(key, "must not be empty");
    return text;
}

bool Reader::boolean(std::string_view key) {
    const Json* value = find(key);
    if (value == nullptr) return false;
    if (!value->is_boolean()) {
        fail_field(key, "must be true or false, got " + describe(*value));
        return false;
    }
    return value->get<bool>();
}

std::uint64_t Reader::unsigned_integer(std::string_view key, std::uint64_t min, std::uint64_t max) {
    const Json* value = find_required(key, "an integer");
    if (value == nullptr) return 0;
    return as_unsigned(key, *value, min, max);
}

std::optional<std::uint64_t> Reader::optional_unsigned(std::string_view key, std::uint64_t min, std::uint64_t max) {
    const Json* value = find(key);
    if (value == nullptr) return std::nullopt;
    return as_unsigned(key, *value, min, max);
}

std::int64_t Reader::signed_integer(std::string_view key) {
    const Json* value = find_required(key, "an integer");
    if (value == nullptr) return 0;
    const bool fits = value->is_number_integer() && (!value->is_number_unsigned() || value->get<std::uint64_t>() <= k_max_i64);
    if (!fits) {
        fail_field(key, "must be a 64-bit integer, got " + describe(*value));
        return 0;
    }
    return value->get<std::int64_t>();
}

std::string Reader::root() {
    std::string path = string("root");
    if (failed()) return path;
    if (path.empty() || path.front() != '/') {
        fail_field("root", "must be an absolute path, got " + quote_text(path));
    } else if (path.find('\0') != std::string::npos) {
        fail_field("root", "must not contain a NUL byte");
    } else if (path.size() > k_max_root_bytes) {
        fail_field("root", "must be at most " + std::to_string(k_max_root_bytes) + " bytes long");
    }
    return path;
}

std::string Reader::lock_id(std::string_view key, bool required) {
    std::string id = required ? string(key) : optional_string(key);
    if (failed() || (!required && !has(key))) return id;
    if (!is_lower_hex_id(id)) fail_field(key, "must be 32 lowercase hex digits, got " + quote_text(id));
    return id;
}

std::vector<std::string> Reader::strings(std::string_view key) {
    std::vector<std::string> out;
    const Json* value = find(key);
    if (value == nullptr) return out;
    if (!value->is_array()) {
        fail_field(key, "must be an array of strings, got " + describe(*value));
        return out;
    }
    for (std::size_t i = 0; i < value->size(); ++i) {
        const Json& item = (*value)[i];
        if (!item.is_string()) {
            fail_field(indexed(key, i), "must be a string, got " + describe(item));
            return out;
        }
        out.push_back(item.get<std::string>());
    }
    return out;
}

std::optional<Reader> Reader::object(std::string_view key, bool required) {
    const Json* value = required ? find_required(key, "an object") : find(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_object()) {
        fail_field(key, "must be an object, got " + describe(*value));
        return std::nullopt;
    }
    return Reader(*value, path_of(key), m_failure);
}

std::vector<Reader> Reader::objects(std::string_view key) {
    std::vector<Reader> out;
    const Json* value = find(key);
    if (value == nullptr) return out;
    if (!value->is_array()) {
        fail_field(key, "must be an array of objects, got " + describe(*value));
        return out;
    }
    for (std::size_t i = 0; i < value->size(); ++i) {
        const Json& item = (*value)[i];
        const std::string item_path = path_of(indexed(key, i));
        if (!item.is_object()) {
            fail("field \"" + item_path + "\" must be an object, got " + describe(item));
            return {};
        }
        out.emplace_back(item, item_path, m_failure);
    }
    return out;
}

const Json* Reader::find(std::string_view key) const {
    const auto it = m_object.find(key);
    if (it == m_object.end() || it->is_null()) return nullptr;
    return &*it;
}

const Json* Reader::find_required(std::string_view key, std::string_view kind) {
    const auto it = m_object.find(key);
    if (it == m_object.end()) {
        fail_missing(key);
        return nullptr;
    }
    if (it->is_null()) {
        fail_field(key, "must be " + std::string(kind) + ", got null");
        return nullptr;
    }
    return &*it;
}

std::string Reader::as_string(std::string_view key, const Json& value) {
    if (!value.is_string()) {
        fail_field(key, "must be a string, got " + describe(value));
        return {};
    }
    return value.get<std::string>();
}

std::uint64_t Reader::as_unsigned(std::string_view key, const Json& value, std::uint64_t min, std::uint64_t max) {
    if (!value.is_number_unsigned() || value.get<std::uint64_t>() < min || value.get<std::uint64_t>() > max) {
        std::string range;
        if (max == k_max_u64) {
            range = "an integer of at least " + std::to_string(min);
        } else {
            range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
        }
        fail_field(key, "must be " + range + ", got " + describe(value));
        return 0;
    }
    return value.get<std::uint64_t>();
}

std::optional<Json> parse_object(std::string_view line, Failure& failure) {
    Json value;
    try {
        value = Json::parse(line.begin(), line.end());
    } catch (const Json::exception& error) {
        // parse_error, or out_of_range for a number such as 1e400.
        std::string_view text = error.what();
        // Drop nlohmann's "[json.exception.parse_error.101] " tag.
        if (const auto tag_end = text.find("] "); !text.empty() && text.front() == '[' && tag_end != text.npos) {
            text.remove_prefix(tag_end + 2);
        }
        // nlohmann quotes the bytes it stopped at, which may not be UTF-8.
        failure.set("not valid JSON: " + valid_utf8(truncated(text, k_max_parse_error_bytes)));
        return std::nullopt;
    }
    if (!value.is_object()) {
        failure.set("a message must be a JSON object, got " + describe(value));
        return std::nullopt;
    }
    return value;
}

}  // namespace lokt::protocol::wire
