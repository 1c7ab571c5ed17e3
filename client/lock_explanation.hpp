// Why a lock cannot be acquired now, and what to do about it: the reasoning
// `lokt why` prints, shared with the MCP server's why tool.
#pragma once

#include <string>
#include <vector>

#include "client/backend.hpp"

namespace lokt::client {

struct PoolView;

struct Explanation {
    bool acquirable = true;
    std::string summary;
    std::vector<std::string> reasons;
    std::vector<std::string> suggestions;
};

// The explanation of a lock as it stands (view), with its daemon queue, for `me`.
Explanation explain(const LockView& view, const QueueView& queue, WallTime now, const Identity& me);

// For a slot pool: who holds every slot, and where a new waiter would stand.
Explanation explain_pool(const PoolView& pool, const QueueView& queue, WallTime now);

}  // namespace lokt::client
