// See process.hpp. Children are started with fork/execve (every argument is
// prepared before the fork, the child only calls async-signal-safe functions),
// each in its own process group, with every signal's action and the signal
// mask reset.
#include "tests/support/process.hpp"

#include "tests/support/text_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace lokt::test {
namespace {

using Clock = std::chrono::steady_clock;

// Pids owned by a live ChildProcess: reap_stray_processes leaves them alone.
std::mutex g_owned_mutex;
std::set<pid_t> g_owned_pids;

void own_pid(pid_t pid) {
    std::lock_guard lock(g_owned_mutex);
    g_owned_pids.insert(pid);
}

void disown_pid(pid_t pid) {
    std::lock_guard lock(g_owned_mutex);
    g_owned_pids.erase(pid);
}

bool is_owned(pid_t pid) {
    std::lock_guard lock(g_owned_mutex);
    return g_owned_pids.count(pid) != 0;
}

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

std::string resolve_program(const std::string& program, const Environment& env) {
    if (program.find('/') != std::string::npos) return program;
    const std::string path = env.get("PATH").value_or("/usr/local/bin:/usr/bin:/bin");
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty()) dir = ".";
        const std::string candidate = dir + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return program;  // execve fails with ENOENT and the parent reports it
}

// The fields after the command name of /proc/PID/stat; empty if unreadable.
std::vector<std::string> stat_fields(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!std::getline(in, text)) return {};
    const auto close = text.rfind(')');
    if (close == std::string::npos) return {};
    std::stringstream rest(text.substr(close + 1));
    std::vector<std::string> fields;
    for (std::string field; rest >> field;) fields.push_back(field);
    return fields;  // fields[0] is field 3 (state), fields[1] field 4 (ppid), ...
}

std::map<pid_t, std::vector<pid_t>> children_by_parent() {
    std::map<pid_t, std::vector<pid_t>> children;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return children;
    while (struct dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || pid <= 0) continue;
        const auto fields = stat_fields(static_cast<pid_t>(pid));
        if (fields.size() < 2 || fields[0] == "Z" || fields[0] == "X") continue;
        children[static_cast<pid_t>(std::stol(fields[1]))].push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
    return children;
}

std::vector<pid_t> descendants_in(const std::map<pid_t, std::vector<pid_t>>& children, pid_t root) {
    std::vector<pid_t> found;
    std::vector<pid_t> pending{root};
    while (!pending.empty()) {
        const pid_t parent = pending.back();
        pending.pop_back();
        auto it = children.find(parent);
        if (it == children.end()) continue;
        for (pid_t child : it->second) {
            if (std::find(found.begin(), found.end(), child) != found.end()) continue;
            found.push_back(child);
            pending.push_back(child);
        }
    }
    return found;
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

}  // namespace

// ---- Environment ----------------------------------------------------------

Environment Environment::inherited() {
    Environment env;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string text(*entry);
        const auto equals = text.find('=');
        if (equals == std::string::npos || equals == 0) continue;
        env.m_vars[text.substr(0, equals)] = text.substr(equals + 1);
    }
    return env;
}

void Environment::set(const std::string& name, std::string value) { m_vars[name] = std::move(value); }

void Environment::unset(const std::string& name) { m_vars.erase(name); }

std::optional<std::string> Environment::get(const std::string& name) const {
    auto it = m_vars.find(name);
    if (it == m_vars.end()) return std::nullopt;
    return it->second;
}

std::vector<std::string> Environment::entries() const {
    std::vector<std::string> out;
    out.reserve(m_vars.size());
    for (const auto& [name, value] : m_vars) out.push_back(name + "=" + value);
    return out;
}

// ---- ProcessResult --------------------------------------------------------

int ProcessResult::status() const {
    if (term_signal != 0) return 128 + term_signal;
    return exit_code;
}

std::string ProcessResult::describe() const {
    std::string text = "$";
    for (const auto& arg : argv) text += " " + arg;
    text += "\n";
    if (timed_out) text += "TIMED OUT (process tree killed)\n";
    if (term_signal != 0)
        text += "killed by signal " + std::to_string(term_signal) + "\n";
    else
        text += "exit " + std::to_string(exit_code) + "\n";
    auto clip = [](const std::string& s) {
        constexpr std::size_t k_limit = 4000;
        return s.size() <= k_limit ? s : s.substr(0, k_limit) + "\n[... " + std::to_string(s.size() - k_limit) + " more bytes]";
    };
    text += "--- stdout\n" + clip(out);
    if (!out.empty() && out.back() != '\n') text += "\n";
    text += "--- stderr\n" + clip(err);
    if (!err.empty() && err.back() != '\n') text += "\n";
    return text;
}

