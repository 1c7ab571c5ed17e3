// Durations as users type them (Go style "1h30m", "300ms", plus days "2d12h",
// or bare seconds "300")
// and as lokt prints them ("12s", "4m48s").
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace lokt {

using Nanoseconds = std::chrono::nanoseconds;

// What lokt accepts for a duration, whichever backend runs: a TTL lasts at
// least a second (SPEC.md section 1), and nothing (TTL or wait) more than a
// year, which can only be a typo for something shorter.
inline constexpr Nanoseconds k_min_ttl = std::chrono::seconds(1);
inline constexpr Nanoseconds k_max_duration = std::chrono::hours(24 * 365);

// A usage error when value lies outside [min, k_max_duration], in the words
// the client and the daemon both give, named after the flag:
// "--ttl: at most 8760h (one year)", "--ttl: at least 1s".
Result<void> check_duration_range(std::string_view flag, Nanoseconds value, Nanoseconds min);

// Parses "300ms", "90s", "5m", "1h30m", "1.5h", "2d12h" (a day is 24 h) or a
// bare integer of seconds.
// Negative, empty and overflowing values are usage errors.
Result<Nanoseconds> parse_duration(std::string_view text);

// Compact human form: "450ms", "12s", "4m48s", "1h2m3s"; whole seconds from 1 s up.
std::string format_duration(Nanoseconds duration);
// The same in whole seconds only ("0s", "12s", "4m48s"), as in "held ... for 12s".
std::string format_duration_seconds(Nanoseconds duration);

}  // namespace lokt
