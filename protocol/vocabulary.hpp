// The words every lokt message shares: protocol versions and capabilities, the
// ops, and the one enum the wire has that the engine does not (AcquireMode).
// The other enums on the wire are the engine's own (Binding, UnlockMode,
// AcquireResult::Outcome, HoldState); their words are in wire_words.hpp.
#pragma once

#include "common/result.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace lokt::protocol {

// A closed range of protocol versions a peer speaks.
struct VersionRange {
    std::uint32_t min = 0;
    std::uint32_t max = 0;
    bool operator==(const VersionRange&) const = default;
};

// The protocol versions this build speaks, on either side. Version 2 adds the
// `etcd_hold` request; everything else is as in version 1.
inline constexpr VersionRange k_supported_versions{1, 2};
inline constexpr std::uint32_t k_version_with_etcd_hold = 2;

// Capability word: the client accepts, and the daemon sends, `progress`
// messages for waiting acquires. Both sides must list it for it to be used.
inline constexpr std::string_view k_capability_progress = "progress";

// The highest version both ranges contain, or ErrorCode::unsupported with a
// message naming both ranges when they do not overlap.
Result<std::uint32_t> negotiate_version(VersionRange client, VersionRange daemon);

enum class Op {
    hello,
    acquire,
    release,
    renew,
    unlock,
    unlock_many,
    status,
    freeze,
    unfreeze,
    subscribe_audit,
    unsubscribe,
    daemon_status,
    shutdown,
    etcd_hold,
};

std::string_view to_string(Op op);
std::optional<Op> op_from_string(std::string_view word);

// What a hold asked for is bound to: a guard's hold ends with the guard's
// work; a manual hold outlives the `lokt lock` command (SPEC.md section 3).
// With "ttl_ms" (or without) it becomes the engine's Binding::ttl (or
// Binding::process), which the daemon decides, not the client.
enum class AcquireMode { guard, manual };
std::string_view to_string(AcquireMode mode);

}  // namespace lokt::protocol