// ---- ChildProcess ---------------------------------------------------------

struct ChildProcess::State {
    std::vector<std::string> argv;
    std::filesystem::path output_file;
    pid_t pid = -1;
    int pidfd = -1;
    int stdin_fd = -1;
    int stdout_fd = -1;
    int stderr_fd = -1;
    int wake_read = -1;
    int wake_write = -1;

    mutable std::mutex mutex;
    mutable std::condition_variable changed;
    std::string out;
    std::string err;
    bool capture_done = false;
    std::thread reader;

    std::optional<ProcessResult> result;

    ~State() {
        close_fd(pidfd);
        close_fd(stdin_fd);
        close_fd(stdout_fd);
        close_fd(stderr_fd);
        close_fd(wake_read);
        close_fd(wake_write);
    }

    void capture() {
        bool out_open = true;
        bool err_open = true;
        char buffer[16384];
        auto drain = [&](int fd, std::string& into, bool& open) {
            for (;;) {
                const ssize_t got = ::read(fd, buffer, sizeof buffer);
                if (got > 0) {
                    std::lock_guard lock(mutex);
                    into.append(buffer, static_cast<std::size_t>(got));
                    continue;
                }
                if (got == 0)
                    open = false;
                else if (errno == EINTR)
                    continue;
                else if (errno != EAGAIN)
                    open = false;
                return;
            }
        };
        for (;;) {
            struct pollfd fds[3] = {
                {out_open ? stdout_fd : -1, POLLIN, 0}, {err_open ? stderr_fd : -1, POLLIN, 0}, {wake_read, POLLIN, 0}};
            if (::poll(fds, 3, -1) < 0 && errno != EINTR) break;
            if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) drain(stdout_fd, out, out_open);
            if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) drain(stderr_fd, err, err_open);
            changed.notify_all();
            if ((fds[2].revents & POLLIN) != 0) {
                // The process has exited: whatever it wrote is in the pipes now.
                if (out_open) drain(stdout_fd, out, out_open);
                if (err_open) drain(stderr_fd, err, err_open);
                break;
            }
            if (!out_open && !err_open) break;
        }
        std::lock_guard lock(mutex);
        capture_done = true;
        changed.notify_all();
    }

    void stop_capture() {
        if (!reader.joinable()) return;
        const char byte = 1;
        (void)!::write(wake_write, &byte, 1);
        reader.join();
    }

    // Reaps the child if it has exited; true when it has.
    bool try_reap(int flags) {
        if (result) return true;
        int status = 0;
        pid_t got;
        do {
            got = ::waitpid(pid, &status, flags);
        } while (got < 0 && errno == EINTR);
        if (got != pid) return false;
        stop_capture();
        ProcessResult r;
        r.argv = argv;
        if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
        if (!output_file.empty()) {
            r.out = read_text(output_file);
        } else {
            std::lock_guard lock(mutex);
            r.out = out;
            r.err = err;
        }
        result = std::move(r);
        disown_pid(pid);
        close_fd(pidfd);
        return true;
    }
};

