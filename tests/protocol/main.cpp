// Entry point of protocol_tests. It reads the one LOKT_TEST_* switch these tests
// know, then unsets every inherited LOKT_* variable so that nothing in the
// environment can change a result.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace lokt::protocol::test {
namespace {
bool g_accept = false;
}  // namespace

bool accept_golden_files() { return g_accept; }

}  // namespace lokt::protocol::test

namespace {

void unset_lokt_environment() {
    std::vector<std::string> names;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        if (text.substr(0, 5) == "LOKT_") names.emplace_back(text.substr(0, text.find('=')));
    }
    for (const auto& name : names) unsetenv(name.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    const char* accept = std::getenv("LOKT_TEST_ACCEPT");
    lokt::protocol::test::g_accept = accept != nullptr && std::string_view(accept) == "1";
    unset_lokt_environment();

    doctest::Context context(argc, argv);
    return context.run();
}
