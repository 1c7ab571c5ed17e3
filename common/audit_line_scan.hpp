// The fast path of reading an audit line: lines as lokt writes them (compact
// JSON, no escapes, integer numbers) are picked apart in place, about twenty
// times faster than building a JSON document. parse_audit_line tries it first;
// the `--stats` and `--timeline` scanner uses it with its own reading of
// `extra`. A line it declines goes to the full parser, so both read every
// line alike.
#pragma once

#include <string_view>

#include "common/audit_log.hpp"

namespace lokt {

// Fills event from line and returns true, or returns false when the line is
// not in the plain form (event is then unspecified). `extra`, when present, is
// kept as its text (event.extra_json), which for our compact lines is exactly
// what re-serialising it would give.
bool scan_audit_event(std::string_view line, AuditEvent& event);

}  // namespace lokt
