// See process_liveness.hpp.
#include "process_liveness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string_view>

#include "unique_fd.hpp"

namespace lokt {

namespace {

// Field 3 of /proc/PID/stat and field 22 (start time), or nullopt.
struct StatFields {
    char state = '?';
    std::uint64_t start_ticks = 0;
};

std::optional<StatFields> read_stat(pid_t pid);

}  // namespace

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
    auto fields = read_stat(pid);
    if (!fields) return std::nullopt;
    return fields->start_ticks;
}

namespace {

std::optional<StatFields> read_stat(pid_t pid) {
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
    StatFields fields;
    fields.start_ticks = ticks;
    const auto state_at = text.find_first_not_of(' ', close + 1);
    if (state_at != std::string_view::npos) fields.state = text[state_at];
    return fields;
}

}  // namespace

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

namespace {

bool no_such_process(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

Liveness judge_stat(const std::optional<StatFields>& actual, bool gone, std::uint64_t start_ticks) {
    // No readable /proc entry: gone, unless /proc itself is unavailable.
    if (!actual) return gone ? Liveness::dead : Liveness::unknown;
    // A zombie has exited; only its parent has not collected it yet.
    if (actual->state == 'Z' || actual->state == 'X') return Liveness::dead;
    return actual->start_ticks == start_ticks ? Liveness::alive : Liveness::dead;
}

}  // namespace

Liveness process_liveness(pid_t pid, std::optional<std::uint64_t> start_ticks) {
    if (pid <= 0) return Liveness::unknown;
    if (!start_ticks) return no_such_process(pid) ? Liveness::dead : Liveness::alive;
    // With a start time, /proc answers both questions: no entry means no process.
    const auto actual = read_stat(pid);
    return judge_stat(actual, !actual && no_such_process(pid), *start_ticks);
}

Liveness LivenessMemo::check(pid_t pid, std::optional<std::uint64_t> start_ticks) {
    if (pid <= 0) return Liveness::unknown;
    auto [entry, inserted] = m_seen.try_emplace(pid);
    Seen& seen = entry->second;
    if (inserted) {
        if (auto fields = read_stat(pid)) {
            seen.readable = true;
            seen.state = fields->state;
            seen.start_ticks = fields->start_ticks;
        } else {
            seen.gone = no_such_process(pid);
        }
    }
    if (!start_ticks) {
        // As process_liveness: without a start time only "no such pid" is dead.
        return seen.gone ? Liveness::dead : Liveness::alive;
    }
    std::optional<StatFields> actual;
    if (seen.readable) actual = StatFields{seen.state, seen.start_ticks};
    return judge_stat(actual, seen.gone, *start_ticks);
}

}  // namespace lokt
