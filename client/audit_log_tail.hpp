// Reading the end of the audit log without reading the rest: the latest
// events for `lokt top`, and where `audit --tail -n N` starts. The log only
// grows, and these want its last lines, however long it is.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <vector>

#include "common/audit_log.hpp"

namespace lokt::client {

// The last `count` parsed lines of an audit log, oldest first; reads only its
// tail, however long the log is.
std::vector<AuditEvent> latest_audit_events(const std::filesystem::path& log_path, std::size_t count);

// The time of the count-th last line matching query (nullopt: fewer lines, or
// none wanted). Reads the end of the log only, in growing windows.
Result<std::optional<WallTime>> time_of_last_audit_lines(const std::filesystem::path& log, const AuditQuery& query,
                                                         std::size_t count);

}  // namespace lokt::client
