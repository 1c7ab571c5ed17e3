// See file_change_feed.hpp.
#include "file_change_feed.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>

namespace lokt::client {
namespace {

// A dead or expired holder changes no file: this is how late the view may show it.
constexpr std::chrono::milliseconds k_reread_with_events{2000};
// Without inotify (a file system that lacks it) the files are all there is.
constexpr std::chrono::milliseconds k_reread_without_events{500};

constexpr std::uint32_t k_area_mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY;

}  // namespace

FileChangeFeed::FileChangeFeed(const std::filesystem::path& root) : m_inotify(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
    if (!m_inotify) return;
    // A missing freezes/ (a root another tool made) is simply not watched.
    const bool locks_ok = ::inotify_add_watch(m_inotify.get(), (root / "locks").c_str(), k_area_mask) >= 0;
    ::inotify_add_watch(m_inotify.get(), (root / "freezes").c_str(), k_area_mask);
    // The root itself, for audit.log: appended to, created, or rotated into place.
    m_root_watch = ::inotify_add_watch(m_inotify.get(), root.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO);
    if (!locks_ok) m_inotify.reset();
}

std::chrono::milliseconds FileChangeFeed::reread_every() const {
    return m_inotify ? k_reread_with_events : k_reread_without_events;
}

bool FileChangeFeed::drain() {
    if (!m_inotify) return false;
    alignas(struct inotify_event) char buffer[16 * 1024];
    bool changed = false;
    for (;;) {
        const ssize_t got = ::read(m_inotify.get(), buffer, sizeof buffer);
        if (got <= 0) break;
        for (char* p = buffer; p < buffer + got;) {
            auto* event = reinterpret_cast<struct inotify_event*>(p);
            if (event->wd != m_root_watch || (event->mask & IN_Q_OVERFLOW) != 0) {
                changed = true;
            } else if (event->len > 0 && std::strcmp(event->name, "audit.log") == 0) {
                changed = true;  // in the root, only the audit log matters
            }
            p += sizeof(struct inotify_event) + event->len;
        }
    }
    return changed;
}

}  // namespace lokt::client
