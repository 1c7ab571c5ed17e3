// `lokt daemon start|stop|restart|status`: manage loktd for people without
// systemd or launchd. start runs loktd detached (found next to this lokt, else
// on PATH) and returns once it answers hello; stop asks it to shut down and
// waits until it is gone; restart is stop then start (as systemctl restart);
// status prints what it serves.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <thread>

#include "client/commands/commands.hpp"
#include "client/daemon_backend.hpp"
#include "common/platform/processes.hpp"
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"
#include "protocol/socket_location.hpp"

namespace lokt::client {
namespace {

constexpr Millis k_probe_timeout{1000};
constexpr Millis k_start_timeout{10'000};
constexpr Millis k_stop_timeout{10'000};
constexpr Millis k_poll_step{20};

std::filesystem::path find_loktd() {
    if (const auto self = platform::this_executable()) {
        // Installed side by side, or in a build tree (client/lokt, daemon/loktd).
        for (const auto& candidate : {self->parent_path() / "loktd", self->parent_path().parent_path() / "daemon" / "loktd"}) {
            if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        }
    }
    if (const char* path = std::getenv("PATH"); path != nullptr) {
        std::string_view rest(path);
        while (!rest.empty()) {
            const auto colon = rest.find(':');
            const std::string dir(rest.substr(0, colon));
            rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
            if (dir.empty()) continue;
            const auto candidate = std::filesystem::path(dir) / "loktd";
            if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        }
    }
    return {};
}

// Has the daemon on this socket let go of its instance lock (loktd.sock.lock,
// see daemon/server.cpp)? Until then a new daemon refuses to start, even if
// the old one no longer answers.
bool instance_lock_free(const std::filesystem::path& socket) {
    const std::string lock_path = socket.string() + ".lock";
    UniqueFd fd(::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return errno == ENOENT;
    return ::flock(fd.get(), LOCK_SH | LOCK_NB) == 0;  // released again by the close
}

std::string describe(const protocol::HelloReply& hello, const std::filesystem::path& socket) {
    return "loktd " + hello.daemon_version + " (build " + (hello.daemon_build.empty() ? "unknown" : hello.daemon_build) +
           "), pid " + std::to_string(hello.daemon_pid) + ", socket " + socket.string();
}

int run_start() {
    auto probe = probe_daemon(k_probe_timeout);
    if (probe.hello) {
        std::printf("already running: %s\n", describe(*probe.hello, probe.socket).c_str());
        return 0;
    }
    if (probe.problem.code == ErrorCode::io) return report(probe.problem);
    const auto loktd = find_loktd();
    if (loktd.empty()) {
        return report(make_error(ErrorCode::unavailable, "cannot find loktd next to lokt or on PATH"));
    }
    const auto directory = probe.socket.parent_path();
    if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) {
        return report(sys_error("cannot create", directory.string(), errno));
    }
    const std::string log_file = (directory / "loktd.log").string();
    const pid_t child = ::fork();
    if (child < 0) return report(sys_error("cannot start", loktd.string(), errno));
    if (child == 0) {
        ::setsid();
        const int null = ::open("/dev/null", O_RDWR);
        if (null >= 0) {
            ::dup2(null, STDIN_FILENO);
            ::dup2(null, STDOUT_FILENO);
            ::dup2(null, STDERR_FILENO);
            if (null > STDERR_FILENO) ::close(null);
        }
        ::execl(loktd.c_str(), "loktd", "--log-file", log_file.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + k_start_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(child, &status, WNOHANG) == child) {
            return report(make_error(ErrorCode::unavailable,
                                     "loktd exited at once (status " +
                                         std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) +
                                         "); see " + log_file));
        }
        probe = probe_daemon(k_probe_timeout);
        if (probe.hello) {
            std::printf("started: %s\n", describe(*probe.hello, probe.socket).c_str());
            return 0;
        }
        std::this_thread::sleep_for(k_poll_step);
    }
    return report(make_error(ErrorCode::unavailable, "loktd did not answer within " +
                                                         std::to_string(k_start_timeout.count() / 1000) + "s; see " + log_file));
}

int run_stop() {
    const auto socket = protocol::default_socket_path();
    auto connection = DaemonConnection::open(socket, k_probe_timeout);
    if (!connection) {
        if (connection.error().code == ErrorCode::io) return report(connection.error());
        std::printf("not running (socket %s)\n", socket.c_str());
        return 0;
    }
    const pid_t pid = connection->hello().daemon_pid;
    auto reply = connection->call(protocol::ShutdownRequest{}, k_stop_timeout);
    if (reply && !reply->ok()) return report(std::get<protocol::ErrorReply>(reply->body).to_error());
    const auto deadline = std::chrono::steady_clock::now() + k_stop_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        const bool gone = ::kill(pid, 0) != 0 && errno == ESRCH;
        if (gone || (!probe_daemon(Millis(200)).hello && instance_lock_free(socket))) {
            std::printf("stopped loktd (pid %d); every lock stays valid on disk\n", pid);
            return 0;
        }
        std::this_thread::sleep_for(k_poll_step);
    }
    return report(make_error(ErrorCode::unavailable, "loktd (pid " + std::to_string(pid) + ") did not stop within " +
                                                         std::to_string(k_stop_timeout.count() / 1000) + "s"));
}

int run_status() {
    const auto socket = protocol::default_socket_path();
    auto connection = DaemonConnection::open(socket, k_probe_timeout);
    if (!connection) {
        if (connection.error().code == ErrorCode::io) return report(connection.error());
        std::printf("not running (socket %s)\n", socket.c_str());
        return exit_code_for(ErrorCode::not_found);
    }
    auto reply = connection->call(protocol::DaemonStatusRequest{}, Millis(10'000));
    if (!reply) return report(reply.error());
    if (!reply->ok()) return report(std::get<protocol::ErrorReply>(reply->body).to_error());
    const auto& status = std::get<protocol::DaemonStatusReply>(reply->body);
    std::printf("running: %s\n", describe(connection->hello(), socket).c_str());
    std::printf("uptime %s, %u connection%s, %u hold%s, %u waiter%s\n", format_duration(Millis(status.uptime_ms)).c_str(),
                status.connections, status.connections == 1 ? "" : "s", status.holds, status.holds == 1 ? "" : "s",
                status.waiters, status.waiters == 1 ? "" : "s");
    for (const auto& root : status.roots) {
        std::printf("root %s: %u held, %u waiting, %u following the audit log\n", root.root.c_str(), root.holds, root.waiters,
                    root.subscriptions);
        if (!root.unwatched.empty()) std::printf("  not watched: %s\n", root.unwatched.c_str());
    }
    return 0;
}

}  // namespace

CommandSpec daemon_command(CommandEnv env) {
    CommandSpec command{"daemon", "Start, stop or inspect loktd, the per-user lock daemon"};
    command.footer = R"(Examples:
  lokt daemon start
  lokt daemon restart                    after upgrading lokt, so that lokt and loktd match
  lokt daemon status

Every lock stays valid on disk while the daemon is stopped.

Exit status: 0 success (status: running), 3 status: not running, 1 error, 64
usage error.)";
    command.actions.push_back(
        {"start", "Start loktd in the background unless it is running", "", [env] { *env.exit_status = run_start(); }});
    command.actions.push_back(
        {"stop", "Stop loktd; every lock stays valid on disk", "", [env] { *env.exit_status = run_stop(); }});
    command.actions.push_back({"restart", "Stop loktd if it runs, then start it (after an upgrade, for example)", "", [env] {
                                   const int stopped = run_stop();
                                   *env.exit_status = stopped != 0 ? stopped : run_start();
                               }});
    command.actions.push_back({"status", "Show loktd's pid, uptime, roots, holds and waiters (exit 3 if not running)", "",
                               [env] { *env.exit_status = run_status(); }});
    return command;
}

}  // namespace lokt::client
