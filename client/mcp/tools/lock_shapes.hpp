// The JSON shapes several tools share (a lock's holder, a hold's times), as
// written and as their output schemas declare them, so the two cannot drift.
#pragma once

#include <string>

#include "client/json_writer.hpp"
#include "client/mcp/hold_book.hpp"

namespace lokt::client::mcp {

// The JSON Schema of a holder object, as write_holder writes it.
extern const char* const k_holder_schema;
// The JSON Schema of a lock name argument.
extern const char* const k_name_schema;

// A lock record: name, lock_id, owner, host, pid, agent_id, acquired_ts,
// ttl_sec, expires_at, bound_to (and fence when set).
void write_holder(JsonWriter& out, const LockRecord& record);
// Milliseconds, for *_ms fields.
std::int64_t to_ms(Nanoseconds duration);
// "daemon" or "files".
std::string backend_word(const Backend& backend);

}  // namespace lokt::client::mcp
