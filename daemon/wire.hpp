// Replies built from the lock engine's outcomes, for the daemon's side of the
// wire. Records and identities travel as the engine's own types.
#pragma once

#include "common/lock_engine.hpp"
#include "protocol/messages.hpp"

namespace lokt::daemon {

// An error answer to request id, keeping op.
protocol::Reply error_reply(std::uint64_t id, protocol::Op op, const Error& error);
// An acquire refusal (held, frozen, timeout, unsupported) with its holder or freeze.
protocol::Reply refusal_reply(std::uint64_t id, const Refusal& refusal);

}  // namespace lokt::daemon
