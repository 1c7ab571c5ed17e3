// Is the process that wrote a lock still the same living process? A pid alone
// cannot say: pids are recycled. We compare the start time the kernel reports
// (field 22 of /proc/PID/stat, clock ticks since boot, the value other lokt
// tools store as "pid_start_ns") and, when recorded, the boot id.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace lokt {

enum class Liveness { alive, dead, unknown };

// Start time of pid in clock ticks since boot; nullopt if it cannot be read.
std::optional<std::uint64_t> process_start_ticks(pid_t pid);

// This machine's boot id (/proc/sys/kernel/random/boot_id), "" if unknown. Cached.
const std::string& this_boot_id();

// alive: the pid exists and (when given) has this start time.
// dead: no such pid, or a different process now has it.
Liveness process_liveness(pid_t pid, std::optional<std::uint64_t> start_ticks);

// A pidfd for pid (readable when it exits), or -1 with errno set (ENOSYS before Linux 5.3).
int open_pidfd(pid_t pid);

}  // namespace lokt
