// See lock_root.hpp.
#include "common/lock_root.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/unique_fd.hpp"

namespace lokt {
namespace fs = std::filesystem;
namespace {

// Reads a small text file's first line; nullopt when it cannot be read.
std::optional<std::string> read_first_line(const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) return std::nullopt;
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
    char buffer[4096];
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got <= 0) return std::nullopt;
    std::string text(buffer, static_cast<std::size_t>(got));
    if (const auto end = text.find_first_of("\r\n"); end != std::string::npos) text.resize(end);
    return text;
}

bool is_real_directory(const fs::path& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool exists_no_follow(const fs::path& path, struct stat& info) { return ::stat(path.c_str(), &info) == 0; }

// A worktree's git dir names the shared one in "commondir" (relative to itself).
fs::path resolve_common_dir(const fs::path& git_dir) {
    if (auto common = read_first_line(git_dir / "commondir"); common && !common->empty()) {
        fs::path target(*common);
        if (target.is_relative()) target = git_dir / target;
        return target.lexically_normal();
    }
    return git_dir;
}

}  // namespace

std::string_view to_string(RootSource source) {
    switch (source) {
        case RootSource::environment: return "LOKT_ROOT";
        case RootSource::git: return "git";
        case RootSource::working_directory: return "working directory";
    }
    return "unknown";
}

std::optional<fs::path> find_git_common_dir(const fs::path& working_directory) {
    for (fs::path dir = working_directory;; dir = dir.parent_path()) {
        const fs::path dot_git = dir / ".git";
        struct stat info {};
        if (exists_no_follow(dot_git, info)) {
            if (S_ISDIR(info.st_mode)) return resolve_common_dir(dot_git.lexically_normal());
            if (S_ISREG(info.st_mode)) {
                // A worktree or submodule: ".git" is a file "gitdir: <path>".
                auto line = read_first_line(dot_git);
                constexpr std::string_view prefix = "gitdir:";
                if (line && line->starts_with(prefix)) {
                    std::string target = line->substr(prefix.size());
                    while (!target.empty() && target.front() == ' ') target.erase(0, 1);
                    fs::path git_dir(target);
                    if (git_dir.is_relative()) git_dir = dir / git_dir;
                    git_dir = git_dir.lexically_normal();
                    if (is_real_directory(git_dir)) return resolve_common_dir(git_dir);
                }
            }
        }
        if (dir == dir.root_path() || dir.empty()) return std::nullopt;
    }
}

Result<LockRoot> discover_lock_root(const fs::path& working_directory, const char* env_root) {
    if (env_root != nullptr && *env_root != '\0') {
        fs::path root(env_root);
        if (root.is_relative()) root = working_directory / root;
        return LockRoot{root.lexically_normal(), RootSource::environment};
    }
    if (auto common = find_git_common_dir(working_directory)) {
        fs::path root = *common / "lokt";
        if (root.is_relative()) root = working_directory / root;
        return LockRoot{root.lexically_normal(), RootSource::git};
    }
    return LockRoot{(working_directory / ".lokt").lexically_normal(), RootSource::working_directory};
}

}  // namespace lokt
