// The kernel's clocks, asked directly. The boot clock: nanoseconds since this
// machine booted, counting time suspended, never set or stepped. A hold's
// deadline on this clock lets every process of the same boot judge it alike,
// whatever its wall clock says (a clock stepped by hand or by NTP, a process
// under a time-faking library). The kernel's wall clock: what file times are
// stamped with, to compare them with.
#pragma once

#include <cstdint>
#include <optional>

namespace lokt::platform {

// CLOCK_BOOTTIME now, asked of the kernel with a system call of our own (not
// through the C library or the vDSO, which a preloaded library can replace);
// nullopt when the kernel cannot say.
std::optional<std::int64_t> boot_clock_ns();

// CLOCK_REALTIME as the kernel keeps it (and stamps file times with), asked
// the same way: nanoseconds since the epoch, nullopt when it cannot say.
std::optional<std::int64_t> kernel_wall_clock_ns();

}  // namespace lokt::platform
