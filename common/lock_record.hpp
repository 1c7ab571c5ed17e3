// The lock (and freeze) file: one JSON object with SPEC.md's keys in SPEC.md's
// order, shared on disk with other lokt tools. Our additions come after them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/enum_words.hpp"
#include "common/identity.hpp"
#include "common/result.hpp"
#include "common/wall_time.hpp"

namespace lokt {

// Which rule ends a hold (SPEC.md section 3); written as "bound_to".
enum class Binding {
    guard,    // the guard process: ends with it
    ttl,      // a manual lock with a TTL: ends at unlock or expiry, whoever ran `lokt lock`
    process,  // a manual lock without TTL: ends when the process that ran lokt is gone
};

// "bound_to"'s words, in the lock file and on the wire alike.
inline constexpr std::array k_binding_words{
    Word<Binding>{Binding::guard, "guard"},
    Word<Binding>{Binding::ttl, "ttl"},
    Word<Binding>{Binding::process, "process"},
};

std::string_view to_string(Binding binding);

struct LockRecord {
    int version = 1;
    std::string name;
    std::string lock_id;
    std::string owner;
    std::string host;
    std::int64_t pid = 0;
    std::optional<std::uint64_t> pid_start;  // "pid_start_ns": clock ticks since boot, see SPEC.md
    std::string agent_id;
    WallTime acquired{};
    std::int64_t ttl_sec = 0;
    std::optional<WallTime> expires_at;
    // lokt's own fields; other tools ignore them.
    std::optional<Binding> bound_to;
    bool owner_explicit = false;  // "owner_set": LOKT_OWNER was set by the holder
    std::string boot_id;
    // The deadline on boot_id's boot clock (CLOCK_BOOTTIME, ns), written with
    // expires_at: how readers of the same boot judge expiry (hold_deadline.hpp).
    std::optional<std::uint64_t> expires_boot_ns;
    std::optional<std::uint64_t> fence;
    // A guard's liveness handle: the file live/HANDLE in the root, flock'd by
    // the guard and inherited by its command. While any process holds that
    // lock, the hold is alive even after the guard itself is gone.
    std::string handle;
    // A slot of a pool (slot_pool.hpp): the pool's name, its size, and which
    // slot this file holds (0 .. slots-1). Empty and absent for a plain lock.
    std::string pool;
    std::optional<std::uint64_t> slots;
    std::optional<std::uint64_t> slot;
    // A shared hold (docs/design.md, "Shared locks"): "shared" for the one
    // file of a group of shared holders, whose top-level holder fields
    // describe one live member (the representative) and whose `holders` lists
    // every member as a record of its own. Empty for an exclusive hold and
    // for a member.
    std::string mode;
    std::vector<LockRecord> holders;

    bool is_shared() const { return mode == "shared"; }
    // When the hold lapses: expires_at, else acquired + ttl_sec, else never.
    std::optional<WallTime> expiry() const;

    bool operator==(const LockRecord&) const = default;
};

// The holder a record names, as an Identity.
Identity holder_identity(const LockRecord& record);

// Exactly the on-disk text: two-space indent, SPEC.md key order, trailing newline.
std::string serialize_lock_record(const LockRecord& record);

// ErrorCode::corrupt with the reason when the text is not a lock record.
Result<LockRecord> parse_lock_record(std::string_view text);
// The same, always through the general JSON parser (parse_lock_record takes a
// fast path for flat records); for tests that compare the two.
Result<LockRecord> parse_lock_record_with_library(std::string_view text);

// A fresh lock id: 32 lowercase hex digits from the kernel's random source.
std::string new_lock_id();

}  // namespace lokt
