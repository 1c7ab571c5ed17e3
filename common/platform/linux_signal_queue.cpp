// See signal_queue.hpp: the Linux implementation, on signalfd(2).
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/platform/signal_queue.hpp"

namespace lokt::platform {

UniqueFd open_signal_queue(const sigset_t& signals) { return UniqueFd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK)); }

std::vector<ReceivedSignal> take_signals(int queue) {
    std::vector<ReceivedSignal> signals;
    struct signalfd_siginfo info {};
    while (::read(queue, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        signals.push_back(
            ReceivedSignal{static_cast<int>(info.ssi_signo), static_cast<pid_t>(info.ssi_pid), info.ssi_code == SI_KERNEL});
    }
    return signals;
}

}  // namespace lokt::platform
