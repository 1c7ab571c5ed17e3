// See file_events.hpp: the Linux implementation, on inotify.
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/platform/file_events.hpp"

namespace lokt::platform {
namespace {

struct Translation {
    FileEvent ours;
    std::uint32_t inotify;
};

constexpr Translation k_translations[] = {
    {file_created, IN_CREATE},
    {file_deleted, IN_DELETE},
    {file_moved_out, IN_MOVED_FROM},
    {file_moved_in, IN_MOVED_TO},
    {file_closed_written, IN_CLOSE_WRITE},
    {file_modified, IN_MODIFY},
    {watched_deleted, IN_DELETE_SELF},
    {watched_moved, IN_MOVE_SELF},
    {watch_ended, IN_IGNORED},
    {events_lost, IN_Q_OVERFLOW},
    {only_directory, IN_ONLYDIR},
};

std::uint32_t to_inotify(std::uint32_t events) {
    std::uint32_t mask = 0;
    for (const auto& t : k_translations) {
        if ((events & t.ours) != 0) mask |= t.inotify;
    }
    return mask;
}

std::uint32_t from_inotify(std::uint32_t mask) {
    std::uint32_t events = 0;
    for (const auto& t : k_translations) {
        if ((mask & t.inotify) != 0) events |= t.ours;
    }
    return events;
}

}  // namespace

UniqueFd open_file_event_queue() { return UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)); }

int add_file_watch(int queue, const std::filesystem::path& path, std::uint32_t events) {
    return ::inotify_add_watch(queue, path.c_str(), to_inotify(events));
}

void remove_file_watch(int queue, int watch) { ::inotify_rm_watch(queue, watch); }

void decode_file_events(const char* data, std::size_t size, const std::function<void(const FileEventRecord&)>& visit) {
    for (std::size_t offset = 0; offset + sizeof(inotify_event) <= size;) {
        inotify_event event{};
        std::memcpy(&event, data + offset, sizeof event);
        FileEventRecord record;
        record.watch = event.wd;
        record.events = from_inotify(event.mask);
        if (event.len > 0) {
            const char* name = data + offset + sizeof event;
            const std::size_t room = size - offset - sizeof event;  // the kernel never splits a record; be safe anyway
            record.name = std::string_view(name, ::strnlen(name, std::min<std::size_t>(event.len, room)));
        }
        offset += sizeof event + event.len;
        visit(record);
    }
}

void read_file_events(int queue, const std::function<void(const FileEventRecord&)>& visit) {
    alignas(inotify_event) char buffer[k_file_event_buffer];
    for (;;) {
        const ssize_t got = ::read(queue, buffer, sizeof buffer);
        if (got <= 0) return;
        decode_file_events(buffer, static_cast<std::size_t>(got), visit);
    }
}

}  // namespace lokt::platform
