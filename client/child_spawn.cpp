// See child_spawn.hpp.
#include "client/child_spawn.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace lokt::client {
namespace {

// execvp's rule: a failure that means "not here" sends the search on to the
// next directory of $PATH; any other (ENOEXEC, E2BIG, ...) ends it.
constexpr bool not_here(int error) {
    return error == ENOENT || error == ENOTDIR || error == ESTALE || error == ENODEV || error == ETIMEDOUT;
}

}  // namespace

std::vector<std::string> command_candidates(const std::string& argv0, const char* path_variable) {
    if (argv0.find('/') != std::string::npos) return {argv0};
    if (argv0.empty()) return {};
    // execvp's default search path when PATH is unset.
    const std::string path = path_variable != nullptr ? path_variable : "/bin:/usr/bin";
    std::vector<std::string> candidates;
    std::size_t begin = 0;
    for (;;) {
        const std::size_t end = path.find(':', begin);
        std::string directory = path.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
        if (directory.empty()) directory = ".";  // an empty element is the current directory
        candidates.push_back(directory + "/" + argv0);
        if (end == std::string::npos) break;
        begin = end + 1;
    }
    return candidates;
}

int spawn_command(const SpawnRequest& request, pid_t* child) {
    // Everything the child touches is built here: between vfork and exec it
    // shares our memory and may only make system calls.
    const std::vector<std::string> candidates = command_candidates(request.argv.at(0), ::getenv("PATH"));
    if (candidates.empty()) return ENOENT;
    std::vector<const char*> paths;
    for (const auto& candidate : candidates) paths.push_back(candidate.c_str());
    std::vector<char*> argv;
    for (const auto& arg : request.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& entry : request.env) envp.push_back(const_cast<char*>(entry.c_str()));
    envp.push_back(nullptr);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;

    // No signal may be delivered in the child before exec (it would run on our stack).
    sigset_t all;
    sigset_t saved;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, &saved);
    volatile int start_error = 0;
    const pid_t pid = ::vfork();
    if (pid == 0) {
        // Only this child's descriptor table changes: vfork shares memory, not descriptors.
        if (request.inherit_fd >= 0) ::fcntl(request.inherit_fd, F_SETFD, 0);
        // Back into the caller's group, which the parent has just left: the
        // command is in it from its first instruction on.
        if (request.process_group != 0) ::setpgid(0, request.process_group);
        for (int sig = 1; sig < NSIG; ++sig) {
            if (sigismember(&request.defaults, sig) == 1) ::sigaction(sig, &default_action, nullptr);
        }
        ::sigprocmask(SIG_SETMASK, &request.mask, nullptr);
        // Past a file we may not run the search goes on too, and reports
        // EACCES if nothing runnable follows.
        bool denied = false;
        int error = ENOENT;
        for (const char* path : paths) {
            ::execve(path, argv.data(), envp.data());
            error = errno;
            if (error == EACCES) denied = true;
            if (error != EACCES && !not_here(error)) break;
        }
        if (denied && not_here(error)) error = EACCES;
        start_error = error;
        ::_exit(127);
    }
    const int fork_error = pid < 0 ? errno : 0;
    ::sigprocmask(SIG_SETMASK, &saved, nullptr);
    if (pid < 0) return fork_error;
    // vfork returns once the child has exec'd or exited.
    if (start_error != 0) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return start_error;
    }
    *child = pid;
    return 0;
}

}  // namespace lokt::client
