/* stamp: the critical section of the handoff benchmark.
 *
 *   stamp FILE [HOLD_US]
 *
 * Reads CLOCK_MONOTONIC at entry, stays HOLD_US microseconds (default 0),
 * reads it again just before exit and appends "ENTRY_NS EXIT_NS PID\n" to
 * FILE with one O_APPEND write. Run under a lock, the lines are in section
 * order; the gap from one line's EXIT_NS to the next line's ENTRY_NS is the
 * handoff latency, and a negative gap means two holders overlapped.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    const long long entry = now_ns();
    if (argc < 2) return 2;
    const long long hold_us = argc > 2 ? atoll(argv[2]) : 0;
    if (hold_us > 0) {
        struct timespec ts = {hold_us / 1000000, (hold_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    const int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return 1;
    char line[96];
    const long long leave = now_ns();
    const int n = snprintf(line, sizeof line, "%lld %lld %d\n", entry, leave, (int)getpid());
    const int ok = write(fd, line, (size_t)n) == n;
    return ok ? 0 : 1;
}
