/* lockfile_ops: the bare system calls of one lock and unlock in a directory,
 * as lokt makes them, timed one by one.
 *
 *   lockfile_ops DIR [ROUNDS [GAP_US]]
 *
 * Each round: an unnamed file in DIR (O_TMPFILE), a 315-byte write, linkat to
 * DIR/lockfile_ops.json, fstat and close; a 177-byte append to
 * DIR/lockfile_ops.log; unlinkat of the lock file. These are the file steps
 * of an acquire and a release without the reading, checking and JSON around
 * them. Sleeping GAP_US microseconds (default 2000) before each round shows
 * what they cost to a process that was idle, as loktd is between a guard's
 * requests; GAP_US 0 runs them back to back, as in a process that is busy,
 * as lokt itself is. Prints medians in microseconds. The log file is left
 * in DIR.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { STEP_CREATE, STEP_WRITE, STEP_LINK, STEP_CLOSE, STEP_APPEND, STEP_UNLINK, STEP_ALL, STEPS };
static const char *const step_names[STEPS] = {"O_TMPFILE", "write", "linkat", "fstat+close", "append", "unlinkat", "all"};

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int compare(const void *a, const void *b) {
    const long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void fail(const char *what) {
    perror(what);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: lockfile_ops DIR [ROUNDS [GAP_US]]\n");
        return 2;
    }
    const int rounds = argc > 2 ? atoi(argv[2]) : 500;
    const long long gap_us = argc > 3 ? atoll(argv[3]) : 2000;
    if (rounds <= 0) return 2;
    const int dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) fail("open DIR");
    const int log = openat(dir, "lockfile_ops.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (log < 0) fail("open the log");
    char record[315], line[177];
    memset(record, 'r', sizeof record);
    memset(line, 'a', sizeof line);
    line[sizeof line - 1] = '\n';

    long long *times[STEPS];
    for (int s = 0; s < STEPS; s++) times[s] = calloc((size_t)rounds, sizeof(long long));
    for (int round = 0; round < rounds; round++) {
        if (gap_us > 0) {
            struct timespec ts = {gap_us / 1000000, (gap_us % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
        long long t[STEPS + 1];
        t[0] = now_ns();
        const int file = openat(dir, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, 0600);
        if (file < 0) fail("O_TMPFILE");
        t[1] = now_ns();
        if (write(file, record, sizeof record) != (ssize_t)sizeof record) fail("write");
        t[2] = now_ns();
        char proc_path[64];
        snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", file);
        if (linkat(AT_FDCWD, proc_path, dir, "lockfile_ops.json", AT_SYMLINK_FOLLOW) != 0) fail("linkat");
        t[3] = now_ns();
        struct stat info;
        if (fstat(file, &info) != 0) fail("fstat");
        close(file);
        t[4] = now_ns();
        lseek(log, 0, SEEK_END);
        if (write(log, line, sizeof line) != (ssize_t)sizeof line) fail("append");
        t[5] = now_ns();
        if (unlinkat(dir, "lockfile_ops.json", 0) != 0) fail("unlinkat");
        t[6] = now_ns();
        for (int s = 0; s < STEP_ALL; s++) times[s][round] = t[s + 1] - t[s];
        times[STEP_ALL][round] = t[6] - t[0];
    }
    printf("%d rounds, %lld us before each\n", rounds, gap_us);
    for (int s = 0; s < STEPS; s++) {
        qsort(times[s], (size_t)rounds, sizeof(long long), compare);
        printf("%-12s median %6.1f us\n", step_names[s], times[s][rounds / 2] / 1e3);
    }
    return 0;
}
