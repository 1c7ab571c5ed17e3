// See socket_location.hpp.
#include "protocol/socket_location.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/sys_error.hpp"

namespace lokt::protocol {

std::filesystem::path default_socket_path() {
    if (const char* socket = std::getenv("LOKT_SOCKET"); socket != nullptr && *socket != '\0') return socket;
    if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime == '/') {
        return std::filesystem::path(runtime) / "lokt" / "loktd.sock";
    }
    return std::filesystem::path("/tmp") / ("lokt-" + std::to_string(::geteuid())) / "loktd.sock";
}

Result<void> verify_socket_directory(const std::filesystem::path& directory) {
    const std::string prefix = "socket directory " + directory.string() + ": ";
    struct stat info {};
    if (::lstat(directory.c_str(), &info) != 0) {
        const int error = errno;
        if (error == ENOENT || error == ENOTDIR) {
            return make_error(ErrorCode::not_found, "socket directory " + directory.string() + " does not exist");
        }
        return make_error(ErrorCode::io, prefix + "cannot inspect it: " + errno_text(error));
    }
    if (S_ISLNK(info.st_mode)) {
        return make_error(ErrorCode::io, prefix + "is a symbolic link; it must be a real directory");
    }
    if (!S_ISDIR(info.st_mode)) return make_error(ErrorCode::io, prefix + "is not a directory");
    if (info.st_uid != ::geteuid()) {
        return make_error(ErrorCode::io, prefix + "belongs to uid " + std::to_string(info.st_uid) + ", not to us (uid " +
                                             std::to_string(::geteuid()) + ")");
    }
    if ((info.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
        return make_error(ErrorCode::io,
                          prefix + "has mode " + mode + "; it must be 0700 (chmod 700 " + directory.string() + ")");
    }
    return {};
}

}  // namespace lokt::protocol
