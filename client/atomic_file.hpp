// Writing a whole output file so that readers see the old file or the new one,
// never half of it: a temporary file next to it, then rename(2). A failure at
// any step removes the temporary file and leaves the destination as it was.
#pragma once

#include <filesystem>
#include <string_view>

#include "common/result.hpp"

namespace lokt::client {

// How long the file must last: through a crash of the machine (the written
// data reaches the disk before the rename), or only while the process that
// wrote it runs (a side file that its writer removes, and that a reader judges
// by the writer's liveness anyway: no fsync, which costs a journal commit).
enum class Durability { survives_crash, while_writer_runs };

Result<void> write_file_atomically(const std::filesystem::path& path, std::string_view content,
                                   Durability durability = Durability::survives_crash);

}  // namespace lokt::client
