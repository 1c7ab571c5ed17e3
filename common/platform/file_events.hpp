// Being told when a file or directory changes, instead of looking again and
// again: a released lock, a lifted freeze, a closed liveness handle, a new
// audit line. On Linux this is inotify; everything else in lokt uses these
// names and never includes <sys/inotify.h>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>

#include "common/unique_fd.hpp"

namespace lokt::platform {

// What a watch reports (flags, combined with |), and how one is set up.
enum FileEvent : std::uint32_t {
    file_created = 1u << 0,         // a name appeared in the watched directory
    file_deleted = 1u << 1,         // a name was removed from it
    file_moved_out = 1u << 2,       // a name was renamed away
    file_moved_in = 1u << 3,        // a file was renamed to a name in it
    file_closed_written = 1u << 4,  // the last descriptor opened for writing was closed
    file_modified = 1u << 5,        // a file was written to
    watched_deleted = 1u << 6,      // the watched file or directory itself was removed
    watched_moved = 1u << 7,        // ... or renamed
    watch_ended = 1u << 8,          // the watch is gone (its target was removed)
    events_lost = 1u << 9,          // the queue overflowed: look at everything again
    only_directory = 1u << 10,      // when adding a watch: fail unless the path is a directory
};

struct FileEventRecord {
    int watch = -1;            // the watch that reported it (-1 when events were lost)
    std::uint32_t events = 0;  // FileEvent flags
    std::string_view name;     // the file's name in a watched directory; empty for the watched path itself
};

// A queue of change events: a non-blocking descriptor, readable when
// something happened. Invalid (with errno set) where the system cannot watch
// files; callers then look again after a while.
UniqueFd open_file_event_queue();

// Watches path for the given FileEvent flags; the watch id, or -1 with errno set.
int add_file_watch(int queue, const std::filesystem::path& path, std::uint32_t events);
void remove_file_watch(int queue, int watch);

// Calls visit for every whole record in bytes read from a queue.
void decode_file_events(const char* data, std::size_t size, const std::function<void(const FileEventRecord&)>& visit);

// Reads and decodes everything queued, without waiting for more.
void read_file_events(int queue, const std::function<void(const FileEventRecord&)>& visit);

// A buffer this large always holds at least one record.
inline constexpr std::size_t k_file_event_buffer = 8192;

}  // namespace lokt::platform
