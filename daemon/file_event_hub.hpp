// The daemon's one file event queue (inotify), shared by every root it
// serves. The kernel allows a user 128 queues (fs.inotify.max_user_instances)
// but many thousands of watches (fs.inotify.max_user_watches): a daemon with a
// queue per root stopped watching at its 125th root, so every root adds
// watches to this one queue instead. Each event goes to the listener (a
// root's watcher) that asked for its watch, and lost events (an overflow) to
// every listener. Two roots whose paths name one directory share its watch.
#pragma once

#include <array>
#include <asio.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/platform/file_events.hpp"

namespace lokt::daemon {

// One event, its name kept (the read buffer is reused).
struct FileEvent {
    int watch = -1;
    std::uint32_t events = 0;  // platform::FileEvent flags
    std::string name;
};

class FileEventHub {
public:
    using ListenerId = std::uint64_t;
    // The events of one read that belong to the listener, in order.
    using Listener = std::function<void(const std::vector<FileEvent>& events)>;

    explicit FileEventHub(asio::io_context& io) : m_io(io) {}
    ~FileEventHub() { *m_alive = false; }
    FileEventHub(const FileEventHub&) = delete;
    FileEventHub& operator=(const FileEventHub&) = delete;

    ListenerId listen(Listener listener);
    // Drops the listener and every watch only it used.
    void unlisten(ListenerId listener);
    // Watches path for the listener; the watch id, or -1 with errno set (the
    // queue cannot be opened, or fs.inotify.max_user_watches is reached: ENOSPC).
    int add(ListenerId listener, const std::filesystem::path& path, std::uint32_t events);
    void remove(ListenerId listener, int watch);
    std::size_t watch_count() const { return m_watches.size(); }

private:
    void read_events();
    void on_events(std::size_t bytes);

    asio::io_context& m_io;
    std::unique_ptr<asio::posix::stream_descriptor> m_queue;
    std::map<ListenerId, Listener> m_listeners;
    std::map<int, std::set<ListenerId>> m_watches;  // watch id -> who asked for it
    ListenerId m_next = 1;
    std::array<char, platform::k_file_event_buffer> m_buffer{};
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace lokt::daemon
