// See polling.hpp.
#include "tests/support/polling.hpp"

#include <algorithm>
#include <thread>

namespace lokt::test {

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout, std::chrono::milliseconds interval) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition()) return true;
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return condition();
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(interval, deadline - now));
    }
}

}  // namespace lokt::test
