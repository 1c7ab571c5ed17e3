// Durations as users type them, and as lokt prints them.
#include <doctest/doctest.h>

#include "common/duration.hpp"

using namespace std::chrono_literals;
using lokt::parse_duration;

TEST_CASE("Go-style durations and bare seconds parse exactly") {
    CHECK(*parse_duration("300ms") == 300ms);
    CHECK(*parse_duration("90s") == 90s);
    CHECK(*parse_duration("5m") == 5min);
    CHECK(*parse_duration("1h30m") == 90min);
    CHECK(*parse_duration("1.5h") == 90min);
    CHECK(*parse_duration("300") == 300s);
    CHECK(*parse_duration("0") == 0s);
    CHECK(*parse_duration("2us") == 2us);
    CHECK(*parse_duration("7ns") == 7ns);
    CHECK(*parse_duration("1m0.5s") == 60500ms);
    CHECK(*parse_duration("1d") == 24h);
    CHECK(*parse_duration("2d12h") == 60h);
    CHECK(*parse_duration("0.5d") == 12h);
}

TEST_CASE("malformed durations are usage errors that quote the input") {
    for (const char* bad :
         {"", "-5s", "abc", "5x", "m", "1h-3m", "+3s", "1..5s", "99999999999999999h", "1w", "d", "99999999999d"}) {
        auto parsed = parse_duration(bad);
        INFO("input: " << bad);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().code == lokt::ErrorCode::usage);
        CHECK(parsed.error().message.find(std::string("\"") + bad + "\"") != std::string::npos);
    }
}

TEST_CASE("durations print compactly") {
    CHECK(lokt::format_duration(12s) == "12s");
    CHECK(lokt::format_duration(288s) == "4m48s");
    CHECK(lokt::format_duration(3723s) == "1h2m3s");
    CHECK(lokt::format_duration(450ms) == "450ms");
    CHECK(lokt::format_duration(-5s) == "0ms");
}

TEST_CASE("one range for TTLs and waits, with the message both backends give") {
    CHECK(lokt::check_duration_range("--ttl", 1s, lokt::k_min_ttl).ok());
    CHECK(lokt::check_duration_range("--ttl", 8760h, lokt::k_min_ttl).ok());
    CHECK(lokt::check_duration_range("--timeout", 0s, 0s).ok());

    auto too_long = lokt::check_duration_range("--ttl", 8760h + 1ns, lokt::k_min_ttl);
    REQUIRE_FALSE(too_long.ok());
    CHECK(too_long.error().code == lokt::ErrorCode::usage);
    CHECK(too_long.error().message == "--ttl: at most 8760h (one year)");
    CHECK(lokt::check_duration_range("--timeout", *parse_duration("99999h"), 0s).error().message ==
          "--timeout: at most 8760h (one year)");

    auto too_short = lokt::check_duration_range("--ttl", 999ms, lokt::k_min_ttl);
    REQUIRE_FALSE(too_short.ok());
    CHECK(too_short.error().code == lokt::ErrorCode::usage);
    CHECK(too_short.error().message == "--ttl: at least 1s");
}
