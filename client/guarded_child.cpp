// See guarded_child.hpp. Signals are taken through a signalfd, so there are no
// asynchronous handlers and no races with waitpid.
#include "guarded_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <optional>

#include "child_spawn.hpp"
#include "unique_fd.hpp"

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
    sigset_t previous;
    ::sigprocmask(SIG_BLOCK, &handled, &previous);
    UniqueFd signals(::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK));

    // Give the child the terminal if we are in its foreground, so it can read it
    // and ^C reaches it directly.
    const bool own_terminal = ::isatty(STDIN_FILENO) && ::tcgetpgrp(STDIN_FILENO) == ::getpgrp();

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
    // In the child, once it has its own process group and before exec, that
    // group becomes the terminal's foreground, so it can read the terminal and
    // ^C reaches it.
    request.take_terminal = own_terminal;

    pid_t child = 0;
    const int spawned = spawn_in_own_group(request, &child);
    if (spawned != 0) {
        std::fprintf(stderr, "error: cannot run \"%s\": %s\n", spec.argv[0].c_str(), std::strerror(spawned));
        ::sigprocmask(SIG_SETMASK, &previous, nullptr);
        outcome.spawn_failed = true;
        outcome.exit_status = spawned == ENOENT ? 127 : 126;
        return outcome;
    }

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
        struct signalfd_siginfo info {};
        while (::read(signals.get(), &info, sizeof info) == sizeof info) {
            const int sig = static_cast<int>(info.ssi_signo);
            if (sig == SIGCHLD) continue;
            ::kill(-child, sig);  // to the whole process group
        }
        const pid_t reaped = ::waitpid(child, &status, WNOHANG);
        if (reaped == child) child_done = true;
        if (child_done) break;

        const auto now = Clock::now();
        if (kill_at && now >= *kill_at) {
            ::kill(-child, SIGKILL);
            kill_at.reset();
        }
        if (beating && !outcome.lost && now >= next_beat) {
            next_beat = now + spec.heartbeat_interval;
            if (!spec.heartbeat()) {
                outcome.lost = true;
                if (spec.terminate_on_lost) {
                    ::kill(-child, SIGTERM);
                    kill_at = now + k_lost_kill_grace;
                }
            }
        }
    }

    if (own_terminal) {
        // Take the terminal back; a background process group needs SIGTTOU blocked to do so.
        sigset_t ttou;
        sigemptyset(&ttou);
        sigaddset(&ttou, SIGTTOU);
        sigset_t before;
        ::sigprocmask(SIG_BLOCK, &ttou, &before);
        ::tcsetpgrp(STDIN_FILENO, ::getpgrp());
        ::sigprocmask(SIG_SETMASK, &before, nullptr);
    }
    // INT, TERM, HUP and QUIT stay blocked: a late one must not kill us before the
    // caller releases the lock. They are discarded when this process exits.
    outcome.exit_status = status_to_exit(status);
    return outcome;
}

}  // namespace lokt::client
