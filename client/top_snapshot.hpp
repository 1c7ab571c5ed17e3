// What `lokt top` and `lokt status --watch --json` show, as data: every held
// name with its holder and queue, the frozen names, the latest audit events.
// Taken from a Backend in one go and kept apart from any drawing, so tests
// assert on the JSON form and the screen is only a view of it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "client/backend.hpp"
#include "client/json_writer.hpp"
#include "common/audit_log.hpp"

namespace lokt::client {

struct TopWaiter {
    std::size_t position = 0;  // 1 is next in line
    Identity who;
    WallTime since{};  // when it started waiting
    std::string mode;  // "shared" or "exclusive" as asked; empty when not known
};

// A held name (or, rarely, a name with waiters that nobody holds right now).
struct TopHold {
    std::string name;
    std::string state;                 // live, expired, dead_holder, corrupt, being_written, free
    std::string mode = "exclusive";    // or "shared": a group of shared holders
    std::optional<LockRecord> record;  // the lock file, when it reads as one
    std::string command;               // the holder's command line, when it runs on this host
    std::string kept_by;               // "guard" or "command" for a live guard hold
    bool frozen = false;               // a freeze blocks the name as well
    std::vector<TopWaiter> waiters;
};

struct TopFreeze {
    std::string name;
    LockRecord record;
    bool held = false;               // the name is also held (its waiters are listed there)
    std::vector<TopWaiter> waiters;  // for a name nobody holds
};

struct TopSnapshot {
    WallTime taken{};
    std::string root;
    std::string backend;  // "daemon" or "files"
    bool queues_known = false;
    std::vector<TopHold> holds;  // sorted by name
    std::vector<TopFreeze> freezes;
    std::vector<AuditEvent> events;  // the latest, oldest first
    std::size_t waiter_count() const;
};

struct SnapshotOptions {
    std::size_t max_events = 20;
    std::string local_host;  // commands are read from /proc for holders on this host
};

Result<TopSnapshot> take_top_snapshot(Backend& backend, const SnapshotOptions& options);

// The snapshot as one JSON object (the caller chooses pretty or compact).
void write_top_snapshot(JsonWriter& out, const TopSnapshot& snapshot);

// What a change of the root would change: holders, queues, freezes, the last
// event; not the clocks. Two snapshots with the same signature show the same.
std::string snapshot_signature(const TopSnapshot& snapshot);

}  // namespace lokt::client
