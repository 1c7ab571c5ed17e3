// Waiting for a condition instead of sleeping for a time that "should be long
// enough": the condition is checked until it holds or a deadline passes, and
// the caller asserts on the answer.
#pragma once

#include <chrono>
#include <functional>

namespace lokt::test {

// True as soon as condition() is true; false if it is still false at the deadline.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(10));

}  // namespace lokt::test
