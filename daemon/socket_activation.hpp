// Listening sockets handed over by systemd socket activation (LISTEN_FDS and
// LISTEN_PID, sd_listen_fds(3)), read without linking libsystemd.
#pragma once

#include <vector>

namespace lokt::daemon {

inline constexpr int k_listen_fds_start = 3;

// The passed file descriptors (close-on-exec set), or none when the variables
// are absent or meant for another process. The variables are removed so that
// children never see them.
std::vector<int> activated_sockets();

}  // namespace lokt::daemon
