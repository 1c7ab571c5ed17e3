// See hold_book.hpp.
#include "client/mcp/hold_book.hpp"

#include "client/late_grant.hpp"

namespace lokt::client::mcp {

Result<Acquired> HoldBook::acquire(const std::string& name, Nanoseconds ttl, const WaitOptions& wait,
                                   const WaitObserver& observer, bool shared, std::optional<std::uint64_t> slots) {
    if (auto held = m_holds.find(name); held != m_holds.end() && held->second.shared != shared) {
        return make_error(ErrorCode::usage, "lock \"" + name + "\" is held by this session in " +
                                                (held->second.shared ? "shared" : "exclusive") +
                                                " mode; release it before asking for it in the other mode (lokt does not "
                                                "upgrade a shared hold)");
    }
    if (auto held = m_holds.find(name); held != m_holds.end() && held->second.slots != slots) {
        const auto words = [](const std::optional<std::uint64_t>& n) {
            return n ? "a slot of the pool of " + std::to_string(*n) + " slots" : std::string("a plain lock");
        };
        return make_error(ErrorCode::usage, "\"" + name + "\" is held by this session as " + words(held->second.slots) +
                                                ", not as " + words(slots) + "; release it first");
    }
    if (m_holds.count(name) != 0) {
        LOKT_TRY_LET(renewed, renew(name, ttl));
        Acquired result;
        result.outcome = Acquired::Outcome::refreshed;
        result.lease = renewed->lease;
        return result;
    }
    AcquireSpec spec;
    spec.name = name;
    // Guard-bound without a liveness handle: the daemon ends such a hold when
    // the connection that took it closes; on the files it is stale as soon as
    // its holder (this process) is gone. Nothing but this process carries it.
    spec.binding = Binding::guard;
    spec.ttl = ttl;
    spec.holder = m_holder;
    spec.look_first = wait.wait;
    spec.waiting = wait.wait;
    spec.shared = shared;
    spec.slots = slots;
    AcquirePlan plan{spec, wait};
    // A grant that reached us late is renewed, or found lost and waited for
    // again (late_grant.hpp): the agent is never told it holds a lock somebody
    // else has taken. Renewed by loktd itself when it keeps the hold: this
    // server's holds share one connection, which a takeover would close.
    auto acquired = acquire_until_settled(
        plan,
        [&](const AcquirePlan& asked) {
            if (wait.wait && m_waiting) m_waiting(true);
            auto answer = m_backend.acquire(asked.spec, asked.wait, observer);
            if (wait.wait && m_waiting) m_waiting(false);
            return answer;
        },
        [&](Acquired& granted) { return settle_grant(m_backend, granted, ttl, NeededLeft::half_ttl, RenewBy::keeper); },
        [&](Acquired& granted) { (void)m_backend.release(granted.lease, ReleaseNote{}); });
    if (!acquired) return acquired.take_error();
    if (acquired->granted()) {
        SessionHold hold;
        hold.lease = acquired->lease;
        hold.ttl = ttl;
        hold.lapses_at = std::chrono::steady_clock::now() + ttl;
        hold.acquired = wall_now();
        hold.shared = shared;
        hold.slots = slots;
        m_holds[name] = std::move(hold);
    }
    return acquired;
}

std::string HoldBook::key_of(const std::string& name) const {
    if (m_holds.count(name) != 0) return name;
    for (const auto& [key, hold] : m_holds) {
        if (hold.lease.name() == name) return key;
    }
    return name;
}

Result<SessionHold> HoldBook::renew(const std::string& name, Nanoseconds ttl) {
    auto it = m_holds.find(key_of(name));
    if (it == m_holds.end()) return make_error(ErrorCode::not_found, "lock \"" + name + "\" is not held by this MCP server");
    SessionHold& hold = it->second;
    // Asked of loktd when it keeps the hold: never a takeover that would close
    // the connection every other hold of this server is bound to.
    if (auto renewed = m_backend.renew_in_place(hold.lease, ttl); !renewed) {
        if (renewed.error().code == ErrorCode::lost) {
            m_backend.record_lost(hold.lease, renewed.error().message);
            m_holds.erase(it);
        }
        return renewed.take_error();
    }
    hold.ttl = ttl;
    hold.lapses_at = std::chrono::steady_clock::now() + ttl;
    return hold;
}

Result<SessionHold> HoldBook::release(const std::string& name) {
    auto it = m_holds.find(key_of(name));
    if (it == m_holds.end()) return make_error(ErrorCode::not_found, "lock \"" + name + "\" is not held by this MCP server");
    SessionHold hold = std::move(it->second);
    m_holds.erase(it);
    ReleaseNote note;
    note.acquired = hold.acquired;
    LOKT_TRY(m_backend.release(hold.lease, note));
    return hold;
}

const SessionHold* HoldBook::find(const std::string& name) const {
    auto it = m_holds.find(key_of(name));
    return it == m_holds.end() ? nullptr : &it->second;
}

bool HoldBook::holds_lock_id(const std::string& lock_id) const {
    for (const auto& [name, hold] : m_holds) {
        if (hold.lease.lock_id() == lock_id) return true;
    }
    return false;
}

std::vector<std::string> HoldBook::names() const {
    std::vector<std::string> out;
    for (const auto& [name, hold] : m_holds) out.push_back(name);
    return out;
}

std::vector<std::string> HoldBook::release_lapsed(SteadyTime now) {
    std::vector<std::string> lapsed;
    for (const auto& [name, hold] : m_holds) {
        if (hold.lapses_at <= now) lapsed.push_back(name);
    }
    for (const auto& name : lapsed) (void)release(name);
    return lapsed;
}

std::optional<SteadyTime> HoldBook::next_lapse() const {
    std::optional<SteadyTime> next;
    for (const auto& [name, hold] : m_holds) {
        if (!next || hold.lapses_at < *next) next = hold.lapses_at;
    }
    return next;
}

void HoldBook::release_all() {
    for (const auto& name : names()) (void)release(name);
}

}  // namespace lokt::client::mcp
