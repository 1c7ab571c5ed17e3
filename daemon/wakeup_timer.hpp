// A one-shot timer on a timerfd of its own. Asio's timers share one timerfd
// that stays armed after a cancel and, once any timer was used, is re-armed
// every five minutes for ever; an idle loktd must not wake at all, so the
// daemon's timers disarm their own descriptor instead.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>

namespace lokt::daemon {

class WakeupTimer {
public:
    using Handler = std::function<void(const asio::error_code&)>;

    explicit WakeupTimer(const asio::any_io_executor& executor);
    ~WakeupTimer() { *m_alive = false; }
    WakeupTimer(const WakeupTimer&) = delete;
    WakeupTimer& operator=(const WakeupTimer&) = delete;

    // Arms the timer; a wait already pending ends with operation_aborted, as
    // with asio::steady_timer.
    void expires_at(std::chrono::steady_clock::time_point when);
    void expires_after(std::chrono::steady_clock::duration delay);
    // The handler runs once: with no error when the time comes, with
    // operation_aborted when cancelled or re-armed first.
    void async_wait(Handler handler);
    // Disarms the timer and ends a pending wait with operation_aborted.
    void cancel();

private:
    void set(std::chrono::steady_clock::time_point when);

    asio::posix::stream_descriptor m_fd;
    // A wait that completed just before the timer was destroyed must not read its descriptor.
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace lokt::daemon
