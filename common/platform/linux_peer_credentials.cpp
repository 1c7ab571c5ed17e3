// See peer_credentials.hpp: the Linux implementation, on SO_PEERCRED.
#include <sys/socket.h>

#include "common/platform/peer_credentials.hpp"

namespace lokt::platform {

std::optional<PeerCredentials> peer_credentials(int socket) {
    struct ucred cred {};
    socklen_t length = sizeof cred;
    if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return std::nullopt;
    return PeerCredentials{cred.uid, cred.pid};
}

}  // namespace lokt::platform
