// The lokt wire protocol as C++ types: every message lokt and loktd exchange,
// with their encoders and the decoders that turn untrusted lines into them.
// docs/protocol.md is the reference for the JSON. The messages carry the
// engine's own types (Identity, LockRecord and the engine's enums), and no
// JSON type appears in these headers: nlohmann/json stays inside protocol/'s
// .cpp files.
#pragma once

#include "protocol/events.hpp"
#include "protocol/replies.hpp"
#include "protocol/requests.hpp"
#include "protocol/vocabulary.hpp"
