// See boot_clock.hpp: the Linux implementation. The system call is made with
// the instruction itself where the architecture is known, so that neither
// clock_gettime() nor syscall() (both interposable with LD_PRELOAD) is asked.
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/platform/boot_clock.hpp"

namespace lokt::platform {
namespace {

long raw_clock_gettime(clockid_t clock, struct timespec* out) {
#if defined(__x86_64__)
    long result;
    asm volatile("syscall"
                 : "=a"(result)
                 : "0"(static_cast<long>(SYS_clock_gettime)), "D"(static_cast<long>(clock)), "S"(out)
                 : "rcx", "r11", "memory");
    return result;
#elif defined(__aarch64__)
    register long x8 asm("x8") = SYS_clock_gettime;
    register long x0 asm("x0") = static_cast<long>(clock);
    register long x1 asm("x1") = reinterpret_cast<long>(out);
    asm volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
    return x0;
#else
    return ::syscall(SYS_clock_gettime, clock, out) == 0 ? 0 : -1;
#endif
}

std::optional<std::int64_t> clock_ns(clockid_t clock) {
    struct timespec now {};
    if (raw_clock_gettime(clock, &now) != 0) return std::nullopt;
    return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

}  // namespace

std::optional<std::int64_t> boot_clock_ns() { return clock_ns(CLOCK_BOOTTIME); }

std::optional<std::int64_t> kernel_wall_clock_ns() { return clock_ns(CLOCK_REALTIME); }

}  // namespace lokt::platform
