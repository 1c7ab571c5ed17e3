// See file_owner.hpp.
#include "common/file_owner.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/sys_error.hpp"

namespace lokt {

std::optional<FileOwner> owner_to_hand_over(const std::filesystem::path& root) {
    if (::geteuid() != 0) return std::nullopt;
    std::filesystem::path dir = root.empty() ? std::filesystem::path(".") : root;
    struct stat info {};
    while (::stat(dir.c_str(), &info) != 0) {
        if (errno != ENOENT) return std::nullopt;
        std::filesystem::path parent = dir.parent_path();
        if (parent.empty()) parent = ".";
        if (parent == dir) return std::nullopt;
        dir = std::move(parent);
    }
    if (info.st_uid == 0) return std::nullopt;
    return FileOwner{info.st_uid, info.st_gid};
}

Result<void> hand_over(int fd, const std::optional<FileOwner>& owner, const std::filesystem::path& path) {
    if (!owner) return {};
    if (::fchown(fd, owner->uid, owner->gid) != 0) return sys_error("cannot give to its root's owner", path.string(), errno);
    return {};
}

Result<void> hand_over(const std::filesystem::path& path, const std::optional<FileOwner>& owner) {
    if (!owner) return {};
    if (::fchownat(AT_FDCWD, path.c_str(), owner->uid, owner->gid, AT_SYMLINK_NOFOLLOW) != 0) {
        return sys_error("cannot give to its root's owner", path.string(), errno);
    }
    return {};
}

}  // namespace lokt
