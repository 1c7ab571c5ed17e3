// The holds one `lokt mcp` server has taken for its agent, and the rule that
// binds them to it: every hold is guard-bound to this process with no liveness
// handle, so through loktd it ends when the server's connection closes, and on
// the files when the server's pid is gone (either at once, for a kill -9 too).
// Each hold also has the TTL the agent asked for: without a renew it is
// released when that runs out, through the daemon and on the files alike.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/backend.hpp"

namespace lokt::client::mcp {

using SteadyTime = std::chrono::steady_clock::time_point;

struct SessionHold {
    Lease lease;
    Nanoseconds ttl{};
    SteadyTime lapses_at{};  // the TTL without a renew, on the steady clock
    WallTime acquired{};
    bool shared = false;  // a member of the name's group of shared holders
    // A slot of the pool `name` of this many slots; the lease names the slot's
    // own lock (NAME.slot-K), its record the slot K.
    std::optional<std::uint64_t> slots;
};

class HoldBook {
public:
    // waiting: told true before an acquire starts to wait and false once it is answered.
    HoldBook(Backend& backend, Identity holder, std::function<void(bool)> waiting = {})
        : m_backend(backend), m_holder(std::move(holder)), m_waiting(std::move(waiting)) {}
    ~HoldBook() { release_all(); }
    HoldBook(const HoldBook&) = delete;
    HoldBook& operator=(const HoldBook&) = delete;

    Backend& backend() { return m_backend; }
    const Identity& holder() const { return m_holder; }

    // Acquires name for this server (with slots: one slot of the pool name).
    // A name this server already holds is renewed instead (outcome
    // refreshed): one agent session, one hold per name (asked in the other
    // mode, or as a pool of another size, a usage error: no upgrade, no
    // downgrade, no second pool).
    Result<Acquired> acquire(const std::string& name, Nanoseconds ttl, const WaitOptions& wait, const WaitObserver& observer,
                             bool shared = false, std::optional<std::uint64_t> slots = std::nullopt);
    // Extends a hold of this server to ttl from now. not_found: not ours;
    // lost: someone broke it (it is forgotten, and the loss audited).
    Result<SessionHold> renew(const std::string& name, Nanoseconds ttl);
    // Releases a hold of this server (not_found when it is not ours).
    Result<SessionHold> release(const std::string& name);

    // The hold of name: as acquired, or a slot's own lock name (gpu.slot-1).
    const SessionHold* find(const std::string& name) const;
    bool holds_lock_id(const std::string& lock_id) const;
    std::vector<std::string> names() const;

    // Releases the holds whose TTL ran out without a renew; their names.
    std::vector<std::string> release_lapsed(SteadyTime now);
    // When the next hold lapses, if any.
    std::optional<SteadyTime> next_lapse() const;
    // Releases every hold (the server is shutting down).
    void release_all();

private:
    // The key of the hold find() finds; name itself when there is none.
    std::string key_of(const std::string& name) const;

    Backend& m_backend;
    Identity m_holder;
    std::function<void(bool)> m_waiting;
    std::map<std::string, SessionHold> m_holds;
};

}  // namespace lokt::client::mcp
