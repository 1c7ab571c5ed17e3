/* daemon_phases: where the time of one guard through loktd goes, seen from the
 * client, without lokt's own process start.
 *
 *   daemon_phases SOCKET ROOT [ROUNDS [GAP_US]]
 *
 * Each round is what `lokt guard` says to the daemon: connect; hello and an
 * acquire of the name "phases" (mode guard, no wait) in one write, until both
 * replies are in; the release; then one daemon_status, the smallest request
 * there is, as the price of a bare round trip. Between steps the client
 * sleeps GAP_US microseconds (default 2000), as a guard does while its
 * command runs, so the daemon is asleep when each request comes; GAP_US 0
 * sends them back to back. Prints the median and the 90th percentile of each
 * step in microseconds. Exits 1 when the daemon refuses or does not answer.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { STEP_CONNECT, STEP_ACQUIRE, STEP_RELEASE, STEP_STATUS, STEPS };
static const char *const step_names[STEPS] = {"connect", "hello+acquire", "release", "daemon_status"};

static char reply[1 << 16];
static size_t reply_length;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pause_us(long long us) {
    if (us <= 0) return;
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void fail(const char *what) {
    fprintf(stderr, "daemon_phases: %s\n", what);
    exit(1);
}

static void send_all(int fd, const char *text, size_t length) {
    while (length > 0) {
        const ssize_t n = write(fd, text, length);
        if (n <= 0) fail("cannot write to the daemon");
        text += n;
        length -= (size_t)n;
    }
}

/* Reads until `lines` whole lines are in `reply`; each must say "ok":true. */
static void read_lines(int fd, int lines) {
    reply_length = 0;
    for (;;) {
        int seen = 0;
        for (size_t i = 0; i < reply_length; i++) seen += reply[i] == '\n';
        if (seen >= lines) break;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 5000) != 1) fail("no answer within 5 s");
        const ssize_t n = read(fd, reply + reply_length, sizeof reply - reply_length - 1);
        if (n <= 0) fail("the daemon closed the connection");
        reply_length += (size_t)n;
        reply[reply_length] = '\0';
    }
    for (char *line = reply; *line != '\0';) {
        char *end = strchr(line, '\n');
        *end = '\0';
        if (strstr(line, "\"ok\":true") == NULL) {
            fprintf(stderr, "daemon_phases: refused: %s\n", line);
            exit(1);
        }
        *end = '\n';
        line = end + 1;
    }
}

static int compare(const void *a, const void *b) {
    const long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: daemon_phases SOCKET ROOT [ROUNDS [GAP_US]]\n");
        return 2;
    }
    const char *socket_path = argv[1];
    const char *root = argv[2];
    const int rounds = argc > 3 ? atoi(argv[3]) : 500;
    const long long gap_us = argc > 4 ? atoll(argv[4]) : 2000;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (rounds <= 0 || strlen(socket_path) >= sizeof address.sun_path) fail("bad arguments");
    strcpy(address.sun_path, socket_path);

    long long *times[STEPS];
    for (int s = 0; s < STEPS; s++) times[s] = calloc((size_t)rounds, sizeof(long long));
    char request[8192];
    for (int round = 0; round < rounds; round++) {
        pause_us(gap_us);
        long long t0 = now_ns();
        const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (const struct sockaddr *)&address, sizeof address) != 0) fail("cannot connect");
        times[STEP_CONNECT][round] = now_ns() - t0;

        int length = snprintf(request, sizeof request,
                              "{\"id\":1,\"op\":\"hello\",\"protocol_min\":1,\"protocol_max\":1,"
                              "\"client_version\":\"daemon_phases\",\"capabilities\":[]}\n"
                              "{\"id\":2,\"op\":\"acquire\",\"root\":\"%s\",\"name\":\"phases\",\"mode\":\"guard\","
                              "\"wait\":false,\"identity\":{\"owner\":\"daemon_phases\",\"owner_explicit\":false,"
                              "\"host\":\"bench\",\"pid\":%d}}\n",
                              root, (int)getpid());
        t0 = now_ns();
        send_all(fd, request, (size_t)length);
        read_lines(fd, 2);
        times[STEP_ACQUIRE][round] = now_ns() - t0;
        const char *id = strstr(reply, "\"lock_id\":\"");
        if (id == NULL || strlen(id) < 11 + 32) fail("no lock_id in the acquire reply");
        char lock_id[33];
        memcpy(lock_id, id + 11, 32);
        lock_id[32] = '\0';

        pause_us(gap_us);
        length = snprintf(request, sizeof request,
                          "{\"id\":3,\"op\":\"release\",\"root\":\"%s\",\"name\":\"phases\",\"lock_id\":\"%s\"}\n", root,
                          lock_id);
        t0 = now_ns();
        send_all(fd, request, (size_t)length);
        read_lines(fd, 1);
        times[STEP_RELEASE][round] = now_ns() - t0;

        pause_us(gap_us);
        length = snprintf(request, sizeof request, "{\"id\":4,\"op\":\"daemon_status\"}\n");
        t0 = now_ns();
        send_all(fd, request, (size_t)length);
        read_lines(fd, 1);
        times[STEP_STATUS][round] = now_ns() - t0;
        close(fd);
    }
    printf("%d rounds, %lld us between steps\n", rounds, gap_us);
    for (int s = 0; s < STEPS; s++) {
        qsort(times[s], (size_t)rounds, sizeof(long long), compare);
        printf("%-14s median %7.1f us   p90 %7.1f us\n", step_names[s], times[s][rounds / 2] / 1e3,
               times[s][rounds * 9 / 10] / 1e3);
    }
    return 0;
}
