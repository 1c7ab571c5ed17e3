/* runloop: one contending worker. Runs a command again and again, back to back.
 *
 *   runloop [--start-ns T0] [--until-ns T1] [--count K] [--stderr FILE] -- PROGRAM [ARGS...]
 *
 * Sleeps until CLOCK_MONOTONIC reaches T0 (a common start for all workers),
 * then posix_spawn()s the command and waits for it, repeatedly, until K runs
 * are done or the clock passes T1. Prints one line:
 *   "ok=N fail=M in_window=W cpu_us=C"
 * where in_window counts successful runs that finished at or before T1, and C
 * is the CPU time (user + system, microseconds) of every run and its
 * descendants: on a machine with fewer cores than workers, what a section
 * costs decides how many fit in a second, and it is far less noisy than the
 * count.
 * The command's stdin and stdout are /dev/null; its stderr too, unless --stderr
 * names a file to append it to (to see why a run failed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    long long start_ns = 0, until_ns = 0, count = 0;
    const char *stderr_file = "/dev/null";
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--start-ns") == 0 && i + 1 < argc) start_ns = atoll(argv[++i]);
        else if (strcmp(argv[i], "--until-ns") == 0 && i + 1 < argc) until_ns = atoll(argv[++i]);
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) count = atoll(argv[++i]);
        else if (strcmp(argv[i], "--stderr") == 0 && i + 1 < argc) stderr_file = argv[++i];
        else if (strcmp(argv[i], "--") == 0) { i++; break; }
        else break;
    }
    if (i >= argc || (until_ns == 0 && count == 0)) {
        fprintf(stderr, "usage: runloop [--start-ns T0] [--until-ns T1] [--count K] [--stderr FILE] -- CMD...\n");
        return 2;
    }
    char **cmd = argv + i;
    if (start_ns > 0) {
        struct timespec ts = {start_ns / 1000000000LL, start_ns % 1000000000LL};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, stderr_file, O_WRONLY | O_APPEND | O_CREAT, 0600);

    long long ok = 0, fail = 0, in_window = 0;
    for (;;) {
        if (count > 0 && ok + fail >= count) break;
        if (until_ns > 0 && now_ns() >= until_ns) break;
        pid_t pid;
        int rc = posix_spawnp(&pid, cmd[0], &fa, NULL, cmd, environ);
        if (rc != 0) {
            fprintf(stderr, "runloop: cannot run %s: %s\n", cmd[0], strerror(rc));
            return 1;
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR) return 1;
        }
        const long long done = now_ns();
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            ok++;
            if (until_ns == 0 || done <= until_ns) in_window++;
        } else {
            fail++;
        }
    }
    struct rusage children;
    getrusage(RUSAGE_CHILDREN, &children);
    const long long cpu_us = (long long)(children.ru_utime.tv_sec + children.ru_stime.tv_sec) * 1000000LL +
                             children.ru_utime.tv_usec + children.ru_stime.tv_usec;
    printf("ok=%lld fail=%lld in_window=%lld cpu_us=%lld\n", ok, fail, in_window, cpu_us);
    return 0;
}
