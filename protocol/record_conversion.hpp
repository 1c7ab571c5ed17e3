// Lock records and identities as the engine holds them, and as the wire carries
// them. loktd and lokt both convert each way, so the conversions live here once.
#pragma once

#include "identity.hpp"
#include "lock_record.hpp"
#include "messages.hpp"

namespace lokt::protocol {

Identity identity_to_wire(const lokt::Identity& identity);
lokt::Identity identity_from_wire(const Identity& identity);

// Absent fields stay absent: a zero acquired time, a zero ttl_sec and a missing
// expiry are left out of the LockInfo, and come back as zero and nullopt.
LockInfo record_to_wire(const LockRecord& record);
// A timestamp that is not RFC 3339 reads as absent (zero acquired, no expiry).
LockRecord record_from_wire(const LockInfo& info);

}  // namespace lokt::protocol
