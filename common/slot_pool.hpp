// Slot pools on disk: a pool NAME of N slots is N ordinary lock files,
// locks/NAME.slot-K.json (K = 0 .. N-1), each a complete SPEC.md record that
// any lokt tool judges like a plain lock, plus lokt's fields "pool", "slots"
// and "slot". The pool's size is kept beside the name's mutex file
// (mutex/NAME.pool), outside locks/, so that callers that disagree on N are
// told so instead of making a second pool. See docs/design.md, "Slot pools".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace lokt {

inline constexpr std::uint64_t k_max_pool_slots = 1024;

// "gpu", 2 -> "gpu.slot-2".
std::string slot_lock_name(std::string_view pool, std::uint64_t slot);
// "gpu.slot-2" -> ("gpu", 2); nullopt for a name that is not a slot's.
struct SlotOf {
    std::string pool;
    std::uint64_t slot = 0;
};
std::optional<SlotOf> slot_of_lock_name(std::string_view name);
// Ok, or a usage error: the pool's name must leave room for its slots' names,
// and the size must be 1 .. k_max_pool_slots.
Result<void> validate_pool(std::string_view pool, std::uint64_t slots);

}  // namespace lokt
