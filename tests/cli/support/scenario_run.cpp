// What a run of the CLI scenarios adds to the shared test main: it picks the
// backend from LOKT_TEST_BACKEND, ignores SIGPIPE (a child that closes its
// stdin must not kill the runner), and makes this process a subreaper so that
// processes orphaned by a scenario (a guard killed with -9 leaves its command
// behind) are ours to kill, which happens after the last scenario.
#include <signal.h>
#include <sys/prctl.h>

#include <cstdio>
#include <string>

#include "tests/cli/support/test_backend.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_main.hpp"

namespace lokt::cli_test {
namespace {

int start_scenario_run() {
    const auto backend = lokt::test::test_switch("LOKT_TEST_BACKEND");
    if (backend && !backend->empty() && !select_backend(*backend)) {
        std::string known;
        for (const auto& name : known_backends()) known += (known.empty() ? "" : ", ") + name;
        std::fprintf(stderr, "error: LOKT_TEST_BACKEND=%s is not a backend these tests know (known: %s)\n", backend->c_str(),
                     known.c_str());
        return 2;
    }
    ::signal(SIGPIPE, SIG_IGN);
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    std::fprintf(stderr, "lokt CLI scenarios: backend %s\n", backend_name().c_str());
    return 0;
}

[[maybe_unused]] const bool g_scenario_run_hooks =
    lokt::test::add_run_hooks({start_scenario_run, lokt::test::reap_stray_processes});

}  // namespace
}  // namespace lokt::cli_test
