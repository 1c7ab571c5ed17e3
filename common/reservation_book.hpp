// Where path reservations are kept and changed: one interface, so that the
// CLI, the hooks, an MCP server and the daemon all reserve, release and check
// through the same operations, and one implementation on the root's files.
//
// On disk (the root's side directory reservations/, beside locks/, which other
// lokt tools never read): table.json holds every reservation; lock is the
// flock(2) file every change takes first. A change reads the table, decides,
// and publishes the whole new table by rename, all under that one lock, so two
// agents racing for overlapping globs cannot both win; readers (a check before
// every edit) take no lock and always see a whole table. Stale reservations
// (past their TTL, or bound to a dead process) are ignored by every reader and
// removed, with an audit line, by the next change.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/audit_log.hpp"
#include "common/duration.hpp"
#include "common/identity.hpp"
#include "common/reservation.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace lokt {

struct ReserveRequest {
    std::vector<std::string> globs;  // as given; parsed by the book (usage errors)
    ReservationMode mode = ReservationMode::exclusive;
    std::optional<Nanoseconds> ttl;
    // Whose reservation it is: the owner, and the process it is bound to.
    Identity holder;
    // ttl: lasts its TTL whatever becomes of holder.pid (needs a TTL);
    // process: ends when holder.pid exits, or at the TTL if one is given.
    Binding binding = Binding::ttl;
    // Write a reserve-deny line when refused (a waiter writes one, not one per look).
    bool audit_denial = true;
    bool waiting = false;  // the refused request will wait: its deny line says so
};

struct ReservationConflict {
    std::string glob;     // the requested glob, as given
    Reservation blocker;  // a live reservation of another owner that shares a path with it
};

// All or nothing: either every glob is reserved, or none and the conflicts say why.
struct ReserveResult {
    std::vector<Reservation> reserved;
    std::vector<ReservationConflict> conflicts;
    bool granted() const { return conflicts.empty(); }
};

struct UnreserveRequest {
    std::vector<std::string> globs;  // compared by canonical text (path_glob.hpp)
    bool all = false;                // every reservation of owner
    bool force = false;              // whoever owns them (for a person clearing a stuck one)
    std::string owner;
};

struct UnreserveResult {
    std::vector<Reservation> removed;
    std::vector<std::string> not_found;  // globs nobody (live) reserved
    std::vector<Reservation> others;     // globs reserved by another owner, left alone (no force)
};

// "May owner write path?": the live reservations in the way, none when it may.
struct PathCheck {
    std::string path;  // normalized repository path
    std::vector<Reservation> blockers;
    bool allowed() const { return blockers.empty(); }
};

class ReservationBook {
public:
    virtual ~ReservationBook() = default;
    virtual Result<ReserveResult> reserve(const ReserveRequest& request) = 0;
    virtual Result<UnreserveResult> unreserve(const UnreserveRequest& request) = 0;
    // The live reservations, oldest first.
    virtual Result<std::vector<Reservation>> list() = 0;
    // paths are repository paths (normalize_repo_path's form).
    virtual Result<std::vector<PathCheck>> check(std::string_view owner, const std::vector<std::string>& paths) = 0;
    // A descriptor that becomes readable when the reservations may have
    // changed (drain it with drain_changes); invalid when changes cannot be
    // watched: a waiter then looks again on a timer. Either way a waiter also
    // looks again now and then, because a holder's death changes no file.
    virtual UniqueFd open_change_feed() = 0;
    virtual void drain_changes(int feed) = 0;
};

// The book on a root's files. read_only creates nothing (a missing root reads
// as no reservations); actor is who performs the changes, for the audit log.
// A book told never to wait tries the table's lock once (the daemon's loop).
Result<std::unique_ptr<ReservationBook>> open_file_reservation_book(const std::filesystem::path& root, Identity actor,
                                                                    bool read_only, bool never_wait = false);

}  // namespace lokt
