// Signals taken like input: blocked, then read from a descriptor in the poll
// loop instead of being handled asynchronously, so that a signal is one more
// thing the loop reads and never races with waitpid. On Linux, signalfd(2).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <vector>

#include "common/unique_fd.hpp"

namespace lokt::platform {

struct ReceivedSignal {
    int number = 0;
    pid_t sender = 0;          // the process that sent it (0 when the kernel did)
    bool from_kernel = false;  // raised by the kernel, e.g. ^C at a terminal
};

// A non-blocking descriptor, readable while one of signals (which the caller
// has blocked) is pending; invalid with errno set when it cannot be made.
UniqueFd open_signal_queue(const sigset_t& signals);

// The signals queued now, in the order they came, without waiting.
std::vector<ReceivedSignal> take_signals(int queue);

}  // namespace lokt::platform
