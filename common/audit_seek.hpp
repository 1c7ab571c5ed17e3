// Where `--since T` starts reading the audit log. The log is appended by many
// processes, and each stamps its lines with its own clock, so lines are in
// time order only roughly: a process whose clock is behind writes lines that
// look older than the ones before them. A plain bisection probing such a line
// concludes that everything before it is old and skips lines that are not.
//
// So the bisection looks for (T - k_audit_clock_tolerance), not T, and judges
// each probe by the newest of k_audit_seek_lines consecutive lines, not by one.
// Then every line before the offset returned is older than T (and is skipped
// rightly) unless the log breaks the rule: a line at or after T can be missed
// only when k_audit_seek_lines consecutive lines after it in the file are all
// more than the tolerance older than T. Readers still filter every line they
// read by its own time, so lines out of order within the window are printed.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/wall_time.hpp"

namespace lokt {

inline constexpr std::chrono::minutes k_audit_clock_tolerance{10};
inline constexpr int k_audit_seek_lines = 8;

// The offset of a line start in text (a whole log) to read from for `since`.
std::size_t audit_seek_offset(std::string_view text, WallTime since);

// The same over the first size bytes of an open log, read with pread(2).
Result<std::size_t> audit_seek_offset(int fd, std::size_t size, WallTime since, const std::string& display_path);

}  // namespace lokt
