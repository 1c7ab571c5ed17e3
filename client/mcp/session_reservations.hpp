// The path reservations one `lokt mcp` server has made for its agent, and the
// rule that binds them to it, as hold_book.hpp does for its holds: every
// reservation is bound to this process (its pid and start time), so any lokt
// sees it stale as soon as the server is gone, a kill -9 included; and when
// the server ends cleanly (end of input, a stop signal) it removes them.
// Reservations live in the root's files whether or not loktd runs, so this
// is the same in both backends.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/reservation_book.hpp"

namespace lokt::client::mcp {

// What one reserve call asks for.
struct SessionReserve {
    std::vector<std::string> globs;
    ReservationMode mode = ReservationMode::exclusive;
    std::optional<Nanoseconds> ttl;  // without: as long as the session
    Nanoseconds wait{};              // how long to wait while another owner's reservation is in the way
};

class SessionReservations {
public:
    using Opener = std::function<Result<std::unique_ptr<ReservationBook>>()>;
    // open: how to open the root's book, on first use (a server that never
    // reserves touches no reservation file). waiting: told true before a
    // reserve starts to wait and false once it is answered.
    SessionReservations(Opener open, Identity holder, std::function<void(bool)> waiting = {})
        : m_open(std::move(open)), m_holder(std::move(holder)), m_waiting(std::move(waiting)) {}
    ~SessionReservations() { release_all(); }
    SessionReservations(const SessionReservations&) = delete;
    SessionReservations& operator=(const SessionReservations&) = delete;

    const Identity& holder() const { return m_holder; }

    // Reserves every glob or none, for this session, waiting up to
    // request.wait; progress is told the conflict while waiting. A refusal is
    // a result (its conflicts), not an error.
    Result<ReserveResult> reserve(const SessionReserve& request, const std::function<void(const std::string&)>& progress);
    // Ends this owner's reservations of these globs (or, with all, every
    // reservation this session made).
    Result<UnreserveResult> unreserve(const std::vector<std::string>& globs, bool all);
    // "May this session's owner write these repository paths?"
    Result<std::vector<PathCheck>> check(const std::vector<std::string>& paths);
    // The live reservations of the root, oldest first.
    Result<std::vector<Reservation>> list();

    // Whether the reservation with this id was made by this session.
    bool made(const std::string& id) const { return m_made.count(id) != 0; }
    // Removes every reservation this session made that still stands (the
    // server is shutting down); how many.
    std::size_t release_all();

private:
    Result<ReservationBook*> book();

    Opener m_open;
    Identity m_holder;
    std::function<void(bool)> m_waiting;
    std::unique_ptr<ReservationBook> m_book;
    std::set<std::string> m_made;  // the ids of every reservation this session made
};

}  // namespace lokt::client::mcp
