// See release_watcher.hpp.
#include "release_watcher.hpp"

#include "hold_handle.hpp"
#include "process_liveness.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace lokt::client {
namespace {

// Without inotify and pidfd we can only look again after a while.
constexpr std::chrono::milliseconds k_fallback_poll{50};

}  // namespace

ReleaseWatcher::ReleaseWatcher(const std::filesystem::path& root, const std::string& name)
    : m_root(root), m_file_name(name + ".json"), m_inotify(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
    if (!m_inotify) return;
    // Only a removal (or rename away) of the name can let us through; a holder
    // renewing or a new holder appearing cannot.
    constexpr std::uint32_t mask = IN_DELETE | IN_MOVED_FROM;
    const bool locks_ok = ::inotify_add_watch(m_inotify.get(), (root / "locks").c_str(), mask) >= 0;
    ::inotify_add_watch(m_inotify.get(), (root / "freezes").c_str(), mask);
    if (!locks_ok) m_inotify.reset();
}

void ReleaseWatcher::watch_process(pid_t pid) {
    if (pid == m_watched_pid && m_pidfd) return;
    m_pidfd.reset();
    m_watched_pid = pid;
    if (pid > 0) m_pidfd.reset(lokt::open_pidfd(pid));
}

bool ReleaseWatcher::watch_handle(const std::string& token) {
    if (!m_inotify || token == m_handle || !is_handle_token(token)) return false;
    if (m_handle_watch >= 0) ::inotify_rm_watch(m_inotify.get(), m_handle_watch);
    m_handle = token;
    const auto path = m_root / std::string(k_handle_directory) / token;
    m_handle_watch = ::inotify_add_watch(m_inotify.get(), path.c_str(), IN_CLOSE_WRITE | IN_DELETE_SELF);
    return true;
}

bool ReleaseWatcher::drain_inotify() {
    alignas(struct inotify_event) char buffer[8192];
    bool relevant = false;
    for (;;) {
        const ssize_t got = ::read(m_inotify.get(), buffer, sizeof buffer);
        if (got <= 0) break;
        for (char* p = buffer; p < buffer + got;) {
            auto* event = reinterpret_cast<struct inotify_event*>(p);
            if ((event->mask & IN_Q_OVERFLOW) != 0) relevant = true;
            if (event->len > 0 && std::strcmp(event->name, m_file_name.c_str()) == 0) relevant = true;
            if (m_handle_watch >= 0 && event->wd == m_handle_watch) relevant = true;
            p += sizeof(struct inotify_event) + event->len;
        }
    }
    return relevant;
}

bool ReleaseWatcher::wait(std::chrono::milliseconds timeout) {
    if (!m_inotify) {
        const auto nap = std::min(timeout, k_fallback_poll);
        ::poll(nullptr, 0, static_cast<int>(nap.count()));
        return nap == k_fallback_poll;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        struct pollfd fds[2] = {{m_inotify.get(), POLLIN, 0}, {m_pidfd.get(), POLLIN, 0}};
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
        if ((fds[0].revents & POLLIN) != 0 && drain_inotify()) return true;
    }
}

}  // namespace lokt::client
