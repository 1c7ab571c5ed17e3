// Finds the directory that holds a repository's locks: $LOKT_ROOT, else the git
// common dir + "/lokt" (so every worktree shares one namespace), else ./.lokt.
// git is never spawned: the .git file/dir and "commondir" are read directly.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace lokt {

enum class RootSource { environment, git, working_directory };

struct LockRoot {
    std::filesystem::path path;  // absolute, lexically normal
    RootSource source;
};

std::string_view to_string(RootSource source);

// env_root is $LOKT_ROOT (nullptr or empty when unset).
Result<LockRoot> discover_lock_root(const std::filesystem::path& working_directory, const char* env_root);

// The git common directory for a working directory, if it is inside a repository.
std::optional<std::filesystem::path> find_git_common_dir(const std::filesystem::path& working_directory);

}  // namespace lokt
