// The doctest main every test program shares (main.cpp). Before any test runs
// it keeps the LOKT_TEST_* switches, then removes every inherited LOKT_*
// variable, so that the developer's environment (a running daemon, LOKT_ROOT)
// cannot change a result. A program that needs more at start or at the end
// registers it here from one of its own files.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace lokt::test {

// The value a LOKT_TEST_* switch had when the program started; they are
// removed from the environment with the other LOKT_* variables.
std::optional<std::string> test_switch(const std::string& name);

struct RunHooks {
    // After the environment is cleaned, before the tests; a non-zero return
    // ends the program with that status and no test runs.
    std::function<int()> before_tests;
    // After the tests, whatever their outcome.
    std::function<void()> after_tests;
};

// Registers hooks; call it from a namespace-scope initializer in a file of
// the test program itself:  const bool registered = add_run_hooks({...});
bool add_run_hooks(RunHooks hooks);

}  // namespace lokt::test
