// See root_watcher.hpp.
#include "daemon/root_watcher.hpp"

#include <cerrno>
#include <cstring>

#include "common/hold_handle.hpp"
#include "common/lock_name.hpp"
#include "daemon/log.hpp"
#include "common/platform/file_events.hpp"
#include "common/platform/processes.hpp"
#include "common/sys_error.hpp"

namespace lokt::daemon {
namespace {

constexpr std::uint32_t k_area_events = platform::file_created | platform::file_deleted | platform::file_moved_out |
                                        platform::file_moved_in | platform::file_closed_written | platform::watched_deleted |
                                        platform::watched_moved | platform::only_directory;
constexpr std::uint32_t k_root_events = platform::file_modified | platform::file_created | platform::file_moved_in |
                                        platform::file_deleted | platform::only_directory;

}  // namespace

RootWatcher::RootWatcher(asio::io_context& io, std::filesystem::path root, WatcherCallbacks callbacks)
    : m_io(io), m_root(std::move(root)), m_callbacks(std::move(callbacks)) {}

RootWatcher::~RootWatcher() { *m_alive = false; }

Result<void> RootWatcher::start() {
    if (m_started) return {};
    if (!m_events) {
        UniqueFd queue = platform::open_file_event_queue();
        if (!queue) return sys_error("cannot start inotify for", m_root.string(), errno);
        m_events = std::make_unique<asio::posix::stream_descriptor>(m_io, queue.release());
    }
    const int native = m_events->native_handle();
    const auto locks = m_root / "locks";
    const auto freezes = m_root / "freezes";
    m_locks_watch = platform::add_file_watch(native, locks, k_area_events);
    if (m_locks_watch < 0) return sys_error("cannot watch", locks.string(), errno);
    m_freezes_watch = platform::add_file_watch(native, freezes, k_area_events);
    if (m_freezes_watch < 0) return sys_error("cannot watch", freezes.string(), errno);
    m_started = true;
    read_events();
    return {};
}

void RootWatcher::watch_audit(bool on) {
    if (!m_events) return;
    if (on && m_root_watch < 0) {
        m_root_watch = platform::add_file_watch(m_events->native_handle(), m_root, k_root_events);
        if (m_root_watch < 0) log::warn("cannot watch {}: {}", m_root.string(), std::strerror(errno));
    } else if (!on && m_root_watch >= 0) {
        platform::remove_file_watch(m_events->native_handle(), m_root_watch);
        m_root_watch = -1;
    }
}

std::vector<std::string> RootWatcher::watch_handles(const std::set<std::string>& tokens) {
    std::vector<std::string> fresh;
    if (!m_events) return fresh;
    if (tokens.empty()) {
        if (m_live_watch >= 0) platform::remove_file_watch(m_events->native_handle(), m_live_watch);
        m_live_watch = -1;
        m_handles.clear();
        return fresh;
    }
    if (m_live_watch < 0) {
        const auto live = m_root / std::string(k_handle_directory);
        m_live_watch =
            platform::add_file_watch(m_events->native_handle(), live, platform::file_closed_written | platform::only_directory);
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
    m_events->async_read_some(asio::buffer(m_buffer), [this, alive](const asio::error_code& error, std::size_t bytes) {
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
    platform::decode_file_events(m_buffer.data(), bytes, [&](const platform::FileEventRecord& event) {
        const std::string_view file = event.name;
        if ((event.events & platform::events_lost) != 0) {
            overflow = true;
            return;
        }
        if ((event.events & (platform::watched_deleted | platform::watched_moved | platform::watch_ended)) != 0 &&
            (event.watch == m_locks_watch || event.watch == m_freezes_watch)) {
            // The directory went away (the root was removed): watch again when it is back.
            m_started = false;
            overflow = true;
            return;
        }
        if (event.watch == m_root_watch) {
            if (file == "audit.log") audit = true;
            return;
        }
        if (event.watch == m_live_watch && m_live_watch >= 0) {
            if ((event.events & platform::file_closed_written) != 0 && m_handles.count(std::string(file)) != 0) {
                closed_handles.emplace_back(file);
            }
            return;
        }
        if (auto name = lock_name_from_file(file)) names.insert(*name);
    });
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
