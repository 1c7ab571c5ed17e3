// Is the process that wrote a lock still the same living process? A pid alone
// cannot say: pids are recycled. We compare the start time the kernel reports
// (field 22 of /proc/PID/stat, clock ticks since boot, the value other lokt
// tools store as "pid_start_ns") and, when recorded, the boot id. The reading
// itself is platform/processes.hpp's; this file judges what it read.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <unordered_map>

namespace lokt {

enum class Liveness { alive, dead, unknown };

// Start time of pid in clock ticks since boot; nullopt if it cannot be read.
std::optional<std::uint64_t> process_start_ticks(pid_t pid);

// alive: the pid exists and (when given) has this start time.
// dead: no such pid, or a different process now has it.
Liveness process_liveness(pid_t pid, std::optional<std::uint64_t> start_ticks);

// What /proc said about each pid, asked once: judging thousands of lock records
// at one moment (status) costs one /proc read per distinct holder, not per lock.
// Not shared between threads; give each its own.
class LivenessMemo {
public:
    Liveness check(pid_t pid, std::optional<std::uint64_t> start_ticks);

private:
    struct Seen {
        bool readable = false;  // /proc/PID/stat could be read
        bool gone = false;      // when unreadable: kill(pid, 0) said ESRCH
        char state = '?';
        std::uint64_t start_ticks = 0;
    };
    std::unordered_map<pid_t, Seen> m_seen;
};

}  // namespace lokt
