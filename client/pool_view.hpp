// A slot pool as status and why show it: the pool's live slots gathered from
// the lock listing (each slot is an ordinary lock file, slot_pool.hpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "client/backend.hpp"

namespace lokt::client {

struct PoolView {
    std::string name;
    std::uint64_t slots = 0;     // the pool's size, as its holders recorded it
    std::vector<LockView> held;  // its live slots, by slot number
    std::size_t held_count() const { return held.size(); }
    // The holder of slot k, if it is held.
    const LockView* slot(std::uint64_t k) const;
};

// Every pool with a live slot among these locks, by name.
std::vector<PoolView> pools_among(const std::vector<LockView>& locks);
// The pool NAME, if any of its slots is held.
Result<std::optional<PoolView>> inspect_pool(Backend& backend, const std::string& name);
// "slot 0 by agent-1@devbox (pid 7271) for 12s, slot 1 free, ..."
std::string describe_slots(const PoolView& pool, WallTime now);

}  // namespace lokt::client
