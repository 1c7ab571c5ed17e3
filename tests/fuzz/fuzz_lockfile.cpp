// libFuzzer target for the lock-file parser: any bytes a file in locks/ may
// hold (other tools' records, corruption, hostile content) must parse to a
// record or a `corrupt` error, never crash; and a record that parses must
// survive serialize -> parse unchanged. The fast path for flat records must
// agree with the general JSON parser on every input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/lock_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = lokt::parse_lock_record(text);
    auto general = lokt::parse_lock_record_with_library(text);
    if (parsed.ok() != general.ok()) std::abort();
    if (!parsed) {
        if (parsed.error().code != lokt::ErrorCode::corrupt) std::abort();
        if (parsed.error().message != general.error().message) std::abort();
        return 0;
    }
    if (lokt::serialize_lock_record(*parsed) != lokt::serialize_lock_record(*general) ||
        parsed->owner_explicit != general->owner_explicit) {
        std::abort();
    }
    // Round trip: what we write from a parsed record reads back the same.
    const std::string written = lokt::serialize_lock_record(*parsed);
    auto again = lokt::parse_lock_record(written);
    if (!again) std::abort();
    if (again->name != parsed->name || again->lock_id != parsed->lock_id || again->owner != parsed->owner ||
        again->pid != parsed->pid || again->acquired != parsed->acquired || again->expires_at != parsed->expires_at ||
        again->ttl_sec != parsed->ttl_sec || lokt::serialize_lock_record(*again) != written) {
        std::abort();
    }
    return 0;
}
