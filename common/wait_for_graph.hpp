// Who waits for whom: the graph behind deadlock reports. An agent that waits
// for a name points at the agent whose manual hold of that name it waits for;
// a request that would close a cycle of such edges can never be granted, and
// is refused at once with the cycle. The daemon builds the graph from its
// queues on every enqueue; file mode from the waiters' side files
// (client/file_wait_records.hpp). Plain data, no files.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/identity.hpp"
#include "common/lock_record.hpp"
#include "common/wall_time.hpp"

namespace lokt {

// An agent as the graph knows it: key tells agents apart, label names one.
struct WaitAgent {
    std::string key;
    std::string label;  // "agent-1@host", or "user@host (pid 4242)"
    bool operator==(const WaitAgent&) const = default;
};

// The agent behind an identity, when it can be told apart from others: by its
// explicitly set LOKT_OWNER, else by the process a hold without TTL is bound
// to (the shell that ran `lokt lock`). nullopt otherwise (a TTL hold or a
// guard without LOKT_OWNER): such an agent takes no part in deadlock reports.
std::optional<WaitAgent> wait_agent_of(const Identity& who, Binding binding);
// The agent of a hold, for manual holds only (`lokt lock`): a guard's hold
// ends with its command, so waiting for it never deadlocks.
std::optional<WaitAgent> holding_agent_of(const LockRecord& record);
// The holds a waiter for this lock file waits for: every member of a shared
// group (a waiter waits until each has left), else the record itself.
std::vector<const LockRecord*> holds_waited_for(const LockRecord& record);

// One edge: waiter waits for name, held by holder.
struct WaitEdge {
    WaitAgent waiter;
    std::string name;
    WaitAgent holder;
    WallTime held_since{};
    // Since when the waiter waits; nullopt for the request being judged.
    std::optional<WallTime> waiting_since;
};

class WaitForGraph {
public:
    // An edge from a waiter to a holder; ignored when they are one agent.
    void add(WaitEdge edge);
    // The cycle `request` would close (request first, then the edges that lead
    // from its holder back to its waiter), or nullopt. A request to wait for
    // one's own hold closes no cycle here: an agent may run several things.
    std::optional<std::vector<WaitEdge>> cycle_closed_by(const WaitEdge& request) const;

private:
    std::map<std::string, std::vector<WaitEdge>> m_out;  // waiter key -> its edges
};

// The report: "deadlock: waiting for lock "b" would never end: ..." with one
// line per edge (who waits for what, held by whom, since when).
std::string deadlock_message(const std::vector<WaitEdge>& cycle, WallTime now);
// The cycle as the audit line's extra.cycle: a JSON array of
// {"waiter","name","holder","held_since","waiting_since"} objects.
std::string cycle_json(const std::vector<WaitEdge>& cycle);

}  // namespace lokt
