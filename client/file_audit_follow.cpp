// See file_audit_follow.hpp.
#include "file_audit_follow.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <string_view>

#include "daemon_audit_follow.hpp"
#include "sys_error.hpp"
#include "unique_fd.hpp"

namespace lokt::client {

Result<void> follow_audit_file(const std::filesystem::path& root, const AuditQuery& query, const AuditPrinter& print,
                               AuditResume* resume) {
    const std::filesystem::path log = root / "audit.log";
    UniqueFd inotify(::inotify_init1(IN_CLOEXEC));
    if (!inotify) return sys_error("cannot watch", root.string(), errno);
    if (::inotify_add_watch(inotify.get(), root.c_str(), IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_DELETE) < 0) {
        return sys_error("cannot watch", root.string(), errno);
    }
    // Whatever exists when we start is history: shown only with --since.
    UniqueFd fd(::open(log.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    std::size_t offset = 0;
    if (fd) {
        struct stat info {};
        ::fstat(fd.get(), &info);
        if (resume != nullptr) {
            AuditQuery rest = query;
            rest.since = resume->from();
            auto reached = read_audit_prefix(fd.get(), log.string(), static_cast<std::size_t>(info.st_size), rest,
                                             [&](std::string_view line, const AuditEvent& event) {
                                                 if (!resume->already_printed(line, event)) print(line, event);
                                             });
            if (!reached) return reached.take_error();
            offset = *reached;
        } else if (query.since) {
            auto reached = read_audit_prefix(fd.get(), log.string(), static_cast<std::size_t>(info.st_size), query, print);
            if (!reached) return reached.take_error();
            offset = *reached;
        } else {
            offset = static_cast<std::size_t>(info.st_size);
        }
        std::fflush(stdout);
    }
    std::string pending;
    char buffer[65536];
    for (;;) {
        if (!fd) {
            fd.reset(::open(log.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
            offset = 0;
            pending.clear();
        }
        if (fd) {
            struct stat info {};
            if (::fstat(fd.get(), &info) == 0 && static_cast<std::size_t>(info.st_size) < offset) {
                offset = 0;  // truncated or replaced: start over
                pending.clear();
            }
            for (;;) {
                const ssize_t got = ::pread(fd.get(), buffer, sizeof buffer, static_cast<off_t>(offset));
                if (got <= 0) break;
                offset += static_cast<std::size_t>(got);
                pending.append(buffer, static_cast<std::size_t>(got));
            }
            std::size_t start = 0;
            for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
                std::string_view line(pending.data() + start, nl - start);
                if (line.empty()) continue;
                if (auto event = parse_audit_line(line); event && audit_event_matches(*event, query)) print(line, *event);
            }
            pending.erase(0, start);
            std::fflush(stdout);
            if (std::ferror(stdout)) return {};  // the reader went away
        }
        alignas(struct inotify_event) char events[4096];
        struct pollfd pfd = {inotify.get(), POLLIN, 0};
        if (::poll(&pfd, 1, -1) < 0 && errno != EINTR) return sys_error("cannot watch", root.string(), errno);
        const ssize_t got = ::read(inotify.get(), events, sizeof events);
        for (char* p = events; got > 0 && p < events + got;) {
            auto* event = reinterpret_cast<struct inotify_event*>(p);
            if (event->len > 0 && std::string_view(event->name) == "audit.log" &&
                (event->mask & (IN_DELETE | IN_MOVED_TO | IN_CREATE)) != 0) {
                fd.reset();  // a new file under the name: reopen it
            }
            p += sizeof(struct inotify_event) + event->len;
        }
    }
}

}  // namespace lokt::client
