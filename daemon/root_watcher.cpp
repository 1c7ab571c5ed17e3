// See root_watcher.hpp.
#include "daemon/root_watcher.hpp"

#include <cerrno>
#include <cstring>

#include "common/hold_handle.hpp"
#include "common/lock_name.hpp"
#include "common/platform/file_events.hpp"
#include "common/platform/processes.hpp"
#include "common/sys_error.hpp"
#include "daemon/log.hpp"

namespace lokt::daemon {
namespace {

constexpr std::uint32_t k_area_events = platform::file_created | platform::file_deleted | platform::file_moved_out |
                                        platform::file_moved_in | platform::file_closed_written | platform::watched_deleted |
                                        platform::watched_moved | platform::only_directory;
constexpr std::uint32_t k_root_events = platform::file_modified | platform::file_created | platform::file_moved_in |
                                        platform::file_deleted | platform::only_directory;

// Errors that say the user has no watches (or queues) left, rather than
// that the directory is missing.
bool out_of_watches(int error) { return error == ENOSPC || error == ENOMEM || error == EMFILE || error == ENFILE; }

}  // namespace

RootWatcher::RootWatcher(asio::io_context& io, FileEventHub& hub, std::filesystem::path root, WatcherCallbacks callbacks)
    : m_io(io),
      m_hub(hub),
      m_listener(hub.listen([this](const std::vector<FileEvent>& events) { on_events(events); })),
      m_root(std::move(root)),
      m_callbacks(std::move(callbacks)),
      m_poll_timer(io.get_executor()) {}

RootWatcher::~RootWatcher() {
    *m_alive = false;
    m_hub.unlisten(m_listener);
}

int RootWatcher::add_watch(const std::filesystem::path& path, std::uint32_t events) {
    const int watch = m_hub.add(m_listener, path, events);
    if (watch < 0 && out_of_watches(errno)) {
        const int error = errno;
        if (m_unwatched.empty()) {
            log::warn("root {}: cannot watch {}: {} (fs.inotify.max_user_watches); looking at it every {} ms instead",
                      m_root.string(), path.string(), std::strerror(error), k_unwatched_poll.count());
        }
        m_unwatched = "cannot watch " + path.string() + ": " + std::strerror(error) +
                      " (raise fs.inotify.max_user_watches); looked at every " + std::to_string(k_unwatched_poll.count()) +
                      " ms instead";
        poll_later();
        errno = error;
    }
    return watch;
}

void RootWatcher::drop_watch(int& watch) {
    if (watch >= 0) m_hub.remove(m_listener, watch);
    watch = -1;
}

Result<void> RootWatcher::start() {
    if (m_started) return {};
    for (auto [watch, area] : {std::pair{&m_locks_watch, "locks"}, std::pair{&m_freezes_watch, "freezes"}}) {
        if (*watch >= 0) continue;
        const auto path = m_root / area;
        *watch = add_watch(path, k_area_events);
        if (*watch < 0) {
            const int error = errno;
            // Out of watches: polled (add_watch said so). Otherwise not there yet.
            if (out_of_watches(error)) break;
            return sys_error("cannot watch", path.string(), error);
        }
    }
    m_started = true;
    return {};
}

bool RootWatcher::add_missing_watches() {
    if (m_started) {
        if (m_locks_watch < 0) m_locks_watch = add_watch(m_root / "locks", k_area_events);
        if (m_locks_watch < 0 && out_of_watches(errno)) return false;
        if (m_freezes_watch < 0) m_freezes_watch = add_watch(m_root / "freezes", k_area_events);
        if (m_freezes_watch < 0 && out_of_watches(errno)) return false;
    }
    if (m_audit_wanted && m_root_watch < 0) {
        m_root_watch = add_watch(m_root, k_root_events);
        if (m_root_watch < 0 && out_of_watches(errno)) return false;
    }
    if (!m_handles.empty() && m_live_watch < 0) {
        m_live_watch =
            add_watch(m_root / std::string(k_handle_directory), platform::file_closed_written | platform::only_directory);
        if (m_live_watch < 0 && out_of_watches(errno)) return false;
    }
    return true;
}

void RootWatcher::poll_later() {
    if (m_poll_armed) return;
    m_poll_armed = true;
    m_poll_timer.expires_after(k_unwatched_poll);
    m_poll_timer.async_wait([this, alive = m_alive](const asio::error_code& error) {
        if (!*alive || error) return;
        m_poll_armed = false;
        if (add_missing_watches()) {
            log::info("root {}: watched again", m_root.string());
            m_unwatched.clear();
        } else {
            poll_later();
        }
        // Whatever changed meanwhile raised no event: look at everything.
        if (m_callbacks.overflow) m_callbacks.overflow();
        if (m_callbacks.handle_closed) {
            const auto tokens = m_handles;
            for (const auto& token : tokens) m_callbacks.handle_closed(token);
        }
    });
}

void RootWatcher::watch_audit(bool on) {
    m_audit_wanted = on;
    if (on && m_root_watch < 0) {
        m_root_watch = add_watch(m_root, k_root_events);
        if (m_root_watch < 0 && !out_of_watches(errno)) log::warn("cannot watch {}: {}", m_root.string(), std::strerror(errno));
    } else if (!on) {
        drop_watch(m_root_watch);
    }
}

std::vector<std::string> RootWatcher::watch_handles(const std::set<std::string>& tokens) {
    std::vector<std::string> fresh;
    if (tokens.empty()) {
        drop_watch(m_live_watch);
        m_handles.clear();
        return fresh;
    }
    if (m_live_watch < 0) {
        const auto live = m_root / std::string(k_handle_directory);
        m_live_watch = add_watch(live, platform::file_closed_written | platform::only_directory);
        if (m_live_watch < 0 && !out_of_watches(errno)) {
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

void RootWatcher::on_events(const std::vector<FileEvent>& events) {
    std::set<std::string> names;
    std::vector<std::string> closed_handles;
    bool overflow = false;
    bool audit = false;
    for (const FileEvent& event : events) {
        const std::string_view file = event.name;
        if ((event.events & platform::events_lost) != 0) {
            overflow = true;
            continue;
        }
        if ((event.events & (platform::watched_deleted | platform::watched_moved | platform::watch_ended)) != 0 &&
            event.watch >= 0 && (event.watch == m_locks_watch || event.watch == m_freezes_watch)) {
            // The directory went away (the root was removed): watch again when it is back.
            drop_watch(m_locks_watch);
            drop_watch(m_freezes_watch);
            m_started = false;
            overflow = true;
            continue;
        }
        if (event.watch == m_root_watch) {
            if (file == "audit.log") audit = true;
            continue;
        }
        if (event.watch == m_live_watch) {
            if ((event.events & platform::file_closed_written) != 0 && m_handles.count(std::string(file)) != 0) {
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
        const int fd = platform::open_pidfd(pid);
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
