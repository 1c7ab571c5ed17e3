// See socket_path.hpp.
#include "daemon/socket_path.hpp"

#include <sys/stat.h>

#include <cerrno>

#include "protocol/socket_location.hpp"
#include "common/sys_error.hpp"

namespace lokt::daemon {

Result<void> prepare_socket_directory(const std::filesystem::path& directory) {
    if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) {
        return sys_error("cannot create socket directory", directory.string(), errno);
    }
    return protocol::verify_socket_directory(directory);
}

}  // namespace lokt::daemon
