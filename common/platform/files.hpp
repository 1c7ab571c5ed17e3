// File system features lokt uses where the system has them: a file created
// without a name (O_TMPFILE) and given one atomically when it is complete, and
// the kind of file system a path is on. On Linux these are O_TMPFILE,
// linkat(2) through /proc/self/fd and statfs(2)'s magic numbers.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/unique_fd.hpp"

namespace lokt::platform {

struct UnnamedFile {
    UniqueFd fd;               // open for writing when created
    bool unsupported = false;  // the file system (or kernel) has no unnamed files: use a named temp file
    int error = 0;             // otherwise, why it could not be created (errno)
};

// Creates a file without a name in the directory dir_fd, with mode.
UnnamedFile create_unnamed_file(int dir_fd, mode_t mode);

// Gives an unnamed file the name name in dir_fd; fails with EEXIST when the
// name is taken. 0, or -1 with errno set, as linkat(2).
int link_unnamed_file(int fd, int dir_fd, const std::string& name);

// The file system path is on ("ext4", "tmpfs", "nfs", ..., "unknown"), or
// nullopt when it cannot be asked.
std::optional<std::string> filesystem_type(const std::filesystem::path& path);

}  // namespace lokt::platform
