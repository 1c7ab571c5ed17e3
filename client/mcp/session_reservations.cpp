// See session_reservations.hpp.
#include "client/mcp/session_reservations.hpp"

#include <algorithm>
#include <chrono>

#include "common/reservation_wait.hpp"

namespace lokt::client::mcp {
namespace {

// A waiter wakes at a change of the table or a blocker's exit on this host, and
// looks again this often anyway (a holder on another host, a pid it missed).
constexpr auto k_reserve_relook = std::chrono::milliseconds(250);
// While waiting, progress is repeated this often, so a client that resets its
// request timeout on progress keeps waiting.
constexpr auto k_reserve_progress_every = std::chrono::seconds(10);

}  // namespace

Result<ReservationBook*> SessionReservations::book() {
    if (!m_book) {
        LOKT_TRY_LET(opened, m_open());
        m_book = std::move(*opened);
    }
    return m_book.get();
}

Result<ReserveResult> SessionReservations::reserve(const SessionReserve& wanted,
                                                   const std::function<void(const std::string&)>& progress) {
    LOKT_TRY_LET(opened, book());
    ReservationBook& reservations = **opened;
    ReserveRequest request;
    request.globs = wanted.globs;
    request.mode = wanted.mode;
    request.ttl = wanted.ttl;
    // Bound to this process (and to the TTL when one is given): stale as soon
    // as the server is gone, however it ended.
    request.holder = m_holder;
    request.binding = Binding::process;
    request.waiting = wanted.wait > Nanoseconds::zero();

    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + wanted.wait;
    auto next_progress = started;
    UniqueFd feed;
    bool waiting = false;
    auto stop_waiting = [&] {
        if (waiting && m_waiting) m_waiting(false);
        waiting = false;
    };
    for (bool first = true;; first = false) {
        request.audit_denial = first;
        auto result = reservations.reserve(request);
        if (!result || result->granted() || std::chrono::steady_clock::now() >= deadline) {
            stop_waiting();
            if (result) {
                for (const Reservation& made : result->reserved) m_made.insert(made.holder.lock_id);
            }
            return result;
        }
        const auto now = std::chrono::steady_clock::now();
        if (!waiting) {
            waiting = true;
            if (m_waiting) m_waiting(true);
            feed = reservations.open_change_feed();
        }
        if (now >= next_progress) {
            const ReservationConflict& conflict = result->conflicts.front();
            progress("waiting: \"" + conflict.glob + "\" overlaps " + describe_reservation(conflict.blocker, wall_now()));
            next_progress = now + k_reserve_progress_every;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        const int wait_ms = static_cast<int>(std::max<long>(1, std::min<long>(left.count(), k_reserve_relook.count())));
        await_reservation_change(reservations, feed ? feed.get() : -1, result->conflicts, m_holder.host, wait_ms);
    }
}

Result<UnreserveResult> SessionReservations::unreserve(const std::vector<std::string>& globs, bool all) {
    LOKT_TRY_LET(opened, book());
    UnreserveRequest request;
    request.owner = m_holder.owner;
    request.globs = globs;
    if (all) {
        // This session's own, as they stand now (not the owner's others).
        LOKT_TRY_LET(live, (*opened)->list());
        request.globs.clear();
        for (const Reservation& r : *live) {
            if (made(r.holder.lock_id)) request.globs.push_back(r.glob.text());
        }
        if (request.globs.empty()) return UnreserveResult{};
    }
    return (*opened)->unreserve(request);
}

Result<std::vector<PathCheck>> SessionReservations::check(const std::vector<std::string>& paths) {
    LOKT_TRY_LET(opened, book());
    return (*opened)->check(m_holder.owner, paths);
}

Result<std::vector<Reservation>> SessionReservations::list() {
    LOKT_TRY_LET(opened, book());
    return (*opened)->list();
}

std::size_t SessionReservations::release_all() {
    if (m_made.empty() || !m_book) return 0;
    auto removed = unreserve({}, true);
    return removed ? removed->removed.size() : 0;
}

}  // namespace lokt::client::mcp
