// Lock names become file names inside the root, so they are validated before
// anything touches the disk.
#pragma once

#include <string_view>

#include "result.hpp"

namespace lokt {

inline constexpr std::size_t k_max_name_bytes = 200;

// Ok, or a usage error naming the rule the name breaks.
Result<void> validate_lock_name(std::string_view name);

}  // namespace lokt
