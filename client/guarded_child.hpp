// Runs the command under `lokt guard`: in its own process group (so a signal
// reaches all of it), given the terminal when we have it, with INT, TERM, HUP
// and QUIT forwarded, and a periodic heartbeat while it runs.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lokt::client {

struct ChildSpec {
    std::vector<std::string> argv;
    std::vector<std::pair<std::string, std::string>> extra_env;
    // Called every interval while the child runs (zero: never). Returns false when
    // the hold is lost; the child is then terminated if terminate_on_lost.
    std::chrono::nanoseconds heartbeat_interval{0};
    std::function<bool()> heartbeat;
    bool terminate_on_lost = true;
};

struct ChildOutcome {
    int exit_status = 0;       // the child's status, or 128+N if killed by signal N
    bool spawn_failed = false;  // the command could not be started (message already printed)
    bool lost = false;          // a heartbeat reported the hold lost
};

ChildOutcome run_guarded_child(const ChildSpec& spec);

}  // namespace lokt::client