ChildProcess::ChildProcess(const ProcessSpec& spec) : m_state(std::make_unique<State>()) {
    State& s = *m_state;
    if (spec.argv.empty()) throw std::runtime_error("ChildProcess: empty argv");
    s.argv = spec.argv;
    s.output_file = spec.output_file;

    // Everything the child needs, prepared before fork.
    const std::string program = resolve_program(spec.argv[0], spec.env);
    std::vector<std::string> env_storage = spec.env.entries();
    std::vector<char*> envp;
    for (auto& entry : env_storage) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_storage = spec.argv;
    std::vector<char*> argv;
    for (auto& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const std::string cwd = spec.cwd.string();

    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, exec_pipe[2], wake_pipe[2];
    if (spec.stdin_mode == StdinMode::pipe) {
        if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    } else {
        in_pipe[0] = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (!spec.output_file.empty()) {
        // One descriptor for both, so the file reads as a terminal would show them.
        out_pipe[1] = ::open(spec.output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (out_pipe[1] < 0) {
            throw std::runtime_error("cannot open " + spec.output_file.string() + ": " + std::strerror(errno));
        }
        err_pipe[1] = ::dup(out_pipe[1]);
    } else if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("pipe2 failed: ") + std::strerror(errno));
    }
    if (::pipe2(exec_pipe, O_CLOEXEC) != 0 || ::pipe2(wake_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("pipe2 failed: ") + std::strerror(errno));
    }

    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
    if (pid == 0) {
        ::setpgid(0, 0);
        ::dup2(in_pipe[0], STDIN_FILENO);
        ::dup2(out_pipe[1], STDOUT_FILENO);
        ::dup2(err_pipe[1], STDERR_FILENO);
        struct sigaction default_action {};
        default_action.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; ++sig) {
            if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &default_action, nullptr);
        }
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
            const int error = errno;
            (void)!::write(exec_pipe[1], &error, sizeof error);
            ::_exit(127);
        }
        ::execve(program.c_str(), argv.data(), envp.data());
        const int error = errno;
        (void)!::write(exec_pipe[1], &error, sizeof error);
        ::_exit(127);
    }

    s.pid = pid;
    own_pid(pid);
    ::setpgid(pid, pid);  // also from here, so it holds before we signal the group
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    ::close(exec_pipe[1]);
    s.stdin_fd = in_pipe[1];
    s.stdout_fd = out_pipe[0];
    s.stderr_fd = err_pipe[0];
    s.wake_read = wake_pipe[0];
    s.wake_write = wake_pipe[1];
    if (s.stdout_fd >= 0) ::fcntl(s.stdout_fd, F_SETFL, O_NONBLOCK);
    if (s.stderr_fd >= 0) ::fcntl(s.stderr_fd, F_SETFL, O_NONBLOCK);

    int exec_error = 0;
    ssize_t got;
    do {
        got = ::read(exec_pipe[0], &exec_error, sizeof exec_error);
    } while (got < 0 && errno == EINTR);
    ::close(exec_pipe[0]);
    if (got == static_cast<ssize_t>(sizeof exec_error)) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        disown_pid(pid);
        throw std::runtime_error("cannot run " + program + " in " + cwd + ": " + std::strerror(exec_error));
    }
    s.pidfd = open_pidfd(pid);
    if (s.output_file.empty()) {
        s.reader = std::thread([&s] { s.capture(); });
    } else {
        s.capture_done = true;  // the file has it all
    }
}

ChildProcess::ChildProcess(ChildProcess&&) noexcept = default;
ChildProcess& ChildProcess::operator=(ChildProcess&&) noexcept = default;

ChildProcess::~ChildProcess() {
    if (!m_state) return;
    if (!m_state->result) {
        kill_tree();
        m_state->try_reap(0);
    }
    m_state->stop_capture();
}

pid_t ChildProcess::pid() const { return m_state->pid; }

std::string ChildProcess::stdout_text() const {
    std::lock_guard lock(m_state->mutex);
    return m_state->out;
}

std::string ChildProcess::stderr_text() const {
    std::lock_guard lock(m_state->mutex);
    return m_state->err;
}

std::string ChildProcess::output() const {
    if (!m_state->output_file.empty()) return read_text(m_state->output_file);
    std::lock_guard lock(m_state->mutex);
    return m_state->out + m_state->err;
}

bool ChildProcess::wait_for_stdout(const std::function<bool(const std::string&)>& predicate, Millis timeout) const {
    std::unique_lock lock(m_state->mutex);
    return m_state->changed.wait_for(lock, timeout, [&] { return predicate(m_state->out) || m_state->capture_done; }) &&
           predicate(m_state->out);
}

bool ChildProcess::wait_for_stdout_containing(std::string_view text, Millis timeout) const {
    return wait_for_stdout([text](const std::string& out) { return out.find(text) != std::string::npos; }, timeout);
}

void ChildProcess::write_stdin(std::string_view text) {
    while (!text.empty() && m_state->stdin_fd >= 0) {
        const ssize_t wrote = ::write(m_state->stdin_fd, text.data(), text.size());
        if (wrote < 0) {
            if (errno == EINTR) continue;
            return;
        }
        text.remove_prefix(static_cast<std::size_t>(wrote));
    }
}

void ChildProcess::close_stdin() { close_fd(m_state->stdin_fd); }

void ChildProcess::send_signal(int signal) {
    if (!m_state->result) ::kill(m_state->pid, signal);
}

bool ChildProcess::has_exited() { return m_state->try_reap(WNOHANG); }

std::optional<ProcessResult> ChildProcess::wait_exit(Millis timeout) {
    State& s = *m_state;
    const auto deadline = Clock::now() + timeout;
    while (!s.try_reap(WNOHANG)) {
        const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0) return std::nullopt;
        if (s.pidfd >= 0) {
            struct pollfd pfd = {s.pidfd, POLLIN, 0};
            ::poll(&pfd, 1, static_cast<int>(left.count()) + 1);
        } else {
            std::this_thread::sleep_for(std::min(left, Millis(5)));
        }
    }
    return s.result;
}

