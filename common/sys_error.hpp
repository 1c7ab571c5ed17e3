// Turns a failed system call into an Error that says what was being done, to
// which path, and why: "cannot create .git/lokt/locks/build.json: No space left on device".
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace lokt {

std::string errno_text(int error_number);
Error sys_error(std::string_view action, std::string_view path, int error_number);

}  // namespace lokt
