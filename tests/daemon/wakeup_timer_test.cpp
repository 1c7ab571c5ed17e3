// The daemon's own one-shot timer: it fires, and a cancel or a re-arm ends the
// pending wait at once and leaves nothing armed behind.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>

#include "daemon/wakeup_timer.hpp"

using namespace std::chrono_literals;
using lokt::daemon::WakeupTimer;

TEST_CASE("a WakeupTimer fires once its time comes") {
    asio::io_context io;
    WakeupTimer timer(io.get_executor());
    std::optional<asio::error_code> result;
    const auto armed = std::chrono::steady_clock::now();
    timer.expires_after(20ms);
    timer.async_wait([&](const asio::error_code& error) { result = error; });
    io.run();
    REQUIRE(result.has_value());
    CHECK_FALSE(*result);
    CHECK(std::chrono::steady_clock::now() - armed >= 20ms);
}

TEST_CASE("a time already past fires at once") {
    asio::io_context io;
    WakeupTimer timer(io.get_executor());
    std::optional<asio::error_code> result;
    timer.expires_at(std::chrono::steady_clock::now() - 1s);
    timer.async_wait([&](const asio::error_code& error) { result = error; });
    io.run();
    REQUIRE(result.has_value());
    CHECK_FALSE(*result);
}

TEST_CASE("cancel ends the wait with operation_aborted and leaves no work behind") {
    asio::io_context io;
    WakeupTimer timer(io.get_executor());
    std::optional<asio::error_code> result;
    timer.expires_after(1h);
    timer.async_wait([&](const asio::error_code& error) { result = error; });
    timer.cancel();
    // run() returns only when no work is left: a wait still armed for an hour would block it.
    io.run();
    REQUIRE(result.has_value());
    CHECK(*result == asio::error::operation_aborted);
}

TEST_CASE("re-arming aborts the pending wait; the new one fires") {
    asio::io_context io;
    WakeupTimer timer(io.get_executor());
    std::optional<asio::error_code> first, second;
    timer.expires_after(1h);
    timer.async_wait([&](const asio::error_code& error) { first = error; });
    timer.expires_after(5ms);
    timer.async_wait([&](const asio::error_code& error) { second = error; });
    io.run();
    REQUIRE(first.has_value());
    CHECK(*first == asio::error::operation_aborted);
    REQUIRE(second.has_value());
    CHECK_FALSE(*second);
}
