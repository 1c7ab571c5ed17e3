// `guard`, `lock` and `unlock` given a list of names ("db,cache"): the same
// commands over several holds at once, acquired all or none by
// multi_acquire.hpp. The commands' own files call these when the name is a list.
#pragma once

#include <string>
#include <vector>

#include "client/acquire_options.hpp"
#include "client/cli_context.hpp"

namespace lokt::client {

// `lokt guard a,b [flags] -- CMD`: every name held while CMD runs, released
// when it ends. CMD gets LOKT_LOCK_NAME (the names as given, comma-separated)
// and LOKT_LOCK_ID (their ids in the same order).
int run_multi_guard(CliContext& cli, const AcquireFlags& flags, bool terminate_on_lost, const std::vector<std::string>& command);
// `lokt lock a,b [flags] [--json]`.
int run_multi_lock(CliContext& cli, const AcquireFlags& flags, bool json);
// `lokt unlock a,b [--break-stale | --force] [--json]`: each name as
// `unlock NAME` would; the exit status of the first that failed.
int run_multi_unlock(CliContext& cli, const std::string& list, UnlockMode mode, bool json);

}  // namespace lokt::client
