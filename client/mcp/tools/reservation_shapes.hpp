// The JSON shapes the reservation tools share (a reservation, a glob list), as
// written and as their output schemas declare them, so the two cannot drift.
#pragma once

#include "client/json_writer.hpp"
#include "client/mcp/session_reservations.hpp"

namespace lokt::client::mcp {

// The JSON Schema of a reservation object, as write_session_reservation writes it.
extern const char* const k_reservation_schema;
// The JSON Schema of a glob list argument (an array of globs, or one glob).
extern const char* const k_globs_schema;
// The most globs or paths one call takes.
inline constexpr std::size_t k_max_reservation_items = 256;

// {"glob", "mode", "id", "owner", "host", "pid", "agent_id", "acquired_ts",
//  "ttl_sec", "expires_at" (null without TTL), "bound_to", "mine"}: the
// fields `lokt status --json` gives a reservation, and whether this session made it.
void write_session_reservation(JsonWriter& out, const Reservation& reservation, const SessionReservations& session);

}  // namespace lokt::client::mcp
