// See lock_shapes.hpp.
#include "client/mcp/tools/lock_shapes.hpp"

#include "client/json_views.hpp"

namespace lokt::client::mcp {

const char* const k_holder_schema = R"({"type":"object","description":"Who holds the lock, as its lock file says",
"properties":{"name":{"type":"string"},"lock_id":{"type":"string"},"owner":{"type":"string"},"host":{"type":"string"},
"pid":{"type":"integer"},"agent_id":{"type":"string"},"acquired_ts":{"type":"string"},"ttl_sec":{"type":"integer"},
"expires_at":{"type":["string","null"]},"bound_to":{"type":"string"},"fence":{"type":"integer"}},
"required":["name","owner","host","pid"]})";

const char* const k_name_schema =
    R"({"type":"string","minLength":1,"maxLength":200,"description":"The lock's name: what it protects, e.g. \"build\", \"db-migrate\", \"deploy-prod\""})";

void write_holder(JsonWriter& out, const LockRecord& record) { write_lock_record(out, record); }

std::int64_t to_ms(Nanoseconds duration) { return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count(); }

std::string backend_word(const Backend& backend) { return std::string(backend.kind()); }

}  // namespace lokt::client::mcp
