// How a refused reservation waits for its chance: until the table changes, or
// until the process a blocking reservation is bound to exits (a death changes
// no file), so that a waiter behind a killed agent goes on within
// milliseconds instead of at its next look.
#pragma once

#include <string>
#include <vector>

#include "common/reservation_book.hpp"

namespace lokt {

// Sleeps at most wait_ms, waking early when feed (the book's change feed,
// drained here; -1 for none) fires or when the process of a blocker on
// this_host exits.
void await_reservation_change(ReservationBook& book, int feed, const std::vector<ReservationConflict>& conflicts,
                              const std::string& this_host, int wait_ms);

}  // namespace lokt
