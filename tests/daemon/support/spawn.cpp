// See spawn.hpp.
#include "spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

extern char** environ;

namespace lokt::daemon_test {

EnvMap EnvMap::inherited() {
    EnvMap env;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        std::string text(*entry);
        const auto eq = text.find('=');
        if (eq != std::string::npos) env.m_vars[text.substr(0, eq)] = text.substr(eq + 1);
    }
    return env;
}

std::vector<std::string> EnvMap::entries() const {
    std::vector<std::string> out;
    for (const auto& [name, value] : m_vars) out.push_back(name + "=" + value);
    return out;
}

Process::Process(const SpawnSpec& spec) : m_output(spec.output) {
    int in_pipe[2] = {-1, -1};
    if (spec.stdin_pipe && ::pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> env_text = spec.env.entries();
    std::vector<char*> argv;
    for (const auto& arg : spec.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& entry : env_text) envp.push_back(entry.data());
    envp.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        if (spec.new_process_group) ::setpgid(0, 0);
        if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) ::_exit(126);
        const int in = spec.stdin_pipe ? in_pipe[0] : ::open("/dev/null", O_RDONLY);
        const int out = spec.output.empty() ? ::open("/dev/null", O_WRONLY)
                                            : ::open(spec.output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        ::dup2(in, STDIN_FILENO);
        ::dup2(out, STDOUT_FILENO);
        ::dup2(out, STDERR_FILENO);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::execvpe(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    m_pid = pid;
    if (spec.stdin_pipe) {
        ::close(in_pipe[0]);
        m_stdin = in_pipe[1];
    }
}

Process::Process(Process&& other) noexcept
    : m_pid(std::exchange(other.m_pid, -1)),
      m_stdin(std::exchange(other.m_stdin, -1)),
      m_status(other.m_status),
      m_output(std::move(other.m_output)) {}

Process::~Process() {
    if (m_pid > 0 && !m_status) stop(Millis(500));
    if (m_stdin >= 0) ::close(m_stdin);
}

std::optional<int> Process::wait(Millis timeout) {
    if (m_status) return m_status;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t got = ::waitpid(m_pid, &status, WNOHANG);
        if (got == m_pid) {
            m_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return m_status;
        }
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(Millis(2));
    }
}

bool Process::running() { return !wait(Millis(0)).has_value(); }

void Process::signal(int signal_number) {
    if (m_pid > 0 && !m_status) ::kill(m_pid, signal_number);
}

void Process::close_stdin() {
    if (m_stdin >= 0) ::close(m_stdin);
    m_stdin = -1;
}

void Process::stop(Millis grace) {
    if (m_pid <= 0 || m_status) return;
    ::kill(m_pid, SIGTERM);
    if (wait(grace)) return;
    ::kill(-m_pid, SIGKILL);  // its process group, when it leads one
    ::kill(m_pid, SIGKILL);
    (void)wait(Millis(5000));
}

std::string Process::output() const { return m_output.empty() ? std::string() : read_file(m_output); }

int run(const SpawnSpec& spec, Millis timeout, std::string* output) {
    Process process(spec);
    auto status = process.wait(timeout);
    if (output != nullptr) *output = process.output();
    if (!status) throw std::runtime_error("timed out: " + spec.argv.front());
    return *status;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace lokt::daemon_test
