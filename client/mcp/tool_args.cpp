// See tool_args.hpp.
#include "client/mcp/tool_args.hpp"

#include <nlohmann/json.hpp>

namespace lokt::client::mcp {

using Json = nlohmann::json;

struct ToolArgs::Impl {
    Json object = Json::object();
};

ToolArgs::ToolArgs(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
ToolArgs::ToolArgs(ToolArgs&&) noexcept = default;
ToolArgs& ToolArgs::operator=(ToolArgs&&) noexcept = default;
ToolArgs::~ToolArgs() = default;

Result<ToolArgs> ToolArgs::parse(std::string_view json_text) {
    auto impl = std::make_unique<Impl>();
    if (!json_text.empty()) {
        Json parsed = Json::parse(json_text, nullptr, false);
        if (parsed.is_discarded()) return make_error(ErrorCode::usage, "the arguments are not valid JSON");
        if (parsed.is_null()) parsed = Json::object();
        if (!parsed.is_object()) return make_error(ErrorCode::usage, "the arguments must be a JSON object");
        impl->object = std::move(parsed);
    }
    return ToolArgs(std::move(impl));
}

Result<void> ToolArgs::only(std::initializer_list<std::string_view> known) const {
    for (const auto& [key, value] : m_impl->object.items()) {
        bool found = false;
        for (auto name : known) found = found || key == name;
        if (!found) {
            std::string list;
            for (auto name : known) list += (list.empty() ? "" : ", ") + std::string(name);
            return make_error(ErrorCode::usage, "unknown argument \"" + key + "\" (this tool takes: " + list + ")");
        }
    }
    return {};
}

bool ToolArgs::has(std::string_view key) const { return m_impl->object.contains(std::string(key)); }

Result<std::optional<std::string>> ToolArgs::string(std::string_view key) const {
    auto it = m_impl->object.find(std::string(key));
    if (it == m_impl->object.end() || it->is_null()) return std::optional<std::string>{};
    if (!it->is_string()) return make_error(ErrorCode::usage, "\"" + std::string(key) + "\" must be a string");
    return std::optional<std::string>(it->get<std::string>());
}

Result<std::string> ToolArgs::required_string(std::string_view key) const {
    LOKT_TRY_LET(value, string(key));
    if (!*value) return make_error(ErrorCode::usage, "\"" + std::string(key) + "\" is required");
    return std::move(**value);
}

Result<std::optional<bool>> ToolArgs::boolean(std::string_view key) const {
    auto it = m_impl->object.find(std::string(key));
    if (it == m_impl->object.end() || it->is_null()) return std::optional<bool>{};
    if (!it->is_boolean()) return make_error(ErrorCode::usage, "\"" + std::string(key) + "\" must be true or false");
    return std::optional<bool>(it->get<bool>());
}

Result<std::optional<std::vector<std::string>>> ToolArgs::string_list(std::string_view key, std::size_t max_items) const {
    auto it = m_impl->object.find(std::string(key));
    if (it == m_impl->object.end() || it->is_null()) return std::optional<std::vector<std::string>>{};
    const std::string name(key);
    if (it->is_string()) return std::optional<std::vector<std::string>>(std::vector<std::string>{it->get<std::string>()});
    if (!it->is_array()) return make_error(ErrorCode::usage, "\"" + name + "\" must be an array of strings");
    if (it->empty()) return make_error(ErrorCode::usage, "\"" + name + "\" must not be empty");
    if (it->size() > max_items) {
        return make_error(ErrorCode::usage, "\"" + name + "\" has " + std::to_string(it->size()) + " items; at most " +
                                                std::to_string(max_items) + " are accepted");
    }
    std::vector<std::string> items;
    for (const auto& item : *it) {
        if (!item.is_string()) return make_error(ErrorCode::usage, "\"" + name + "\" must contain only strings");
        items.push_back(item.get<std::string>());
    }
    return std::optional<std::vector<std::string>>(std::move(items));
}

Result<std::optional<std::int64_t>> ToolArgs::integer(std::string_view key, std::int64_t min, std::int64_t max) const {
    auto it = m_impl->object.find(std::string(key));
    if (it == m_impl->object.end() || it->is_null()) return std::optional<std::int64_t>{};
    const std::string range = std::to_string(min) + " to " + std::to_string(max);
    if (!it->is_number_integer() && !it->is_number_unsigned())
        return make_error(ErrorCode::usage, "\"" + std::string(key) + "\" must be a whole number from " + range);
    const bool too_big = it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max);
    if (too_big || it->get<std::int64_t>() < min || it->get<std::int64_t>() > max)
        return make_error(ErrorCode::usage, "\"" + std::string(key) + "\" is out of range: from " + range);
    return std::optional<std::int64_t>(it->get<std::int64_t>());
}

Result<std::optional<Nanoseconds>> ToolArgs::duration(std::string_view key, Nanoseconds min, Nanoseconds max) const {
    auto it = m_impl->object.find(std::string(key));
    if (it == m_impl->object.end() || it->is_null()) return std::optional<Nanoseconds>{};
    const std::string name(key);
    Nanoseconds value{};
    if (it->is_number_integer() || it->is_number_unsigned()) {
        const auto seconds = it->get<std::int64_t>();
        if (seconds < 0 || seconds > std::chrono::duration_cast<std::chrono::seconds>(max).count())
            return make_error(ErrorCode::usage, "\"" + name + "\" is out of range: at most " + format_duration(max));
        value = std::chrono::seconds(seconds);
    } else if (it->is_string()) {
        auto parsed = parse_duration(it->get<std::string>());
        if (!parsed) return make_error(ErrorCode::usage, "\"" + name + "\": " + parsed.error().message);
        value = *parsed;
    } else {
        return make_error(ErrorCode::usage,
                          "\"" + name + "\" must be a duration such as \"30s\" or \"10m\", or a whole number of seconds");
    }
    if (value < min) return make_error(ErrorCode::usage, "\"" + name + "\" must be at least " + format_duration(min));
    if (value > max) return make_error(ErrorCode::usage, "\"" + name + "\" must be at most " + format_duration(max));
    return std::optional<Nanoseconds>(value);
}

}  // namespace lokt::client::mcp
