// Lock names become file names inside the root, so they are validated before
// anything touches the disk.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace lokt {

inline constexpr std::size_t k_max_name_bytes = 200;

// Ok, or a usage error naming the rule the name breaks.
Result<void> validate_lock_name(std::string_view name);

// "NAME.json" -> "NAME" when NAME is a valid lock name, else nullopt. Temp files
// (".NAME.PID.N.tmp") and stray files are not locks; names that begin with '.'
// are, like any other valid name.
std::optional<std::string> lock_name_from_file(std::string_view file);

}  // namespace lokt
