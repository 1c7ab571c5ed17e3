// Fixed example messages, grouped by message type. The golden files are their
// encodings, and the round-trip tests run over the same set, so every message
// the protocol defines is exercised by both.
#pragma once

#include "protocol/messages.hpp"

#include <string>
#include <variant>
#include <vector>

namespace lokt::protocol::test {

// A line on the wire: a request (client to daemon) or anything the daemon sends.
using Example = std::variant<Request, ServerMessage>;

// One golden file: tests/protocol/golden/<name>.jsonl holds the encodings of
// `messages`, one per line, in order.
struct GoldenFile {
    std::string name;
    std::vector<Example> messages;
};

std::vector<GoldenFile> golden_files();

std::string encode_example(const Example& example);

// Building blocks the other tests reuse.
inline constexpr const char* k_root = "/home/dev/repo/.git/lokt";
inline constexpr const char* k_lock_id = "035b9c0ac2e782764cda6a0e58b77cf8";
Identity example_identity();
LockRecord example_lock();
LockRecord example_freeze();
// An RFC 3339 instant, for the records above.
WallTime at(const char* rfc3339);

}  // namespace lokt::protocol::test
