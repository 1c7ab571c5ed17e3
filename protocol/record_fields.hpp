// Private to protocol/'s .cpp files. The wire's field lists for the engine's
// records that requests, replies and events share: Identity and LockRecord
// (docs/protocol.md section 5). The lock file's own list is in
// common/lock_record.cpp: the two differ in three keys (pid_start_ns,
// owner_set, version) and in what an absent or odd value looks like.
#pragma once

#include "common/identity.hpp"
#include "common/lock_record.hpp"
#include "protocol/field_codec.hpp"

namespace lokt::protocol::wire {

inline void fields(auto& v, Like<Identity> auto& m) {
    v.nonempty_text("owner", m.owner);
    v.flag("owner_explicit", m.owner_explicit);
    v.nonempty_text("host", m.host);
    v.number("pid", m.pid, k_pid);
    v.optional_number("pid_start", m.pid_start, k_any);
    v.optional_text("agent_id", m.agent_id);
}

// A record may come from a file another tool wrote: only types are checked,
// and odd values (pid 0, empty strings) are passed on as they are.
inline void fields(auto& v, Like<LockRecord> auto& m) {
    v.text("name", m.name);
    v.optional_text("lock_id", m.lock_id);
    v.text("owner", m.owner);
    v.text("host", m.host);
    v.signed_number("pid", m.pid);
    v.optional_number("pid_start", m.pid_start, k_any);
    v.optional_text("agent_id", m.agent_id);
    v.time("acquired_ts", m.acquired);
    v.seconds("ttl_sec", m.ttl_sec);
    v.optional_time("expires_at", m.expires_at);
    v.optional_word("bound_to", m.bound_to, k_binding_words);
    v.optional_flag("owner_explicit", m.owner_explicit);
    v.optional_text("boot_id", m.boot_id);
    v.optional_number("expires_boot_ns", m.expires_boot_ns, k_any);
    v.optional_number("fence", m.fence, k_any);
    v.optional_text("handle", m.handle);
    v.optional_text("pool", m.pool);
    v.optional_number("slots", m.slots, k_any);
    v.optional_number("slot", m.slot, k_any);
}

}  // namespace lokt::protocol::wire
