// Running real programs from a test: argv and environment in, exit status and
// captured stdout/stderr (or a log file) out, with a hard deadline after which
// the whole process tree is killed. No test can hang its suite, whatever the
// binary does. Every suite that starts processes (daemon, CLI) uses this.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lokt::test {

using Millis = std::chrono::milliseconds;

// The environment given to a child, NAME -> value.
class Environment {
public:
    // This process's own environment.
    static Environment inherited();

    void set(const std::string& name, std::string value);
    void unset(const std::string& name);
    std::optional<std::string> get(const std::string& name) const;
    // "NAME=value" strings, sorted by name.
    std::vector<std::string> entries() const;

private:
    std::map<std::string, std::string> m_vars;
};

enum class StdinMode {
    null,  // /dev/null
    pipe,  // a pipe the test writes to and closes (ChildProcess::close_stdin)
};

struct ProcessSpec {
    std::vector<std::string> argv;  // argv[0] is looked up in the child's PATH
    Environment env;                // exactly the child's environment (Environment::inherited() for ours)
    std::filesystem::path cwd;
    StdinMode stdin_mode = StdinMode::null;
    // When set, stdout and stderr both go to this file (appended), as a
    // service's log does, instead of being captured.
    std::filesystem::path output_file;
};

struct ProcessResult {
    std::vector<std::string> argv;
    int exit_code = -1;   // when the process exited
    int term_signal = 0;  // when a signal killed it
    bool timed_out = false;
    std::string out;  // captured stdout; with an output file, what the file holds
    std::string err;  // captured stderr

    // As a shell's $?: the exit code, or 128 + the signal.
    int status() const;
    // The command, its status and its output, for failure messages.
    std::string describe() const;
};

// A child process whose stdout and stderr are captured by a background thread.
// The destructor kills whatever is left of its process tree, so an early
// REQUIRE never leaves a process behind.
class ChildProcess {
public:
    explicit ChildProcess(const ProcessSpec& spec);  // throws std::runtime_error when it cannot start
    ~ChildProcess();
    ChildProcess(ChildProcess&&) noexcept;
    ChildProcess& operator=(ChildProcess&&) noexcept;

    pid_t pid() const;
    std::string stdout_text() const;
    std::string stderr_text() const;
    // The output file's text so far, or the captured stdout and then stderr.
    std::string output() const;

    // Waits until stdout satisfies the predicate (true) or the timeout passes or
    // the process ends without it (false).
    bool wait_for_stdout(const std::function<bool(const std::string&)>& predicate, Millis timeout) const;
    bool wait_for_stdout_containing(std::string_view text, Millis timeout) const;

    void write_stdin(std::string_view text);
    void close_stdin();
    void send_signal(int signal);
    bool has_exited();
    bool running() { return !has_exited(); }

    // The result if the process exits within the timeout; it keeps running otherwise.
    std::optional<ProcessResult> wait_exit(Millis timeout);
    // The same as a shell's $?.
    std::optional<int> wait_status(Millis timeout);
    // Like wait_exit, but on timeout kills the tree and reports timed_out.
    ProcessResult finish(Millis timeout);
    // SIGTERM, then SIGKILL (to its process group too) after the grace period; reaps.
    void stop(Millis grace = Millis(2000));
    void kill_tree();

private:
    struct State;
    std::unique_ptr<State> m_state;
};

// Runs to completion; on timeout the tree is killed and timed_out is set.
ProcessResult run_process(const ProcessSpec& spec, Millis timeout);

// Process inspection through /proc.
// False for a process that is gone or a zombie.
bool process_alive(pid_t pid);
// Field 3 of /proc/PID/stat ('R', 'S', 'Z', ...), or '\0' when there is no such process.
char process_state(pid_t pid);
// Field 22 of /proc/PID/stat: start time in clock ticks since boot.
std::optional<unsigned long long> process_start_ticks(pid_t pid);
// Live processes whose process group is pgid.
std::vector<pid_t> process_group_members(pid_t pgid);
// Every live descendant of a process (children, their children, ...).
std::vector<pid_t> process_descendants(pid_t root);
// Stops, then kills, a process and all of its descendants.
void kill_process_tree(pid_t root);
// Kills and reaps every descendant of this test process that no ChildProcess owns
// (orphans re-parented to us as a subreaper).
void reap_stray_processes();
// A pid that no process has any more (a child that exited and was reaped),
// for tests that judge a dead holder.
pid_t dead_pid();
// Where `command -v name` finds a program on this process's PATH; "" if nowhere.
std::string find_program(const std::string& name);

}  // namespace lokt::test
