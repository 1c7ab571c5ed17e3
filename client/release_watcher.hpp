// Sleeps until something that could let a waiting acquire through happens: the
// lock or freeze file of the name changes (inotify), or the holder process
// exits (pidfd). Falls back to short polls only where those are unavailable.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "common/unique_fd.hpp"

namespace lokt::client {

class ReleaseWatcher {
public:
    // Watches root/locks and root/freezes for changes to NAME.json.
    // pool: NAME is a pool (slot_pool.hpp): the removal of any of its slots counts.
    ReleaseWatcher(const std::filesystem::path& root, const std::string& name, bool pool = false);

    // Also wake when this process exits (replaces any earlier holder).
    void watch_process(pid_t pid);
    // Also wake when this liveness handle is closed for the last time
    // (replaces any earlier one). True when the watch is new: a release just
    // before it began raised no event, so look once more.
    bool watch_handle(const std::string& token);
    // Blocks until an event for the name, the holder's exit, or the timeout.
    // Returns false on timeout.
    bool wait(std::chrono::milliseconds timeout);
    bool event_driven() const { return m_events.valid(); }

private:
    bool drain_events();

    std::filesystem::path m_root;
    std::string m_file_name;
    std::string m_slot_prefix;  // a pool's: "NAME.slot-"
    std::string m_handle;
    int m_handle_watch = -1;
    UniqueFd m_events;  // lock, freeze and handle changes (platform/file_events.hpp)
    UniqueFd m_pidfd;
    pid_t m_watched_pid = 0;
};

}  // namespace lokt::client
