// See lock_name.hpp. The rule is SPEC.md's: ^[A-Za-z0-9._-]+$, no "..", at most 200 bytes.
#include "common/lock_name.hpp"

#include <string>

namespace lokt {

Result<void> validate_lock_name(std::string_view name) {
    if (name.empty()) return make_error(ErrorCode::usage, "invalid lock name: the name is empty");
    if (name.size() > k_max_name_bytes) {
        return make_error(ErrorCode::usage, "invalid lock name: " + std::to_string(name.size()) +
                                                " bytes is longer than the limit of " + std::to_string(k_max_name_bytes));
    }
    for (char c : name) {
        const bool allowed =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!allowed) {
            return make_error(ErrorCode::usage, "invalid lock name \"" + std::string(name) +
                                                    "\": only letters, digits, '.', '_' and '-' are allowed");
        }
    }
    if (name.find("..") != std::string_view::npos) {
        return make_error(ErrorCode::usage, "invalid lock name \"" + std::string(name) + "\": it must not contain \"..\"");
    }
    return {};
}

std::optional<std::string> lock_name_from_file(std::string_view file) {
    constexpr std::string_view suffix = ".json";
    if (!file.ends_with(suffix)) return std::nullopt;
    file.remove_suffix(suffix.size());
    if (!validate_lock_name(file)) return std::nullopt;
    return std::string(file);
}

}  // namespace lokt
