// The test runner of every suite: doctest's main, with every inherited LOKT_*
// variable removed first (see test_main.hpp).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/test_main.hpp"

extern char** environ;

namespace lokt::test {
namespace {

std::map<std::string, std::string>& kept_switches() {
    static std::map<std::string, std::string> switches;
    return switches;
}

std::vector<RunHooks>& registered_hooks() {
    static std::vector<RunHooks> hooks;
    return hooks;
}

// Keeps the LOKT_TEST_* values, then unsets every LOKT_* variable.
void clean_environment() {
    std::vector<std::string> names;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        if (text.substr(0, 5) != "LOKT_") continue;
        const auto equals = text.find('=');
        names.emplace_back(text.substr(0, equals));
        if (text.substr(0, 10) == "LOKT_TEST_" && equals != std::string_view::npos) {
            kept_switches()[names.back()] = std::string(text.substr(equals + 1));
        }
    }
    for (const auto& name : names) ::unsetenv(name.c_str());
}

}  // namespace

std::optional<std::string> test_switch(const std::string& name) {
    auto it = kept_switches().find(name);
    if (it == kept_switches().end()) return std::nullopt;
    return it->second;
}

bool add_run_hooks(RunHooks hooks) {
    registered_hooks().push_back(std::move(hooks));
    return true;
}

}  // namespace lokt::test

int main(int argc, char** argv) {
    lokt::test::clean_environment();
    for (const auto& hooks : lokt::test::registered_hooks()) {
        if (!hooks.before_tests) continue;
        if (const int status = hooks.before_tests(); status != 0) return status;
    }
    doctest::Context context(argc, argv);
    const int failed = context.run();
    for (const auto& hooks : lokt::test::registered_hooks()) {
        if (hooks.after_tests) hooks.after_tests();
    }
    return failed;
}
