// `lokt audit --stats` output: the summary of an audit window as plain-text
// tables for people, or as one JSON object for tools (shape in lokt(1)).
#pragma once

#include <string>

#include "client/audit_analysis.hpp"

namespace lokt::client {

// At most `rows` rows per table, with a line saying how many were left out.
std::string format_summary_text(const AuditSummary& summary, std::size_t rows = 10);
std::string format_summary_json(const AuditSummary& summary);

}  // namespace lokt::client
