// What the protocol tests share beyond doctest: the golden-file accept switch.
#pragma once

namespace lokt::protocol::test {

// True when LOKT_TEST_ACCEPT=1 was set: golden files are rewritten, not compared.
// Read once at start-up, before every inherited LOKT_* variable is unset.
bool accept_golden_files();

}  // namespace lokt::protocol::test
