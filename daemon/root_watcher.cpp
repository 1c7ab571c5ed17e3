// See root_watcher.hpp.
#include "root_watcher.hpp"

#include "process_liveness.hpp"

#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "hold_handle.hpp"
#include "lock_name.hpp"
#include "log.hpp"
#include "sys_error.hpp"

namespace lokt::daemon {
namespace {

constexpr std::uint32_t k_area_events =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
constexpr std::uint32_t k_root_events = IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_ONLYDIR;

}  // namespace

RootWatcher::RootWatcher(asio::io_context& io, std::filesystem::path root, WatcherCallbacks callbacks)
    : m_io(io), m_root(std::move(root)), m_callbacks(std::move(callbacks)) {}

RootWatcher::~RootWatcher() { *m_alive = false; }

Result<void> RootWatcher::start() {
    if (m_started) return {};
    if (!m_inotify) {
        const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0) return sys_error("cannot start inotify for", m_root.string(), errno);
        m_inotify = std::make_unique<asio::posix::stream_descriptor>(m_io, fd);
    }
    const int native = m_inotify->native_handle();
    const auto locks = m_root / "locks";
    const auto freezes = m_root / "freezes";
    m_locks_watch = ::inotify_add_watch(native, locks.c_str(), k_area_events);
    if (m_locks_watch < 0) return sys_error("cannot watch", locks.string(), errno);
    m_freezes_watch = ::inotify_add_watch(native, freezes.c_str(), k_area_events);
    if (m_freezes_watch < 0) return sys_error("cannot watch", freezes.string(), errno);
    m_started = true;
    read_events();
    return {};
}

void RootWatcher::watch_audit(bool on) {
    if (!m_inotify) return;
    if (on && m_root_watch < 0) {
        m_root_watch = ::inotify_add_watch(m_inotify->native_handle(), m_root.c_str(), k_root_events);
        if (m_root_watch < 0) log::warn("cannot watch {}: {}", m_root.string(), std::strerror(errno));
    } else if (!on && m_root_watch >= 0) {
        ::inotify_rm_watch(m_inotify->native_handle(), m_root_watch);
        m_root_watch = -1;
    }
}

std::vector<std::string> RootWatcher::watch_handles(const std::set<std::string>& tokens) {
    std::vector<std::string> fresh;
    if (!m_inotify) return fresh;
    if (tokens.empty()) {
        if (m_live_watch >= 0) ::inotify_rm_watch(m_inotify->native_handle(), m_live_watch);
        m_live_watch = -1;
        m_handles.clear();
        return fresh;
    }
    if (m_live_watch < 0) {
        const auto live = m_root / std::string(k_handle_directory);
        m_live_watch = ::inotify_add_watch(m_inotify->native_handle(), live.c_str(), IN_CLOSE_WRITE | IN_ONLYDIR);
        if (m_live_watch < 0) {
            // No live/: no handle can be held there, and the next look says so.
            log::warn("cannot watch {}: {}", live.string(), std::strerror(errno));
        }
        m_handles.clear();
    }
    for (const auto& token : tokens) {
        if (m_handles.count(token) == 0) fresh.push_back(token);
    }
    m_handles = tokens;
    return fresh;
}

void RootWatcher::read_events() {
    auto alive = m_alive;
    m_inotify->async_read_some(asio::buffer(m_buffer), [this, alive](const asio::error_code& error, std::size_t bytes) {
        if (!*alive || error) return;
        on_events(bytes);
        read_events();
    });
}

void RootWatcher::on_events(std::size_t bytes) {
    std::set<std::string> names;
    std::vector<std::string> closed_handles;
    bool overflow = false;
    bool audit = false;
    for (std::size_t offset = 0; offset + sizeof(inotify_event) <= bytes;) {
        inotify_event event{};
        std::memcpy(&event, m_buffer.data() + offset, sizeof event);
        std::string_view file;
        if (event.len > 0)
            file = std::string_view(m_buffer.data() + offset + sizeof event,
                                    ::strnlen(m_buffer.data() + offset + sizeof event, event.len));
        offset += sizeof event + event.len;
        if ((event.mask & IN_Q_OVERFLOW) != 0) {
            overflow = true;
            continue;
        }
        if ((event.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0 &&
            (event.wd == m_locks_watch || event.wd == m_freezes_watch)) {
            // The directory went away (the root was removed): watch again when it is back.
            m_started = false;
            overflow = true;
            continue;
        }
        if (event.wd == m_root_watch) {
            if (file == "audit.log") audit = true;
            continue;
        }
        if (event.wd == m_live_watch && m_live_watch >= 0) {
            if ((event.mask & IN_CLOSE_WRITE) != 0 && m_handles.count(std::string(file)) != 0) {
                closed_handles.emplace_back(file);
            }
            continue;
        }
        if (auto name = lock_name_from_file(file)) names.insert(*name);
    }
    if (overflow && m_callbacks.overflow) m_callbacks.overflow();
    for (const auto& name : names) {
        if (m_callbacks.name_changed) m_callbacks.name_changed(name);
    }
    if (audit && m_callbacks.audit_changed) m_callbacks.audit_changed();
    for (const auto& token : closed_handles) {
        if (m_callbacks.handle_closed) m_callbacks.handle_closed(token);
    }
}

void RootWatcher::watch_processes(const std::set<pid_t>& pids) {
    for (auto it = m_exited.begin(); it != m_exited.end();) {
        it = pids.count(*it) == 0 ? m_exited.erase(it) : std::next(it);
    }
    for (auto it = m_pidfds.begin(); it != m_pidfds.end();) {
        if (pids.count(it->first) == 0) {
            it = m_pidfds.erase(it);
        } else {
            ++it;
        }
    }
    for (pid_t pid : pids) {
        if (m_pidfds.count(pid) != 0 || m_exited.count(pid) != 0) continue;
        const int fd = lokt::open_pidfd(pid);
        if (fd < 0) {
            if (errno == ESRCH) {
                // Already gone: say so (once) on the next turn of the loop, not from inside this call.
                m_exited.insert(pid);
                auto alive = m_alive;
                asio::post(m_io, [this, alive, pid] {
                    if (*alive && m_callbacks.process_exited) m_callbacks.process_exited(pid);
                });
            } else if (m_callbacks.process_unwatchable) {
                m_callbacks.process_unwatchable(pid);
            }
            continue;
        }
        auto descriptor = std::make_unique<asio::posix::stream_descriptor>(m_io, fd);
        auto alive = m_alive;
        descriptor->async_wait(asio::posix::stream_descriptor::wait_read, [this, alive, pid](const asio::error_code& error) {
            if (!*alive || error) return;
            m_pidfds.erase(pid);
            m_exited.insert(pid);
            if (m_callbacks.process_exited) m_callbacks.process_exited(pid);
        });
        m_pidfds.emplace(pid, std::move(descriptor));
    }
}

}  // namespace lokt::daemon
