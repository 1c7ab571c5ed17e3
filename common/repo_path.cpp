// See repo_path.hpp.
#include "common/repo_path.hpp"

#include <sys/stat.h>

#include "common/path_glob.hpp"

namespace lokt {
namespace {

namespace fs = std::filesystem;

bool holds_git_entry(const fs::path& directory) {
    struct stat info {};
    return ::lstat((directory / ".git").c_str(), &info) == 0;
}

// relative below top, normalized; nullopt when not below it (or top itself).
std::optional<std::string> below(const fs::path& file, const fs::path& top) {
    const fs::path relative = file.lexically_relative(top);
    if (relative.empty() || relative == "." || *relative.begin() == "..") return std::nullopt;
    auto normal = normalize_repo_path(relative.generic_string());
    if (!normal) return std::nullopt;
    return *normal;
}

}  // namespace

std::optional<std::string> repository_path_of(const fs::path& file, const fs::path& base) {
    const fs::path absolute = (file.is_absolute() ? file : base / file).lexically_normal();
    for (fs::path dir = absolute;; dir = dir.parent_path()) {
        if (holds_git_entry(dir)) return below(absolute, dir);
        if (dir == dir.root_path() || dir.empty()) break;
    }
    return below(absolute, base.lexically_normal());
}

}  // namespace lokt
