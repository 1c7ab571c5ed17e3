// See release_watcher.hpp.
#include "client/release_watcher.hpp"

#include "common/hold_handle.hpp"
#include "common/platform/file_events.hpp"
#include "common/platform/processes.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>

namespace lokt::client {
namespace {

// Without inotify and pidfd we can only look again after a while.
constexpr std::chrono::milliseconds k_fallback_poll{50};

}  // namespace

ReleaseWatcher::ReleaseWatcher(const std::filesystem::path& root, const std::string& name, bool pool)
    : m_root(root), m_file_name(name + ".json"), m_events(platform::open_file_event_queue()) {
    if (pool) m_slot_prefix = name + ".slot-";
    if (!m_events) return;
    // Only a removal (or rename away) of the name can let us through; a holder
    // renewing or a new holder appearing cannot.
    constexpr std::uint32_t mask = platform::file_deleted | platform::file_moved_out;
    const bool locks_ok = platform::add_file_watch(m_events.get(), root / "locks", mask) >= 0;
    platform::add_file_watch(m_events.get(), root / "freezes", mask);
    if (!locks_ok) m_events.reset();
}

void ReleaseWatcher::watch_process(pid_t pid) {
    if (pid == m_watched_pid && m_pidfd) return;
    m_pidfd.reset();
    m_watched_pid = pid;
    if (pid > 0) m_pidfd.reset(platform::open_pidfd(pid));
}

bool ReleaseWatcher::watch_handle(const std::string& token) {
    if (!m_events || token == m_handle || !is_handle_token(token)) return false;
    if (m_handle_watch >= 0) platform::remove_file_watch(m_events.get(), m_handle_watch);
    m_handle = token;
    const auto path = m_root / std::string(k_handle_directory) / token;
    m_handle_watch = platform::add_file_watch(m_events.get(), path, platform::file_closed_written | platform::watched_deleted);
    return true;
}

bool ReleaseWatcher::drain_events() {
    bool relevant = false;
    platform::read_file_events(m_events.get(), [&](const platform::FileEventRecord& event) {
        if ((event.events & platform::events_lost) != 0) relevant = true;
        if (!event.name.empty() && event.name == m_file_name) relevant = true;
        if (!m_slot_prefix.empty() && event.name.starts_with(m_slot_prefix) && event.name.ends_with(".json")) relevant = true;
        if (m_handle_watch >= 0 && event.watch == m_handle_watch) relevant = true;
    });
    return relevant;
}

bool ReleaseWatcher::wait(std::chrono::milliseconds timeout) {
    if (!m_events) {
        const auto nap = std::min(timeout, k_fallback_poll);
        ::poll(nullptr, 0, static_cast<int>(nap.count()));
        return nap == k_fallback_poll;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        struct pollfd fds[2] = {{m_events.get(), POLLIN, 0}, {m_pidfd.get(), POLLIN, 0}};
        const nfds_t count = m_pidfd ? 2 : 1;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        const int ready = ::poll(fds, count, static_cast<int>(left.count()) + 1);
        if (ready < 0) {
            if (errno == EINTR) return true;
            return false;
        }
        if (ready == 0) return false;
        if (count == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            m_pidfd.reset();
            m_watched_pid = 0;
            return true;
        }
        if ((fds[0].revents & POLLIN) != 0 && drain_events()) return true;
    }
}

}  // namespace lokt::client
