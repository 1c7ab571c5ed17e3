// See process_liveness.hpp.
#include "common/process_liveness.hpp"

#include <signal.h>

#include <cerrno>

#include "common/platform/processes.hpp"

namespace lokt {

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
    auto fields = platform::read_process_stat(pid);
    if (!fields) return std::nullopt;
    return fields->start_ticks;
}

namespace {

using platform::ProcessStat;

bool no_such_process(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

Liveness judge_stat(const std::optional<ProcessStat>& actual, bool gone, std::uint64_t start_ticks) {
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
    const auto actual = platform::read_process_stat(pid);
    return judge_stat(actual, !actual && no_such_process(pid), *start_ticks);
}

Liveness LivenessMemo::check(pid_t pid, std::optional<std::uint64_t> start_ticks) {
    if (pid <= 0) return Liveness::unknown;
    auto [entry, inserted] = m_seen.try_emplace(pid);
    Seen& seen = entry->second;
    if (inserted) {
        if (auto fields = platform::read_process_stat(pid)) {
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
    std::optional<ProcessStat> actual;
    if (seen.readable) actual = ProcessStat{seen.state, seen.start_ticks};
    return judge_stat(actual, seen.gone, *start_ticks);
}

}  // namespace lokt