std::optional<int> ChildProcess::wait_status(Millis timeout) {
    auto done = wait_exit(timeout);
    if (!done) return std::nullopt;
    return done->status();
}

ProcessResult ChildProcess::finish(Millis timeout) {
    if (auto done = wait_exit(timeout)) return *done;
    kill_tree();
    m_state->try_reap(0);
    ProcessResult r = *m_state->result;
    r.timed_out = true;
    return r;
}

void ChildProcess::stop(Millis grace) {
    if (m_state->result) return;
    ::kill(m_state->pid, SIGTERM);
    if (wait_exit(grace)) return;
    ::kill(-m_state->pid, SIGKILL);  // its process group, which it leads
    ::kill(m_state->pid, SIGKILL);
    (void)wait_exit(Millis(5000));
}

void ChildProcess::kill_tree() {
    if (!m_state->result) kill_process_tree(m_state->pid);
}

ProcessResult run_process(const ProcessSpec& spec, Millis timeout) {
    ChildProcess child(spec);
    return child.finish(timeout);
}

// ---- /proc ---------------------------------------------------------------

char process_state(pid_t pid) {
    const auto fields = stat_fields(pid);
    if (fields.empty() || fields[0].empty()) return '\0';
    return fields[0][0];
}

bool process_alive(pid_t pid) {
    const char state = process_state(pid);
    return state != '\0' && state != 'Z' && state != 'X';
}

std::optional<unsigned long long> process_start_ticks(pid_t pid) {
    const auto fields = stat_fields(pid);
    if (fields.size() < 20) return std::nullopt;
    return std::stoull(fields[19]);  // field 22
}

std::vector<pid_t> process_group_members(pid_t pgid) {
    std::vector<pid_t> members;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return members;
    while (struct dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || pid <= 0) continue;
        const auto fields = stat_fields(static_cast<pid_t>(pid));
        if (fields.size() < 3 || fields[0] == "Z" || fields[0] == "X") continue;
        if (std::stol(fields[2]) == pgid) members.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
    return members;
}

std::vector<pid_t> process_descendants(pid_t root) { return descendants_in(children_by_parent(), root); }

void kill_process_tree(pid_t root) {
    // Stop everything first so nobody forks a new child behind our back, then kill.
    std::vector<pid_t> stopped;
    if (::kill(root, SIGSTOP) == 0) stopped.push_back(root);
    for (int round = 0; round < 8; ++round) {
        bool more = false;
        for (pid_t pid : descendants_in(children_by_parent(), root)) {
            if (std::find(stopped.begin(), stopped.end(), pid) != stopped.end()) continue;
            if (::kill(pid, SIGSTOP) == 0) {
                stopped.push_back(pid);
                more = true;
            }
        }
        if (!more) break;
    }
    for (pid_t pid : stopped) ::kill(pid, SIGKILL);
    for (pid_t pid : stopped) ::kill(pid, SIGCONT);
}

void reap_stray_processes() {
    const pid_t self = ::getpid();
    const auto children = children_by_parent();
    std::set<pid_t> spared;
    {
        std::lock_guard lock(g_owned_mutex);
        for (pid_t owned : g_owned_pids) {
            spared.insert(owned);
            for (pid_t pid : descendants_in(children, owned)) spared.insert(pid);
        }
    }
    for (pid_t pid : descendants_in(children, self)) {
        if (spared.count(pid) == 0) ::kill(pid, SIGKILL);
    }
    // Reap our direct children that nobody owns (orphans re-parented to us).
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return;
    std::vector<pid_t> ours;
    while (struct dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || pid <= 0) continue;
        const auto fields = stat_fields(static_cast<pid_t>(pid));
        if (fields.size() >= 2 && std::stol(fields[1]) == self && !is_owned(static_cast<pid_t>(pid))) {
            ours.push_back(static_cast<pid_t>(pid));
        }
    }
    ::closedir(proc);
    for (pid_t pid : ours) {
        int status = 0;
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

pid_t dead_pid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return child;
}

std::string find_program(const std::string& name) {
    ProcessSpec spec;
    spec.argv = {"/bin/sh", "-c", "command -v \"$0\"", name};
    spec.env = Environment::inherited();
    const ProcessResult result = run_process(spec, Millis(5000));
    if (result.status() != 0) return "";
    std::string path = result.out;
    while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
    return path;
}

}  // namespace lokt::test
