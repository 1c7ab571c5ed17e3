// Requests set aside because a lock name's mutex (mutex/NAME.lock) was held by
// another process: a file-mode lokt in the middle of a change, or one stopped
// there. The event loop never waits for that mutex; the request is run again
// from one timer, soon at first and then less often, until it gets through
// or k_busy_give_up has passed since it was first found busy (the error then
// goes out, as file mode reports after its own bounded wait).
#pragma once

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include "daemon/wakeup_timer.hpp"

namespace lokt::daemon {

inline constexpr std::chrono::seconds k_busy_give_up{10};

class BusyRetries {
public:
    using Clock = std::chrono::steady_clock;
    // Runs the request again; `first` is when it was first found busy and
    // `attempt` how many times it was (1 for the first retry).
    using Run = std::function<void(Clock::time_point first, unsigned attempt)>;

    explicit BusyRetries(const asio::any_io_executor& executor) : m_timer(executor) {}

    // One more try of a request found busy, after a delay growing with attempt.
    void add(Clock::time_point first, unsigned attempt, Run run);
    std::size_t pending() const { return m_pending.size(); }

private:
    struct Entry {
        Clock::time_point due;
        Clock::time_point first;
        unsigned attempt = 0;
        Run run;
    };
    void arm();
    void fire();

    WakeupTimer m_timer;
    std::vector<Entry> m_pending;
    std::optional<Clock::time_point> m_armed_for;
};

}  // namespace lokt::daemon
