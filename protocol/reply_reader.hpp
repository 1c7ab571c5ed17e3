// Private to protocol/'s .cpp files. Reading a reply's part of a line, which
// replies.cpp owns and decode_server_message (events.cpp) needs to tell
// replies from the daemon's other lines.
#pragma once

#include "protocol/json_reader.hpp"
#include "protocol/replies.hpp"

#include <cstdint>

namespace lokt::protocol::wire {

// The reply in `in` after its "id": "ok", "op", and the body or "error".
Reply read_reply(Reader& in, std::uint64_t id);

}  // namespace lokt::protocol::wire
