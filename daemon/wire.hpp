// Conversions between the lock engine's types and the protocol's messages, for
// the daemon's side of the wire.
#pragma once

#include "lock_engine.hpp"
#include "messages.hpp"

namespace lokt::daemon {

Identity from_wire(const protocol::Identity& identity);
protocol::LockInfo to_wire(const LockRecord& record);
protocol::Staleness staleness_of(HoldState state);

// An error answer to request id, keeping op.
protocol::Reply error_reply(std::uint64_t id, protocol::Op op, const Error& error);
// An acquire refusal (held, frozen, timeout, unsupported) with its holder or freeze.
protocol::Reply refusal_reply(std::uint64_t id, const Refusal& refusal);

}  // namespace lokt::daemon
