// Wakes the daemon when something outside it changes a root: inotify on
// locks/ and freezes/ (a release by a file-mode client or another tool),
// on the root directory for audit.log while someone follows it, and a pidfd
// per holder process the queues are blocked on. No timers: an idle root costs
// nothing.
#pragma once

#include <sys/types.h>

#include <asio.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace lokt::daemon {

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
    RootWatcher(asio::io_context& io, std::filesystem::path root, WatcherCallbacks callbacks);
    ~RootWatcher();
    RootWatcher(const RootWatcher&) = delete;
    RootWatcher& operator=(const RootWatcher&) = delete;

    // Starts watching locks/ and freezes/ (idempotent; fails while they do not exist).
    Result<void> start();
    bool started() const { return m_started; }
    // Watch audit.log changes (only while subscriptions exist).
    void watch_audit(bool on);
    // The holder processes to watch; others are dropped.
    void watch_processes(const std::set<pid_t>& pids);
    // The liveness handles to watch (inotify on live/ while there are any).
    // Returns those not watched before: one closed just before its watch
    // began is missed, so the caller looks at each once more.
    std::vector<std::string> watch_handles(const std::set<std::string>& tokens);
    // True once the pidfd of pid reported its exit. A process that exited can
    // still look alive to the engine while it is a zombie nobody has reaped.
    bool has_exited(pid_t pid) const { return m_exited.count(pid) != 0; }

private:
    void read_events();
    void on_events(std::size_t bytes);

    asio::io_context& m_io;
    std::filesystem::path m_root;
    WatcherCallbacks m_callbacks;
    std::unique_ptr<asio::posix::stream_descriptor> m_events;  // a file event queue (platform/file_events.hpp)
    int m_locks_watch = -1;
    int m_freezes_watch = -1;
    int m_root_watch = -1;
    int m_live_watch = -1;
    std::set<std::string> m_handles;
    bool m_started = false;
    std::array<char, 8192> m_buffer{};
    std::map<pid_t, std::unique_ptr<asio::posix::stream_descriptor>> m_pidfds;
    std::set<pid_t> m_exited;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace lokt::daemon
