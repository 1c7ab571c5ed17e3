// Where loktd listens, and the checks on its directory: $LOKT_SOCKET, else
// $XDG_RUNTIME_DIR/lokt/loktd.sock, else /tmp/lokt-$UID/loktd.sock. The
// directory must be a real directory (not a symlink), ours, and closed to group
// and others, because anyone who can reach the socket can take our locks.
#pragma once

#include <filesystem>

#include "result.hpp"

namespace lokt::daemon {

std::filesystem::path default_socket_path();

// Creates the directory 0700 when missing, then verifies it.
Result<void> prepare_socket_directory(const std::filesystem::path& directory);

}  // namespace lokt::daemon
