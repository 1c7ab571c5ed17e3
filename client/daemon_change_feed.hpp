// What wakes `lokt top` and `lokt status --watch` through loktd: the daemon's
// audit stream on a connection of its own. Every change to the root (a grant,
// a release, a waiter joining the queue) writes an audit line, which the daemon
// pushes at once, so nothing polls. When the daemon goes away, the feed carries
// on with the files (inotify), as the other commands do.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "client/daemon_backend.hpp"

namespace lokt::client {

// Connects to the socket again and subscribes to root's audit log. An error
// means the daemon could not be reached or refused the subscription.
Result<std::unique_ptr<ChangeFeed>> follow_daemon_changes(const std::filesystem::path& socket, const std::string& root,
                                                          std::unique_ptr<ChangeFeed> files);

}  // namespace lokt::client
