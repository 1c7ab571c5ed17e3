// See processes.hpp: the Linux implementation, on /proc and pidfd_open(2).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string_view>
#include <system_error>

#include "common/platform/processes.hpp"
#include "common/unique_fd.hpp"

namespace lokt::platform {
namespace {

// Up to limit bytes of a small file; "" when it cannot be opened.
std::string read_small_file(const char* path, std::size_t limit) {
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return {};
    std::string text(limit, '\0');
    std::size_t got = 0;
    while (got < limit) {
        const ssize_t n = ::read(fd.get(), text.data() + got, limit - got);
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    return text;
}

}  // namespace

std::optional<ProcessStat> read_process_stat(pid_t pid) {
    if (pid <= 0) return std::nullopt;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    char buffer[1024];
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer - 1);
    if (got <= 0) return std::nullopt;
    std::string_view text(buffer, static_cast<std::size_t>(got));
    // The command name (field 2) may contain spaces and parentheses: start after the last ')'.
    const auto close = text.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::size_t pos = close + 1;
    // Fields 3..21 precede the start time: skip 19 fields.
    int field = 2;
    while (pos < text.size() && field < 22) {
        while (pos < text.size() && text[pos] == ' ') ++pos;
        ++field;
        if (field == 22) break;
        while (pos < text.size() && text[pos] != ' ') ++pos;
    }
    std::uint64_t ticks = 0;
    bool any = false;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        ticks = ticks * 10 + static_cast<std::uint64_t>(text[pos] - '0');
        any = true;
        ++pos;
    }
    if (!any) return std::nullopt;
    ProcessStat stat;
    stat.start_ticks = ticks;
    const auto state_at = text.find_first_not_of(' ', close + 1);
    if (state_at != std::string_view::npos) stat.state = text[state_at];
    return stat;
}

std::string process_command_line(pid_t pid, std::size_t limit) {
    if (pid <= 0) return {};
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/cmdline", static_cast<int>(pid));
    std::string text = read_small_file(path, limit);
    // NUL-separated arguments, the last one NUL-terminated.
    while (!text.empty() && text.back() == '\0') text.pop_back();
    std::replace(text.begin(), text.end(), '\0', ' ');
    return text;
}

std::optional<std::filesystem::path> this_executable() {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return std::nullopt;
    return self;
}

const std::string& this_boot_id() {
    static const std::string id = [] {
        std::string value;
        UniqueFd fd(::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC));
        if (fd) {
            char buffer[64];
            const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
            if (got > 0) value.assign(buffer, static_cast<std::size_t>(got));
            while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
        }
        return value;
    }();
    return id;
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

}  // namespace lokt::platform
