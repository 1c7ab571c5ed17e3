// The JSON shapes of `--json` output (status, lock, why, unlock): one
// definition each, so every command prints a lock the same way.
#pragma once

#include <optional>

#include "client/backend.hpp"
#include "client/json_writer.hpp"
#include "common/lock_engine.hpp"

namespace lokt::client {

// The members of a lock record (the caller opened the object).
void write_lock_members(JsonWriter& out, const LockRecord& record, bool with_name);
void write_lock_record(JsonWriter& out, const LockRecord& record);
void write_lock_view(JsonWriter& out, const LockView& view, WallTime now);
// The same members, in an object the caller opened (to add more).
void write_lock_view_members(JsonWriter& out, const LockView& view, WallTime now);
void write_freeze(JsonWriter& out, const std::string& name, const LockRecord& record);
// "frozen" for a name nobody holds but a freeze blocks; otherwise the hold's state.
std::string_view shown_state(const LockView& view);
// The members "queue_known" and "waiters" (position, owner, host, pid,
// agent_id, waited_ms, and mode where known), in an object the caller opened.
void write_queue_members(JsonWriter& out, const QueueView& queue);
// "owner@host (pid N, agent A) for 4s", one waiter in a queue; with_mode
// adds ", asks shared" or ", asks exclusive" where the mode is known.
std::string describe_waiter(const QueuedWaiter& waiter, bool with_mode = false);
// Whether a text view names each waiter's mode: when the name is held in
// shared mode (held may be null) or some waiter asks for a shared hold.
bool queue_shows_modes(const QueueView& queue, const LockRecord* held);
// What stands in the way of a refused operation: the lock's holder, a freeze.
struct Blocker {
    std::optional<LockRecord> holder;
    std::optional<LockRecord> freeze;
};

// {"error": {"code": ..., "message": ...}}, and for a refusal the blocker:
// "holder" (the lock file's fields, as write_lock_record) and, for a freeze,
// "frozen_by" ("owner@host") and "until" (RFC 3339).
void write_error(JsonWriter& out, const Error& error, const Blocker& blocker = {});

}  // namespace lokt::client
