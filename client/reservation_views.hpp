// How reservations appear to people and programs: the JSON object every
// --json output uses for one (reserve, unreserve, the check, status), the
// one-line text, and opening the book for a command.
#pragma once

#include <memory>
#include <string>

#include "client/cli_context.hpp"
#include "client/json_writer.hpp"
#include "common/reservation_book.hpp"

namespace lokt::client {

// {"glob", "mode", "id", "owner", "host", "pid", "agent_id", "acquired_ts",
//  "ttl_sec", "expires_at" (null without TTL), "bound_to"}
void write_reservation(JsonWriter& out, const Reservation& reservation);
// The same members, inside an object the caller opened (and may add to).
void write_reservation_fields(JsonWriter& out, const Reservation& reservation);

// "src/auth/** (exclusive) by agent-1@devbox (pid 7271) for 12s, until 15:30:00Z"
std::string reservation_text(const Reservation& reservation, WallTime now);

// The reservation book of this run's root. Reservations are kept in the
// root's files whether or not loktd runs.
Result<std::unique_ptr<ReservationBook>> open_reservations(CliContext& cli, bool read_only);

}  // namespace lokt::client
