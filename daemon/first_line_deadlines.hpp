// Every new connection's first-line deadline, on one timer. All deadlines are
// "accepted + the same timeout", so they fall due in the order the connections
// came: the timer is armed for the oldest connection still silent, and not at
// all when none is. A timer of each connection's own cost nine system calls
// per connection (create, register, arm, disarm, close, ...); this costs two
// at most, the arming and the disarming, and an idle daemon has none armed.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "daemon/wakeup_timer.hpp"

namespace lokt::daemon {

template <typename Connection>
class FirstLineDeadlines {
public:
    // Connection needs `bool awaiting_first_line() const` and `void expire_first_line()`.
    FirstLineDeadlines(const asio::any_io_executor& executor, std::chrono::steady_clock::duration timeout)
        : m_timeout(timeout), m_timer(executor) {}

    // A new connection: its first line is due within the timeout from now.
    void watch(const std::shared_ptr<Connection>& connection) {
        m_pending.push_back(Entry{std::chrono::steady_clock::now() + m_timeout, connection});
        arm();
    }

    // Some connection sent its first line or closed: forget the ones at the
    // front that no longer wait, and re-arm for the next (or disarm).
    void settle() {
        while (!m_pending.empty()) {
            auto connection = m_pending.front().connection.lock();
            if (connection && connection->awaiting_first_line()) break;
            m_pending.pop_front();
        }
        arm();
    }

    // The connection that has been silent longest, if any still is.
    std::shared_ptr<Connection> oldest_silent() const {
        for (const auto& entry : m_pending) {
            auto connection = entry.connection.lock();
            if (connection && connection->awaiting_first_line()) return connection;
        }
        return nullptr;
    }

    std::size_t pending() const { return m_pending.size(); }
    bool armed() const { return m_armed_for.has_value(); }

private:
    struct Entry {
        std::chrono::steady_clock::time_point deadline;
        std::weak_ptr<Connection> connection;
    };

    void arm() {
        if (m_pending.empty()) {
            if (m_armed_for) m_timer.cancel();
            m_armed_for.reset();
            return;
        }
        const auto due = m_pending.front().deadline;
        if (m_armed_for == due) return;
        m_armed_for = due;
        m_timer.expires_at(due);
        m_timer.async_wait([this](const asio::error_code& error) {
            if (error) return;  // re-armed or cancelled
            m_armed_for.reset();
            expire();
        });
    }

    void expire() {
        const auto now = std::chrono::steady_clock::now();
        while (!m_pending.empty() && m_pending.front().deadline <= now) {
            auto connection = m_pending.front().connection.lock();
            m_pending.pop_front();
            if (connection && connection->awaiting_first_line()) connection->expire_first_line();
        }
        settle();
    }

    std::chrono::steady_clock::duration m_timeout;
    WakeupTimer m_timer;
    std::deque<Entry> m_pending;
    std::optional<std::chrono::steady_clock::time_point> m_armed_for;
};

}  // namespace lokt::daemon
