// See files.hpp: the Linux implementation.
#include <fcntl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/platform/files.hpp"

namespace lokt::platform {
namespace {

std::string filesystem_name(long type) {
    switch (static_cast<unsigned long>(type)) {
        case 0xEF53: return "ext4";
        case 0x01021994: return "tmpfs";
        case 0x58465342: return "xfs";
        case 0x9123683E: return "btrfs";
        case 0x794C7630: return "overlayfs";
        case 0x6969: return "nfs";
        case 0xFF534D42: return "cifs";
        case 0x517B: return "smb";
        case 0x65735546: return "fuse";
        case 0x2FC12FC1: return "zfs";
        default: return "unknown";
    }
}

}  // namespace

UnnamedFile create_unnamed_file(int dir_fd, mode_t mode) {
    UnnamedFile file;
    file.fd.reset(::openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode));
    if (file.fd) return file;
    file.error = errno;
    // What a kernel or file system without O_TMPFILE answers.
    file.unsupported = file.error == EOPNOTSUPP || file.error == EISDIR || file.error == EINVAL || file.error == ENOENT;
    return file;
}

int link_unnamed_file(int fd, int dir_fd, const std::string& name) {
    char proc_path[64];
    std::snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
    return ::linkat(AT_FDCWD, proc_path, dir_fd, name.c_str(), AT_SYMLINK_FOLLOW);
}

std::optional<std::string> filesystem_type(const std::filesystem::path& path) {
    struct statfs fs {};
    if (::statfs(path.c_str(), &fs) != 0) return std::nullopt;
    return filesystem_name(fs.f_type);
}

}  // namespace lokt::platform
