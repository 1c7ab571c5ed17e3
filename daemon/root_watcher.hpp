// Wakes the daemon when something outside it changes a root: watches on
// locks/ and freezes/ (a release by a file-mode client or another tool), on
// the root directory for audit.log while someone follows it, and on live/
// while liveness handles matter, all on the daemon's one file event queue
// (file_event_hub.hpp); and a pidfd per holder process the queues are
// blocked on. No timers: an idle root costs nothing.
//
// A root whose directories cannot be watched (the user's
// fs.inotify.max_user_watches is reached) is looked at again every
// k_unwatched_poll instead, and the watches are tried again each time: the
// change is logged once each way, and `lokt daemon status` and `lokt doctor`
// name the root (unwatched()).
#pragma once

#include <sys/types.h>

#include <asio.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "daemon/file_event_hub.hpp"
#include "daemon/wakeup_timer.hpp"

namespace lokt::daemon {

inline constexpr std::chrono::milliseconds k_unwatched_poll{500};

struct WatcherCallbacks {
    std::function<void(const std::string& name)> name_changed;  // locks/NAME.json or freezes/NAME.json
    std::function<void()> overflow;                             // events were lost: look at everything
    std::function<void()> audit_changed;                        // audit.log grew or was replaced
    std::function<void(pid_t pid)> process_exited;
    // A pid that cannot be watched (no pidfd): the caller falls back to a timed retry.
    std::function<void(pid_t pid)> process_unwatchable;
    // The last descriptor of a watched liveness handle (live/TOKEN) was closed.
    std::function<void(const std::string& token)> handle_closed;
};

class RootWatcher {
public:
    RootWatcher(asio::io_context& io, FileEventHub& hub, std::filesystem::path root, WatcherCallbacks callbacks);
    ~RootWatcher();
    RootWatcher(const RootWatcher&) = delete;
    RootWatcher& operator=(const RootWatcher&) = delete;

    // Starts watching locks/ and freezes/ (idempotent; fails while they do
    // not exist). Where watches cannot be added, the root is polled instead.
    Result<void> start();
    bool started() const { return m_started; }
    // Watch audit.log changes (only while subscriptions exist).
    void watch_audit(bool on);
    // The holder processes to watch; others are dropped.
    void watch_processes(const std::set<pid_t>& pids);
    // The liveness handles to watch (a watch on live/ while there are any).
    // Returns those not watched before: one closed just before its watch
    // began is missed, so the caller looks at each once more.
    std::vector<std::string> watch_handles(const std::set<std::string>& tokens);
    // True once the pidfd of pid reported its exit. A process that exited can
    // still look alive to the engine while it is a zombie nobody has reaped.
    bool has_exited(pid_t pid) const { return m_exited.count(pid) != 0; }
    // Why the root is polled rather than watched; empty while it is watched.
    const std::string& unwatched() const { return m_unwatched; }

private:
    void on_events(const std::vector<FileEvent>& events);
    // Adds the watches wanted now that are missing; false (m_unwatched says
    // why) when one cannot be added for want of watches.
    bool add_missing_watches();
    int add_watch(const std::filesystem::path& path, std::uint32_t events);
    void drop_watch(int& watch);
    void poll_later();

    asio::io_context& m_io;
    FileEventHub& m_hub;
    FileEventHub::ListenerId m_listener;
    std::filesystem::path m_root;
    WatcherCallbacks m_callbacks;
    int m_locks_watch = -1;
    int m_freezes_watch = -1;
    int m_root_watch = -1;
    int m_live_watch = -1;
    bool m_audit_wanted = false;
    std::set<std::string> m_handles;
    bool m_started = false;
    std::string m_unwatched;
    WakeupTimer m_poll_timer;
    bool m_poll_armed = false;
    std::map<pid_t, std::unique_ptr<asio::posix::stream_descriptor>> m_pidfds;
    std::set<pid_t> m_exited;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace lokt::daemon
