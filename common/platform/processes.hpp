// What the system says about processes: whether a pid is still the process
// that wrote a lock (its state and start time), what command it runs, which
// boot this is, and a descriptor that becomes readable when a process exits.
// On Linux these come from /proc and pidfd_open(2); the rest of lokt asks here.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace lokt::platform {

struct ProcessStat {
    char state = '?';               // 'R', 'S', 'Z' (a zombie), ...
    std::uint64_t start_ticks = 0;  // start time in clock ticks since boot
};

// Fields 3 (state) and 22 (start time) of /proc/PID/stat; nullopt when the
// process cannot be read (gone, or /proc is unavailable).
std::optional<ProcessStat> read_process_stat(pid_t pid);

// The command line of pid with its arguments separated by spaces, at most
// limit bytes of it; "" when it cannot be read.
std::string process_command_line(pid_t pid, std::size_t limit);

// The file this program was started from; nullopt when the system cannot say.
std::optional<std::filesystem::path> this_executable();

// This machine's boot id (/proc/sys/kernel/random/boot_id), "" if unknown. Cached.
const std::string& this_boot_id();

// A descriptor for pid that becomes readable when it exits, or -1 with errno
// set (ENOSYS before Linux 5.3).
int open_pidfd(pid_t pid);

}  // namespace lokt::platform
