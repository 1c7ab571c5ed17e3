// The daemon test runner: doctest's main with every inherited LOKT_* variable
// removed, so the developer's environment (a running daemon, LOKT_ROOT)
// cannot change a result.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

extern char** environ;

namespace lokt::daemon_test {
// True once an assertion of the running test case failed (used by the fixture).
bool current_test_failed() { return doctest::detail::g_cs->numAssertsFailedCurrentTest_atomic > 0; }
}  // namespace lokt::daemon_test

int main(int argc, char** argv) {
    std::vector<std::string> inherited;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        std::string text(*entry);
        if (text.rfind("LOKT_", 0) == 0) inherited.push_back(text.substr(0, text.find('=')));
    }
    for (const auto& name : inherited) ::unsetenv(name.c_str());
    doctest::Context context;
    context.applyCommandLine(argc, argv);
    return context.run();
}
