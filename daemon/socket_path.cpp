// See socket_path.hpp.
#include "socket_path.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "sys_error.hpp"

namespace lokt::daemon {

std::filesystem::path default_socket_path() {
    if (const char* socket = std::getenv("LOKT_SOCKET"); socket != nullptr && *socket != '\0') return socket;
    if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime == '/') {
        return std::filesystem::path(runtime) / "lokt" / "loktd.sock";
    }
    return std::filesystem::path("/tmp") / ("lokt-" + std::to_string(::geteuid())) / "loktd.sock";
}

Result<void> prepare_socket_directory(const std::filesystem::path& directory) {
    if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) {
        return sys_error("cannot create socket directory", directory.string(), errno);
    }
    struct stat info {};
    if (::lstat(directory.c_str(), &info) != 0) return sys_error("cannot inspect", directory.string(), errno);
    if (!S_ISDIR(info.st_mode)) {
        return make_error(ErrorCode::io, "socket directory " + directory.string() + " is not a directory");
    }
    if (info.st_uid != ::geteuid()) {
        return make_error(ErrorCode::io, "socket directory " + directory.string() + " belongs to uid " +
                                             std::to_string(info.st_uid) + ", not to us");
    }
    if ((info.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
        return make_error(ErrorCode::io, "socket directory " + directory.string() + " has mode " + mode +
                                             "; it must be 0700 (chmod 700 " + directory.string() + ")");
    }
    return {};
}

}  // namespace lokt::daemon
