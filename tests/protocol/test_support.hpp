// What the protocol tests share beyond doctest: the golden-file accept switch.
#pragma once

#include "tests/support/test_main.hpp"

namespace lokt::protocol::test {

// True when LOKT_TEST_ACCEPT=1 was set: golden files are rewritten, not compared.
// Read by the shared test main at start-up, before every inherited LOKT_*
// variable is unset.
inline bool accept_golden_files() { return lokt::test::test_switch("LOKT_TEST_ACCEPT") == "1"; }

}  // namespace lokt::protocol::test
