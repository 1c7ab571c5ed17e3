// A private loktd for one test: its own socket and log under a scratch
// directory, started in the foreground, ready once `hello` answers, stopped
// with TERM then KILL. Also usable from the CLI scenario suite to run every
// scenario against a daemon: set LOKT_SOCKET=socket() and LOKT_DAEMON=require
// in the environment of the lokt runs (see env_for_clients()).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/process.hpp"

namespace lokt::daemon_test {

using lokt::test::Millis;

// The loktd and lokt this build made (paths baked in at build time).
const std::filesystem::path& loktd_binary();
const std::filesystem::path& lokt_binary();

// Sends hello on a fresh connection; true when the daemon answered ok in time.
bool hello_answers(const std::filesystem::path& socket, Millis timeout);
// One request line on a fresh connection after hello; the reply line, or "" on failure.
std::string request_line(const std::filesystem::path& socket, const std::string& json, Millis timeout);
// `daemon_status` numbers, or nullopt when the daemon does not answer.
struct DaemonCounts {
    long long connections = 0;
    long long holds = 0;
    long long waiters = 0;
};
std::optional<DaemonCounts> daemon_counts(const std::filesystem::path& socket);

class DaemonInstance {
public:
    // state_dir is created (0700) and holds loktd.sock and loktd.log.
    // `launcher`, if given, runs loktd: its argv comes first, then loktd's
    // (it must exec loktd, so that pid() is the daemon's).
    explicit DaemonInstance(std::filesystem::path state_dir, std::vector<std::string> extra_args = {},
                            std::vector<std::string> launcher = {});
    ~DaemonInstance();
    DaemonInstance(const DaemonInstance&) = delete;
    DaemonInstance& operator=(const DaemonInstance&) = delete;

    const std::filesystem::path& socket() const { return m_socket; }
    const std::filesystem::path& log_path() const { return m_log; }
    std::string log() const;
    pid_t pid() const;

    // Starts loktd (again) and waits until hello answers; throws on failure.
    void start();
    // TERM, then KILL after a grace period.
    void stop();
    // kill -9, as a crash.
    void crash();
    bool running();

    // The variables a lokt run needs to use this daemon and nothing else.
    std::vector<std::pair<std::string, std::string>> env_for_clients() const;

private:
    std::filesystem::path m_state_dir;
    std::filesystem::path m_socket;
    std::filesystem::path m_log;
    std::vector<std::string> m_extra_args;
    std::vector<std::string> m_launcher;
    std::optional<lokt::test::ChildProcess> m_process;
};

}  // namespace lokt::daemon_test
