// Reading a window of the audit log for the analysis (--stats, --timeline)
// fast enough for a million lines: lines as lokt writes them (compact JSON,
// no escapes) are picked apart in place, without building a JSON document;
// any other line goes through the full parser, and unparseable ones are
// skipped, as every reader of the log does.
#pragma once

#include <filesystem>
#include <string_view>

#include "client/audit_analysis.hpp"
#include "common/audit_log.hpp"
#include "common/result.hpp"

namespace lokt::client {

// The fields of one line the analysis needs; false when the line is not in
// the plain form the fast path knows (the caller then parses it fully).
bool scan_audit_line(std::string_view line, AuditEvent& event, AuditExtra& extra);

// Feeds every line of the log matching query to the analyzer, in file order.
// A missing log is an empty one.
Result<void> scan_audit_into(const std::filesystem::path& log, const AuditQuery& query, AuditAnalyzer& analyzer);

}  // namespace lokt::client
