// Where loktd listens and when the socket's directory is safe to use. loktd and
// lokt must agree on both, so the rule and the check live here once.
#pragma once

#include <filesystem>

#include "common/result.hpp"

namespace lokt::protocol {

// $LOKT_SOCKET, else $XDG_RUNTIME_DIR/lokt/loktd.sock when XDG_RUNTIME_DIR is an
// absolute path, else /tmp/lokt-$EUID/loktd.sock.
std::filesystem::path default_socket_path();

// Anyone who can reach the socket can take our locks, so its directory must be
// a real directory (not a symlink), owned by the effective uid, and closed to
// group and others. A missing directory is ErrorCode::not_found ("socket
// directory DIR does not exist"); every other refusal is ErrorCode::io with a
// message that starts "socket directory DIR: " and says how to fix it.
Result<void> verify_socket_directory(const std::filesystem::path& directory);

}  // namespace lokt::protocol
