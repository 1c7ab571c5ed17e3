// Wall-clock instants as they appear in lock files and the audit log: RFC 3339,
// UTC, up to nine fractional digits with trailing zeros dropped. Wall time is
// only for what other processes read; timers inside a process use steady_clock.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace lokt {

using WallTime = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;

WallTime wall_now();
// "2026-11-22T12:50:13.468669729Z"
std::string format_rfc3339(WallTime time);
// Whole seconds only: "2026-02-07T15:30:00Z", for messages people read.
std::string format_rfc3339_seconds(WallTime time);
// Accepts any RFC 3339 date-time ('Z' or a numeric offset, 't'/'z' too).
std::optional<WallTime> parse_rfc3339(std::string_view text);

}  // namespace lokt
