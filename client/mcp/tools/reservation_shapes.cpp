// See reservation_shapes.hpp.
#include "client/mcp/tools/reservation_shapes.hpp"

#include "client/reservation_views.hpp"

namespace lokt::client::mcp {

const char* const k_reservation_schema = R"js({"type":"object","description":"A path reservation and who holds it",
"properties":{"glob":{"type":"string"},"mode":{"type":"string","enum":["exclusive","shared"]},"id":{"type":"string"},
"owner":{"type":"string"},"host":{"type":"string"},"pid":{"type":"integer"},"agent_id":{"type":"string"},
"acquired_ts":{"type":"string"},"ttl_sec":{"type":"integer"},"expires_at":{"type":["string","null"]},
"bound_to":{"type":"string"},"mine":{"type":"boolean","description":"made by this session"}},
"required":["glob","mode","id","owner","host","pid","mine"]})js";

const char* const k_globs_schema =
    R"js({"anyOf":[{"type":"array","items":{"type":"string","minLength":1},"minItems":1,"maxItems":256},
{"type":"string","minLength":1}],"description":"Globs relative to the top of the work tree: \"src/auth/**\", \"docs/*.md\", \"Makefile\". `*` and `?` stay within a path segment, `**` spans segments, a plain directory name or a trailing / covers everything under it."})js";

void write_session_reservation(JsonWriter& out, const Reservation& r, const SessionReservations& session) {
    out.begin_object();
    write_reservation_fields(out, r);
    out.field("mine", session.made(r.holder.lock_id));
    out.end_object();
}

}  // namespace lokt::client::mcp
