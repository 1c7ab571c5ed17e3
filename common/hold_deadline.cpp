// See hold_deadline.hpp.
#include "common/hold_deadline.hpp"

#include "common/platform/boot_clock.hpp"
#include "common/platform/processes.hpp"

namespace lokt {

void set_deadline(LockRecord& record, WallTime now, Nanoseconds ttl) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(ttl).count();
    record.ttl_sec = seconds + (std::chrono::seconds(seconds) < ttl ? 1 : 0);
    record.expires_at = now + ttl;
    record.expires_boot_ns.reset();
    const std::string& boot = platform::this_boot_id();
    const auto boot_now = platform::boot_clock_ns();
    if (!boot.empty() && boot_now) {
        record.boot_id = boot;
        record.expires_boot_ns = static_cast<std::uint64_t>(*boot_now + ttl.count());
    }
}

void clear_deadline(LockRecord& record) {
    record.ttl_sec = 0;
    record.expires_at.reset();
    record.expires_boot_ns.reset();
}

std::optional<Nanoseconds> time_left(const LockRecord& record, WallTime now) {
    if (record.expires_boot_ns && !record.boot_id.empty() && record.boot_id == platform::this_boot_id()) {
        if (const auto boot_now = platform::boot_clock_ns()) {
            const Nanoseconds left(static_cast<std::int64_t>(*record.expires_boot_ns) - *boot_now);
            // Never more than one TTL ahead, as a renewing holder keeps it; a
            // record that says otherwise is judged by its wall-clock deadline.
            if (record.ttl_sec > 0 && left <= std::chrono::seconds(record.ttl_sec) + std::chrono::seconds(1)) return left;
        }
    }
    const auto expiry = record.expiry();
    if (!expiry) return std::nullopt;
    return *expiry - now;
}

std::optional<WallTime> local_expiry(const LockRecord& record, WallTime now) {
    const auto left = time_left(record, now);
    if (!left) return std::nullopt;
    return now + *left;
}

}  // namespace lokt
