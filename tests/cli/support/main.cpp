// The CLI scenario runner: doctest's main, plus what makes runs reproducible and
// leak-free. It picks the backend from LOKT_TEST_BACKEND, then removes every
// inherited LOKT_* variable so the developer's environment cannot change a
// result, and makes this process a subreaper so that processes orphaned by a
// scenario (a guard killed with -9 leaves its command behind) are ours to kill.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/prctl.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "process.hpp"
#include "test_backend.hpp"

extern char** environ;

namespace {

void unset_lokt_environment() {
    std::vector<std::string> names;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        if (text.substr(0, 5) == "LOKT_") names.emplace_back(text.substr(0, text.find('=')));
    }
    for (const auto& name : names) ::unsetenv(name.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    const char* backend = std::getenv("LOKT_TEST_BACKEND");
    if (backend != nullptr && *backend != '\0' && !lokt::cli_test::select_backend(backend)) {
        std::string known;
        for (const auto& name : lokt::cli_test::known_backends()) known += (known.empty() ? "" : ", ") + name;
        std::fprintf(stderr, "error: LOKT_TEST_BACKEND=%s is not a backend these tests know (known: %s)\n", backend,
                     known.c_str());
        return 2;
    }
    unset_lokt_environment();
    ::signal(SIGPIPE, SIG_IGN);  // a child that closes its stdin must not kill the runner
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    std::fprintf(stderr, "lokt CLI scenarios: backend %s\n", lokt::cli_test::backend_name().c_str());

    doctest::Context context(argc, argv);
    const int failed = context.run();
    lokt::cli_test::reap_stray_processes();
    return failed;
}
