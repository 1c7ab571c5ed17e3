// The times `--since` accepts, as journalctl and git users type them: a
// duration back from now (8h, 1d, 2d12h, or bare seconds), an RFC 3339 time,
// a local date (midnight), a local date and time, "today" or "yesterday".
#pragma once

#include <string_view>

#include "common/result.hpp"
#include "common/wall_time.hpp"

namespace lokt::client {

// The instant `text` names, relative to now where it is relative; a usage
// error naming the accepted forms otherwise. Local forms use the local time
// zone (TZ).
Result<WallTime> parse_since(std::string_view text, WallTime now);

}  // namespace lokt::client
