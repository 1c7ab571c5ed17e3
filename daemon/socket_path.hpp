// The daemon's part of the socket's directory: creating it. Where the socket
// lives and when its directory is safe are protocol/socket_location.hpp, which
// lokt checks the same way before it connects.
#pragma once

#include <filesystem>

#include "common/result.hpp"

namespace lokt::daemon {

// Creates the directory 0700 when missing, then verifies it with
// protocol::verify_socket_directory.
Result<void> prepare_socket_directory(const std::filesystem::path& directory);

}  // namespace lokt::daemon
