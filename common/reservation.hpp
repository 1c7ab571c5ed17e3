// A path reservation: an owner's claim on the repository paths a glob covers
// (path_glob.hpp), exclusive or shared, with a TTL or bound to a process. The
// rules of who conflicts with whom, and the reservation table's text, live
// here; where the table is kept and how it is changed is reservation_book.hpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/enum_words.hpp"
#include "common/lock_record.hpp"
#include "common/path_glob.hpp"
#include "common/process_liveness.hpp"
#include "common/result.hpp"
#include "common/wall_time.hpp"

namespace lokt {

enum class ReservationMode { exclusive, shared };

inline constexpr std::array k_reservation_mode_words{
    Word<ReservationMode>{ReservationMode::exclusive, "exclusive"},
    Word<ReservationMode>{ReservationMode::shared, "shared"},
};

std::string_view to_string(ReservationMode mode);

struct Reservation {
    PathGlob glob;
    ReservationMode mode = ReservationMode::exclusive;
    // Who holds it and until when, as a lock file says it: holder.name is the
    // glob's text, holder.lock_id the reservation's id, holder.bound_to ttl
    // (lasts its TTL whoever made it) or process (ends with holder.pid, and
    // at its TTL if it has one).
    LockRecord holder;
};

// Two owners are one when their owner names are equal (LOKT_OWNER, else the
// OS user name): reservations are claims between agents, and an agent is its
// LOKT_OWNER across all the shells it runs commands in.
inline bool same_owner(const Reservation& a, std::string_view owner) { return a.holder.owner == owner; }

// Whether a new reservation of (glob, mode) by owner is refused by existing:
// the globs share a path, not both are shared, and the owners differ.
bool reservation_conflicts(const Reservation& existing, const PathGlob& glob, ReservationMode mode, std::string_view owner);

// Whether the reservation still stands: not past its TTL and, when bound to a
// process on this host, that process alive (hold_state.hpp's rules).
bool reservation_live(const Reservation& reservation, WallTime now, const std::string& this_host, LivenessMemo* memo = nullptr);

// The reservations that stop owner from writing path (normalized, see
// normalize_repo_path): every live reservation of another owner that covers
// it, unless it is shared and owner holds a live shared reservation that
// covers the path too (co-holders of a shared reservation may all write).
std::vector<const Reservation*> path_blockers(const std::vector<Reservation>& table, std::string_view path,
                                              std::string_view owner, WallTime now, const std::string& this_host);

// The table file's text: {"version": 1, "reservations": [ ... ]}, one compact
// reservation object per line, so that a person can read it and a diff of two
// versions shows the reservations that changed.
std::string serialize_reservation_table(const std::vector<Reservation>& table);
// ErrorCode::corrupt with the reason when the text is not a table; a table of
// a newer version is ErrorCode::unsupported. With `covering`, only the
// reservations whose glob covers one of those paths are returned, and the
// others are read no further than their glob (a check before every edit).
Result<std::vector<Reservation>> parse_reservation_table(std::string_view text,
                                                         const std::vector<std::string>* covering = nullptr);

// "src/auth/** (exclusive) by agent-1@devbox (pid 7271) for 12s": who holds
// a reservation, for messages and hook answers.
std::string describe_reservation(const Reservation& reservation, WallTime now);

}  // namespace lokt
