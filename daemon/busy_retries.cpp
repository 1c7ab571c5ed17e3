// See busy_retries.hpp.
#include "daemon/busy_retries.hpp"

#include <algorithm>

namespace lokt::daemon {
namespace {

// 5 ms, 10, 20, 40, then every 50 ms: a file-mode holder keeps the mutex for
// microseconds, and one stopped there costs a look twenty times a second.
std::chrono::milliseconds delay_for(unsigned attempt) {
    const unsigned shift = std::min(attempt, 4U);
    return std::min(std::chrono::milliseconds(5) * (1U << (shift == 0 ? 0 : shift - 1)), std::chrono::milliseconds(50));
}

}  // namespace

void BusyRetries::add(Clock::time_point first, unsigned attempt, Run run) {
    m_pending.push_back(Entry{Clock::now() + delay_for(attempt), first, attempt, std::move(run)});
    arm();
}

void BusyRetries::arm() {
    if (m_pending.empty()) {
        if (m_armed_for) m_timer.cancel();
        m_armed_for.reset();
        return;
    }
    Clock::time_point next = m_pending.front().due;
    for (const auto& entry : m_pending) next = std::min(next, entry.due);
    if (m_armed_for && *m_armed_for <= next) return;  // fires first; re-armed then
    m_armed_for = next;
    m_timer.expires_at(next);
    m_timer.async_wait([this](const asio::error_code& error) {
        if (error) return;
        m_armed_for.reset();
        fire();
    });
}

void BusyRetries::fire() {
    const auto now = Clock::now();
    std::vector<Entry> due;
    for (auto it = m_pending.begin(); it != m_pending.end();) {
        if (it->due <= now) {
            due.push_back(std::move(*it));
            it = m_pending.erase(it);
        } else {
            ++it;
        }
    }
    // A run may add itself again (still busy): that goes into m_pending anew.
    for (auto& entry : due) entry.run(entry.first, entry.attempt);
    arm();
}

}  // namespace lokt::daemon
