// Which repository path a file is, for reservations: globs are written
// relative to the top of a work tree ("src/auth/**"), while agents and hooks
// name files by absolute path or relative to their current directory, often
// in one of several worktrees of one repository (which share one lock root).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace lokt {

// The path of file relative to the top of the work tree that contains it:
// the nearest directory at or above it (lexically, symlinks not followed)
// holding a ".git" entry. Outside every work tree, the path relative to
// base when it lies under base. nullopt when it is neither, or when it is
// the top itself. A relative file is taken relative to base.
std::optional<std::string> repository_path_of(const std::filesystem::path& file, const std::filesystem::path& base);

}  // namespace lokt
