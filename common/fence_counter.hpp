// A name's fencing token counter: the last token granted for the name, kept
// as the contents of its mutex file (mutex/NAME.lock, outside locks/, so other
// tools never see it). Read and written only while that file is flock'd (the
// name's mutex), so every writer of the root (file-mode lokt, loktd) draws
// from one counter, and a grant's token is greater than every earlier grant's.
//
// The text is 20 decimal digits and a newline, written with one pwrite at
// offset 0: a kill leaves either the old or the new number, never a mix.
#pragma once

#include <cstdint>
#include <filesystem>

#include "common/result.hpp"

namespace lokt {

// The last token granted (0 when none yet). `fd` is the locked mutex file;
// `path` names it in errors. Text that is not a counter is ErrorCode::corrupt.
Result<std::uint64_t> read_fence(int fd, const std::filesystem::path& path);
Result<void> write_fence(int fd, const std::filesystem::path& path, std::uint64_t fence);

}  // namespace lokt
