// See socket_activation.hpp.
#include "daemon/socket_activation.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>

namespace lokt::daemon {
namespace {

std::optional<long> env_number(const char* name) {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < 0) return std::nullopt;
    return value;
}

}  // namespace

std::vector<int> activated_sockets() {
    const auto pid = env_number("LISTEN_PID");
    const auto count = env_number("LISTEN_FDS");
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    std::vector<int> fds;
    if (!pid || !count || *pid != ::getpid()) return fds;
    for (long i = 0; i < *count && i < 64; ++i) {
        const int fd = k_listen_fds_start + static_cast<int>(i);
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags < 0) continue;
        ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        fds.push_back(fd);
    }
    return fds;
}

}  // namespace lokt::daemon
