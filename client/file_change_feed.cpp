// See file_change_feed.hpp.
#include "client/file_change_feed.hpp"

#include "common/platform/file_events.hpp"

namespace lokt::client {
namespace {

// A dead or expired holder changes no file: this is how late the view may show it.
constexpr std::chrono::milliseconds k_reread_with_events{2000};
// Without inotify (a file system that lacks it) the files are all there is.
constexpr std::chrono::milliseconds k_reread_without_events{500};

constexpr std::uint32_t k_area_mask = platform::file_created | platform::file_deleted | platform::file_moved_out |
                                      platform::file_moved_in | platform::file_closed_written | platform::file_modified;

}  // namespace

FileChangeFeed::FileChangeFeed(const std::filesystem::path& root) : m_queue(platform::open_file_event_queue()) {
    if (!m_queue) return;
    // A missing freezes/ (a root another tool made) is simply not watched.
    const bool locks_ok = platform::add_file_watch(m_queue.get(), root / "locks", k_area_mask) >= 0;
    platform::add_file_watch(m_queue.get(), root / "freezes", k_area_mask);
    // The root itself, for audit.log: appended to, created, or rotated into place.
    m_root_watch =
        platform::add_file_watch(m_queue.get(), root, platform::file_modified | platform::file_created | platform::file_moved_in);
    if (!locks_ok) m_queue.reset();
}

std::chrono::milliseconds FileChangeFeed::reread_every() const {
    return m_queue ? k_reread_with_events : k_reread_without_events;
}

bool FileChangeFeed::drain() {
    if (!m_queue) return false;
    bool changed = false;
    platform::read_file_events(m_queue.get(), [&](const platform::FileEventRecord& event) {
        if (event.watch != m_root_watch || (event.events & platform::events_lost) != 0) {
            changed = true;
        } else if (event.name == "audit.log") {
            changed = true;  // in the root, only the audit log matters
        }
    });
    return changed;
}

}  // namespace lokt::client
