// Several names at once (`lokt guard db,cache -- cmd`, `lokt lock db,cache`):
// all or none, over any Backend. Without --wait every name is tried and, on
// a refusal, what was taken is released again and every holder in the way is
// named. With --wait the names are taken one by one in sorted order, waiting
// for each: two such requests never hold a name the other waits for while
// waiting for one it holds, so they cannot deadlock each other.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "client/acquire_options.hpp"
#include "client/backend.hpp"

namespace lokt::client {

// Does the NAME argument list several names ("db,cache")?
bool is_name_list(std::string_view text);
// The names of a list, as given; a usage error for an empty item, a name
// given twice or a name that breaks the naming rule.
Result<std::vector<std::string>> parse_name_list(std::string_view text);

// The LOKT_LOCK_ID an enclosing guard passed down for this name, if any:
// LOKT_LOCK_NAME and LOKT_LOCK_ID are comma-separated lists of the same length
// (one name and one id for a guard of one name).
std::string inherited_lock_id(const std::string& name);

// What an acquire of several names came to.
struct MultiAcquired {
    bool granted = false;
    // When granted: one per name, in the order the names were given.
    std::vector<Acquired> holds;
    // When refused: why, naming every holder (or freeze) in the way; code as
    // for one name (held, frozen, timeout, ...).
    Refusal refusal;
    // The 32 hex digits on every name's acquire and release line (extra.group).
    std::string group;
};

// Acquires every name of the list or none. plan: the flags as planned for
// one name (binding, TTL, holder, wait); its name is replaced by each of names.
Result<MultiAcquired> acquire_all(Backend& backend, const AcquirePlan& plan, const std::vector<std::string>& names, bool quiet);

// Releases every hold of a granted MultiAcquired (nested ones are the
// enclosing guard's and stay), in reverse order. The first error is returned
// after every release was tried.
Result<void> release_all(Backend& backend, const MultiAcquired& held, ReleaseNote note);

// "a,b" from the holds' names and lock ids, in the order given: the values of
// LOKT_LOCK_NAME and LOKT_LOCK_ID for a guarded command.
std::string joined_names(const MultiAcquired& held);
std::string joined_lock_ids(const MultiAcquired& held);

}  // namespace lokt::client
