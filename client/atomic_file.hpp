// Writing a whole output file so that readers see the old file or the new one,
// never half of it: a temporary file next to it, then rename(2). A failure at
// any step removes the temporary file and leaves the destination as it was.
#pragma once

#include <filesystem>
#include <string_view>

#include "common/result.hpp"

namespace lokt::client {

Result<void> write_file_atomically(const std::filesystem::path& path, std::string_view content);

}  // namespace lokt::client
