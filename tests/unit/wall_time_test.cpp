// RFC 3339 times as they are written to and read from lock files.
#include <doctest/doctest.h>

#include "common/wall_time.hpp"

using namespace std::chrono;
using lokt::format_rfc3339;
using lokt::parse_rfc3339;

TEST_CASE("formatting keeps up to nine fractional digits and drops trailing zeros") {
    const lokt::WallTime base = sys_days{2026y / 11 / 22} + 12h + 50min + 13s;
    CHECK(format_rfc3339(base) == "2026-11-22T12:50:13Z");
    CHECK(format_rfc3339(base + 468669729ns) == "2026-11-22T12:50:13.468669729Z");
    CHECK(format_rfc3339(base + 500ms) == "2026-11-22T12:50:13.5Z");
    CHECK(lokt::format_rfc3339_seconds(base + 999ms) == "2026-11-22T12:50:13Z");
    CHECK(format_rfc3339(lokt::WallTime(sys_days{1970y / 1 / 1} + 1ns)) == "1970-01-01T00:00:00.000000001Z");
}

TEST_CASE("the extremes of the representable range format as RFC 3339") {
    CHECK(format_rfc3339(lokt::WallTime::max()) == "2262-04-11T23:47:16.854775807Z");
    CHECK(format_rfc3339(lokt::WallTime::min()) == "1677-09-21T00:12:43.145224192Z");
    CHECK(*parse_rfc3339(format_rfc3339(lokt::WallTime::max())) == lokt::WallTime::max());
    CHECK(*parse_rfc3339(format_rfc3339(lokt::WallTime::min())) == lokt::WallTime::min());
    CHECK(lokt::format_rfc3339_seconds(lokt::WallTime::min()) == "1677-09-21T00:12:43Z");
    CHECK(lokt::format_rfc3339_seconds(lokt::WallTime(-1ns)) == "1969-12-31T23:59:59Z");
    CHECK(format_rfc3339(lokt::WallTime(-1ns)) == "1969-12-31T23:59:59.999999999Z");
}

TEST_CASE("parsing accepts any RFC 3339 form and round-trips") {
    const lokt::WallTime base = sys_days{2026y / 2 / 7} + 15h + 30min;
    CHECK(*parse_rfc3339("2026-02-07T15:30:00Z") == base);
    CHECK(*parse_rfc3339("2026-02-07T16:30:00+01:00") == base);
    CHECK(*parse_rfc3339("2026-02-07t10:30:00-05:00") == base);
    CHECK(*parse_rfc3339("2026-02-07T15:30:00.000000001Z") == base + 1ns);
    const auto now = lokt::wall_now();
    CHECK(*parse_rfc3339(format_rfc3339(now)) == now);
}

TEST_CASE("times beyond 64-bit nanoseconds are clamped to the nearest end, never overflowed") {
    CHECK(*parse_rfc3339("4052-11-22T12:55:13.468669729Z") == lokt::WallTime::max());
    CHECK(*parse_rfc3339("9999-12-31T23:59:59+14:00") == lokt::WallTime::max());
    CHECK(*parse_rfc3339("1013-01-01T00:00:00Z") == lokt::WallTime::min());
    CHECK(*parse_rfc3339("0000-01-01T00:00:00Z") == lokt::WallTime::min());
    // Inside the range, nothing changes near either end.
    CHECK(*parse_rfc3339("2262-04-11T23:47:15Z") == lokt::WallTime(sys_days{2262y / 4 / 11} + 23h + 47min + 15s));
    CHECK(*parse_rfc3339("1677-09-21T00:12:45Z") == lokt::WallTime(sys_days{1677y / 9 / 21} + 12min + 45s));
}

TEST_CASE("malformed times are rejected") {
    for (const char* bad : {"", "2026-02-07", "2026-02-07T15:30:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                            "2026-02-07T15:30:00.Z", "2026-02-07T15:30:00Zjunk", "yesterday"}) {
        INFO(bad);
        CHECK_FALSE(parse_rfc3339(bad).has_value());
    }
}
