// Who is acting: owner (LOKT_OWNER or the OS user), host, pid, start time and
// agent id. Identity appears in lock files and on every audit line.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace lokt {

// The longest owner and agent id accepted, in bytes. Bounded so that a lock
// file stays far below the 64 KiB every reader accepts: an unbounded LOKT_OWNER
// would make a live lock unreadable, and so breakable, for everyone else.
inline constexpr std::size_t k_max_identity_field_bytes = 1024;

struct Identity {
    std::string owner;
    bool owner_explicit = false;  // LOKT_OWNER was set: the only basis for re-entry
    std::string host;
    pid_t pid = 0;
    std::optional<std::uint64_t> pid_start;
    std::string agent_id;

    bool operator==(const Identity&) const = default;
};

// The name of uid in passwd(5) text ("name:password:uid:..." lines); the first match wins.
std::optional<std::string> user_name_in_passwd(std::string_view passwd, uid_t uid);

// "agent-" + 4 hex digits: low 16 bits of 32-bit FNV-1a over "PID-STARTTIME".
std::string derive_agent_id(pid_t pid, std::optional<std::uint64_t> start_ticks);

// The identity of this process, from LOKT_OWNER, LOKT_AGENT_ID and the system.
Identity current_identity();

// Ok, or a usage error naming the field (LOKT_OWNER, LOKT_AGENT_ID) that is too long.
Result<void> validate_identity(const Identity& identity);

// The same identity, re-bound to another process (e.g. the shell that ran `lokt lock`).
Identity identity_for_process(const Identity& base, pid_t pid);

// "owner@host"
std::string owner_at_host(const std::string& owner, const std::string& host);

}  // namespace lokt
