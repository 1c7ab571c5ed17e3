/* spawntime: time whole process runs, fork to exit, without interpreter overhead.
 *
 *   spawntime [-n RUNS] [-w WARMUP] GROUP [::: GROUP ...]
 *   GROUP = [@env:KEY=VALUE ...] PROGRAM [ARGS...]
 *
 * Runs the groups in turn (A B C A B C ...) RUNS times each, after WARMUP
 * untimed rounds. Each run is posix_spawn() to waitpid() on CLOCK_MONOTONIC,
 * with stdin, stdout and stderr on /dev/null. Prints one line per timed run:
 * "GROUP_INDEX NANOSECONDS EXIT_STATUS". Exits 1 on a spawn failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct group {
    char **argv;
    char **envp;
};

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* environ with the group's @env:KEY=VALUE entries replacing or adding keys. */
static char **build_env(char **extra, int n_extra) {
    int n = 0;
    while (environ[n]) n++;
    char **env = calloc((size_t)(n + n_extra + 1), sizeof *env);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int replaced = 0;
        for (int j = 0; j < n_extra; j++) {
            size_t key = (size_t)(strchr(extra[j], '=') - extra[j]);
            if (strncmp(environ[i], extra[j], key + 1) == 0) replaced = 1;
        }
        if (!replaced) env[k++] = environ[i];
    }
    for (int j = 0; j < n_extra; j++) env[k++] = extra[j];
    env[k] = NULL;
    return env;
}

static int run_once(const struct group *g, posix_spawn_file_actions_t *fa, long long *elapsed, int *status_out) {
    pid_t pid;
    const long long start = now_ns();
    int rc = posix_spawnp(&pid, g->argv[0], fa, NULL, g->argv, g->envp);
    if (rc != 0) {
        fprintf(stderr, "spawntime: cannot run %s: %s\n", g->argv[0], strerror(rc));
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    *elapsed = now_ns() - start;
    *status_out = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return 0;
}

int main(int argc, char **argv) {
    int runs = 10, warmup = 3, i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) warmup = atoi(argv[++i]);
        else break;
    }
    struct group groups[16];
    int n_groups = 0;
    while (i < argc && n_groups < 16) {
        char *extra[32];
        int n_extra = 0;
        while (i < argc && strncmp(argv[i], "@env:", 5) == 0 && n_extra < 32) extra[n_extra++] = argv[i++] + 5;
        int start = i;
        while (i < argc && strcmp(argv[i], ":::") != 0) i++;
        if (i == start) {
            fprintf(stderr, "spawntime: empty command group\n");
            return 2;
        }
        groups[n_groups].argv = calloc((size_t)(i - start + 1), sizeof(char *));
        memcpy(groups[n_groups].argv, argv + start, (size_t)(i - start) * sizeof(char *));
        groups[n_groups].envp = build_env(extra, n_extra);
        n_groups++;
        if (i < argc) i++; /* skip ::: */
    }
    if (n_groups == 0) {
        fprintf(stderr, "usage: spawntime [-n RUNS] [-w WARMUP] CMD [::: CMD ...]\n");
        return 2;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);

    for (int round = 0; round < warmup + runs; round++) {
        for (int g = 0; g < n_groups; g++) {
            long long elapsed = 0;
            int status = 0;
            if (run_once(&groups[g], &fa, &elapsed, &status) != 0) return 1;
            if (round >= warmup) printf("%d %lld %d\n", g, elapsed, status);
        }
    }
    return 0;
}
