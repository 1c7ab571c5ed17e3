// Who is at the other end of a Unix socket, as the kernel vouches for it: the
// daemon serves only its own user. On Linux this is SO_PEERCRED.
#pragma once

#include <sys/types.h>

#include <optional>

namespace lokt::platform {

struct PeerCredentials {
    uid_t uid = 0;
    pid_t pid = 0;
};

// The credentials of the process that connected socket; nullopt (errno set)
// when they cannot be read.
std::optional<PeerCredentials> peer_credentials(int socket);

}  // namespace lokt::platform
