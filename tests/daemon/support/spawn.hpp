// Real processes for the daemon tests, with nothing hidden: argv and
// environment in, stdout and stderr into files, optional stdin pipe, waits
// with a deadline, and a destructor that kills what is left so that no failed
// assertion leaves a process behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lokt::daemon_test {

using Millis = std::chrono::milliseconds;

// NAME -> value, starting from this process's environment.
class EnvMap {
public:
    static EnvMap inherited();
    void set(const std::string& name, std::string value) { m_vars[name] = std::move(value); }
    void unset(const std::string& name) { m_vars.erase(name); }
    std::vector<std::string> entries() const;

private:
    std::map<std::string, std::string> m_vars;
};

struct SpawnSpec {
    std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
    EnvMap env = EnvMap::inherited();
    std::filesystem::path cwd;
    std::filesystem::path output;  // stdout and stderr go here ("" for /dev/null)
    bool stdin_pipe = false;
    bool new_process_group = true;
};

class Process {
public:
    explicit Process(const SpawnSpec& spec);  // throws std::runtime_error when it cannot start
    ~Process();
    Process(Process&& other) noexcept;
    Process& operator=(Process&&) = delete;
    Process(const Process&) = delete;

    pid_t pid() const { return m_pid; }
    // The exit status as a shell shows it ($?), once the process ended within the timeout.
    std::optional<int> wait(Millis timeout);
    bool running();
    void signal(int signal_number);
    void close_stdin();
    // TERM, then KILL after the grace period; reaps.
    void stop(Millis grace = Millis(2000));
    std::string output() const;

private:
    pid_t m_pid = -1;
    int m_stdin = -1;
    std::optional<int> m_status;
    std::filesystem::path m_output;
};

// Runs to completion; throws when it outlives the timeout.
int run(const SpawnSpec& spec, Millis timeout, std::string* output = nullptr);

std::string read_file(const std::filesystem::path& path);

}  // namespace lokt::daemon_test
