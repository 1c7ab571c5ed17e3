// Which backend the scenarios run against. Every scenario is written once; the
// backend is picked per run by LOKT_TEST_BACKEND (read at start-up, before the
// LOKT_* variables are cleared), so running the same scenarios against another
// backend is one more CTest entry: "files" (no daemon) and "daemon" (a private loktd).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace lokt::cli_test {

using lokt::test::Environment;

// One test case's use of the backend: set up when the case starts (it may
// start services under the scratch directory), torn down when it ends.
class BackendSession {
public:
    virtual ~BackendSession() = default;
    // Text attached to a failure, for example a service's log.
    virtual std::string diagnostics() const { return {}; }
    // Kills the backend's daemon with SIGKILL, as a crash; false when there is none.
    virtual bool crash_daemon() { return false; }
    // How many audit subscriptions the daemon counts on this root (0 when it
    // does not serve it); nullopt without a daemon or when it does not answer.
    virtual std::optional<long long> audit_subscriptions(const std::filesystem::path& root) const {
        (void)root;
        return std::nullopt;
    }
    // Sends one request line (JSON, no newline) to the daemon after a hello and
    // returns its reply line ("" when none came); nullopt without a daemon.
    virtual std::optional<std::string> daemon_request(const std::string& json) const {
        (void)json;
        return std::nullopt;
    }
};

// The backends this build of the tests knows.
std::vector<std::string> known_backends();
// Selects the backend for this run; false if the name is unknown.
bool select_backend(const std::string& name);
const std::string& backend_name();
// Adjusts the environment every lokt run of the test case gets.
std::unique_ptr<BackendSession> start_backend_session(Environment& env, const std::filesystem::path& scratch);

}  // namespace lokt::cli_test
