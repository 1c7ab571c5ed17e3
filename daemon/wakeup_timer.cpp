// See wakeup_timer.hpp.
#include "daemon/wakeup_timer.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace lokt::daemon {

namespace {

int make_timerfd() {
    // steady_clock is CLOCK_MONOTONIC on Linux.
    const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "timerfd_create");
    return fd;
}

}  // namespace

WakeupTimer::WakeupTimer(const asio::any_io_executor& executor) : m_fd(executor, make_timerfd()) {}

void WakeupTimer::set(std::chrono::steady_clock::time_point when) {
    itimerspec spec{};
    if (when != std::chrono::steady_clock::time_point{}) {
        const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
        // An all-zero it_value would disarm: a moment already past still fires.
        const auto ns = since_epoch > 0 ? since_epoch : 1;
        spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    }
    ::timerfd_settime(m_fd.native_handle(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

void WakeupTimer::expires_at(std::chrono::steady_clock::time_point when) {
    asio::error_code ignored;
    m_fd.cancel(ignored);
    set(when);
}

void WakeupTimer::expires_after(std::chrono::steady_clock::duration delay) {
    expires_at(std::chrono::steady_clock::now() + delay);
}

void WakeupTimer::async_wait(Handler handler) {
    m_fd.async_wait(asio::posix::stream_descriptor::wait_read,
                    [this, alive = m_alive, handler = std::move(handler)](const asio::error_code& error) {
                        if (!error && !*alive) {
                            handler(asio::error::operation_aborted);
                            return;
                        }
                        if (!error) {
                            std::uint64_t expirations = 0;
                            // Drain the count; EAGAIN means a re-arm already reset it.
                            if (::read(m_fd.native_handle(), &expirations, sizeof expirations) < 0) {
                                handler(asio::error::operation_aborted);
                                return;
                            }
                        }
                        handler(error);
                    });
}

void WakeupTimer::cancel() {
    set(std::chrono::steady_clock::time_point{});
    asio::error_code ignored;
    m_fd.cancel(ignored);
}

}  // namespace lokt::daemon
