// See reservation_wait.hpp.
#include "common/reservation_wait.hpp"

#include <poll.h>

#include <cerrno>
#include <limits>

#include <set>

#include "common/platform/processes.hpp"
#include "common/unique_fd.hpp"

namespace lokt {

void await_reservation_change(ReservationBook& book, int feed, const std::vector<ReservationConflict>& conflicts,
                              const std::string& this_host, int wait_ms) {
    std::vector<UniqueFd> watched;
    std::set<pid_t> seen;
    for (const auto& conflict : conflicts) {
        const LockRecord& holder = conflict.blocker.holder;
        if (holder.host != this_host || holder.pid <= 0 || holder.pid > std::numeric_limits<pid_t>::max()) continue;
        const auto pid = static_cast<pid_t>(holder.pid);
        if (!seen.insert(pid).second) continue;
        UniqueFd pidfd(platform::open_pidfd(pid));
        if (pidfd) {
            watched.push_back(std::move(pidfd));
        } else if (errno == ESRCH) {
            return;  // gone already: look again at once
        }
    }
    std::vector<struct pollfd> fds;
    if (feed >= 0) fds.push_back({feed, POLLIN, 0});
    for (const auto& fd : watched) fds.push_back({fd.get(), POLLIN, 0});
    if (::poll(fds.empty() ? nullptr : fds.data(), fds.size(), wait_ms) > 0 && feed >= 0 && (fds[0].revents & POLLIN) != 0) {
        book.drain_changes(feed);
    }
}

}  // namespace lokt
