// See guarded_child.hpp. Signals are taken through a signalfd, so there are no
// asynchronous handlers and no races with waitpid.
#include "client/guarded_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "client/child_spawn.hpp"
#include "common/platform/signal_queue.hpp"
#include "common/unique_fd.hpp"

extern char** environ;

namespace lokt::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int k_forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
// After asking a child to stop because the lock was lost, how long before SIGKILL.
constexpr std::chrono::seconds k_lost_kill_grace{10};

std::vector<std::string> build_environment(const ChildSpec& spec) {
    std::vector<std::string> env;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        std::string_view text(*entry);
        bool replaced = false;
        for (const auto& [key, value] : spec.extra_env) {
            if (text.size() > key.size() && text.starts_with(key) && text[key.size()] == '=') replaced = true;
        }
        if (!replaced) env.emplace_back(text);
    }
    for (const auto& [key, value] : spec.extra_env) env.push_back(key + "=" + value);
    return env;
}

int status_to_exit(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

}  // namespace

ChildOutcome run_guarded_child(const ChildSpec& spec) {
    ChildOutcome outcome;

    sigset_t handled;
    sigemptyset(&handled);
    for (int sig : k_forwarded) sigaddset(&handled, sig);
    sigaddset(&handled, SIGCHLD);
    // Once guard is in a group of its own it is in the terminal's background:
    // a message at the end must not stop it (TOSTOP).
    sigaddset(&handled, SIGTTOU);
    sigset_t previous;
    ::sigprocmask(SIG_BLOCK, &handled, &previous);
    UniqueFd signals = platform::open_signal_queue(handled);

    SpawnRequest request;
    request.argv = spec.argv;
    request.env = build_environment(spec);
    request.mask = previous;
    sigemptyset(&request.defaults);
    for (int sig : k_forwarded) sigaddset(&request.defaults, sig);
    sigaddset(&request.defaults, SIGCHLD);
    sigaddset(&request.defaults, SIGPIPE);
    sigaddset(&request.defaults, SIGTTOU);
    sigaddset(&request.defaults, SIGTTIN);
    request.inherit_fd = spec.handle_fd;

    // The command has the caller's group; guard leaves it when it may (see
    // guarded_child.hpp), before the command starts: left after, a group kill
    // sent the moment the command is running could still reach guard.
    const pid_t self = ::getpid();
    const pid_t caller_group = ::getpgrp();
    bool shares_group = caller_group == self;
    if (!shares_group) {
        if (::setpgid(0, 0) == 0) {
            request.process_group = caller_group;
        } else {
            shares_group = true;
        }
    }

    pid_t child = 0;
    const int spawned = spawn_command(request, &child);
    if (spawned != 0) {
        if (request.process_group != 0) ::setpgid(0, caller_group);  // nothing runs: back where we were
        std::fprintf(stderr, "error: cannot run \"%s\": %s\n", spec.argv[0].c_str(), std::strerror(spawned));
        ::sigprocmask(SIG_SETMASK, &previous, nullptr);
        outcome.spawn_failed = true;
        outcome.exit_status = spawned == ENOENT ? 127 : 126;
        return outcome;
    }
    // Sharing our group, the command's processes are the group (with us, who
    // skip our own copy); otherwise they share the caller's group, which is
    // not ours to signal, and only the command's first process is told.
    // (SIGKILL is never sent to the group: it would end guard too.)
    const auto signal_command = [&](int sig) { ::kill(shares_group ? 0 : child, sig); };

    const bool beating = spec.heartbeat && spec.heartbeat_interval.count() > 0;
    auto next_beat = Clock::now() + spec.heartbeat_interval;
    std::optional<Clock::time_point> kill_at;
    int status = 0;
    for (;;) {
        int timeout_ms = -1;
        auto soonest = beating && !outcome.lost ? std::optional(next_beat) : std::nullopt;
        if (kill_at && (!soonest || *kill_at < *soonest)) soonest = kill_at;
        if (soonest) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(*soonest - Clock::now()).count();
            timeout_ms = static_cast<int>(std::max<long long>(0, left));
        }
        struct pollfd pfd = {signals.get(), POLLIN, 0};
        const int ready = ::poll(&pfd, 1, timeout_ms);
        if (ready < 0 && errno != EINTR) break;

        bool child_done = false;
        for (const auto& received : platform::take_signals(signals.get())) {
            const int sig = received.number;
            if (sig == SIGCHLD || sig == SIGTTOU) continue;
            // The terminal signals the whole foreground group, the command with us.
            const bool from_terminal = received.from_kernel;
            if (received.sender == self || (from_terminal && shares_group)) continue;
            signal_command(sig);
        }
        const pid_t reaped = ::waitpid(child, &status, WNOHANG);
        if (reaped == child) child_done = true;
        if (child_done) break;

        const auto now = Clock::now();
        if (kill_at && now >= *kill_at) {
            ::kill(child, SIGKILL);
            kill_at.reset();
        }
        if (beating && !outcome.lost && now >= next_beat) {
            const Beat beat = spec.heartbeat();
            next_beat = Clock::now() + (beat.next.count() > 0 ? beat.next : spec.heartbeat_interval);
            if (!beat.keep) {
                outcome.lost = true;
                if (spec.terminate_on_lost) {
                    signal_command(SIGTERM);
                    const std::chrono::nanoseconds grace = beat.kill_within.count() > 0 ? beat.kill_within : k_lost_kill_grace;
                    kill_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(grace);
                }
            }
        }
    }

    // INT, TERM, HUP and QUIT stay blocked: a late one must not kill us before the
    // caller releases the lock. They are discarded when this process exits.
    outcome.exit_status = status_to_exit(status);
    return outcome;
}

}  // namespace lokt::client
