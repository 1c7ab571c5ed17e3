// What every client command sees: one interface over the lock operations, with
// an implementation per way of reaching them (the files directly, or loktd).
// It is chosen once at start; commands never ask which one they have.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/audit_log.hpp"
#include "common/hold_handle.hpp"
#include "common/lock_engine.hpp"

namespace lokt::client {

struct WaitOptions {
    bool wait = false;
    Nanoseconds timeout = std::chrono::minutes(10);
};

// Progress of a waiting acquire, for the live line on a terminal.
struct WaitProgress {
    Refusal refusal;                      // what blocks us now
    Nanoseconds waited{};                 // since we started waiting
    std::optional<std::size_t> position;  // place in the queue, when known
};
using WaitObserver = std::function<void(const WaitProgress&)>;

// One acquire waiting for a name, as `status NAME` and `why NAME` show it.
struct QueuedWaiter {
    std::size_t position = 0;  // 1 is next in line
    Identity holder;           // who would hold it
    Nanoseconds waited{};
    // "shared" or "exclusive", as the waiter asked; empty when not known
    // (a daemon older than shared locks, or a side file that does not say).
    std::string mode;
};
// Who waits for a name. Only a daemon keeps queues: without one (or with a
// daemon too old to say) the queue is not known.
struct QueueView {
    bool known = false;
    std::vector<QueuedWaiter> waiters;
    // Who keeps the queue, in the words `why` and `status` use.
    std::string keeper = "the daemon's queue";
};

// Every name's queue at once, for `lokt top` and `status --watch`: names
// without waiters are left out. Not known without a daemon (as QueueView).
struct QueuesView {
    bool known = false;
    std::map<std::string, std::vector<QueuedWaiter>> by_name;
};

// Something to sleep on until the root may have changed, for the live views.
// Poll fd() for input, then call drain(). fd() may change after drain() (a
// feed through the daemon carries on with the files when the daemon goes).
class ChangeFeed {
public:
    virtual ~ChangeFeed() = default;
    virtual int fd() const = 0;
    // Reads what woke us without blocking; true when the root may have changed.
    virtual bool drain() = 0;
    // "daemon events" or "file events": what drives the view, for its header.
    virtual std::string_view source() const = 0;
    // How often to read the root again with no event: a holder that dies or
    // expires writes nothing, so a view without a daemon looks now and then.
    // Zero: never (the daemon reports what it notices).
    virtual std::chrono::milliseconds reread_every() const = 0;
};

// A hold this process acquired, as acquire returns it and renew and release
// take it back. Commands read the record; the rest is for the backend that
// granted it (a backend that needs more, say a store's revision, adds it here).
struct Lease {
    LockRecord record;  // as written (name, lock_id, holder, expiry); renew updates it
    // The lock file as we wrote it, when we wrote it ourselves (on the files):
    // release then checks, under the name's mutex, that this very file is still
    // there instead of reading it back. Unknown for a hold the daemon wrote.
    WrittenFile file;

    const std::string& name() const { return record.name; }
    const std::string& lock_id() const { return record.lock_id; }
};

// What an acquire came to: a hold, or why not.
struct Acquired {
    using Outcome = AcquireResult::Outcome;
    Outcome outcome = Outcome::refused;
    Lease lease;  // ours, unless refused (nested: the enclosing guard's, not to be released)
    Refusal refusal;
    bool granted() const { return outcome != Outcome::refused; }
};

// Prints one audit line (raw text and parsed event) to stdout.
using AuditPrinter = std::function<void(std::string_view line, const AuditEvent& event)>;

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string_view kind() const = 0;  // "files", "daemon" or "etcd"
    // The lock root as commands show it (status --json, lokt top).
    virtual std::string root() const = 0;

    // Acquires, waiting if asked; a refusal after waiting has code timeout.
    virtual Result<Acquired> acquire(const AcquireSpec& spec, const WaitOptions& wait, const WaitObserver& observer) = 0;
    // Extends the hold to ttl from now if it is still ours (ErrorCode::lost
    // otherwise); the lease then describes the renewed lock.
    virtual Result<void> renew(Lease& lease, Nanoseconds ttl) = 0;
    // renew(), done by whoever keeps the hold alive rather than checked there:
    // through loktd the daemon is asked to renew it. (renew() of a hold loktd
    // keeps only reads it back, and takes it over on the files when loktd has
    // fallen behind, closing the connection: right for a guard, whose one hold
    // goes with it; for a holder whose many holds share one connection, each
    // renewal must leave the others where they are.)
    virtual Result<void> renew_in_place(Lease& lease, Nanoseconds ttl) { return renew(lease, ttl); }
    // How long a holder waits between two renew() calls of a lease with this
    // TTL: TTL/2, unless the backend renews on its own and renew() only checks.
    virtual Nanoseconds renew_interval(const Lease& lease, Nanoseconds ttl) const {
        (void)lease;
        return ttl / 2;
    }
    // The TTL a guard without --ttl renews its hold with, when the backend's
    // holds need renewing to stay alive (etcd's leases); none otherwise.
    virtual std::optional<Nanoseconds> guard_lease_ttl() const { return std::nullopt; }
    // Ends the hold if it is still ours (ErrorCode::lost otherwise). note: what
    // the release line says about how the hold ended (exit status, duration).
    virtual Result<void> release(const Lease& lease, const ReleaseNote& note = {}) = 0;
    // Records that the hold was found taken away (the `lost` event).
    virtual void record_lost(const Lease& lease, const std::string& detail) = 0;
    // A guard's liveness handle (hold_handle.hpp), made where this backend's
    // holds are judged, before the hold that names it is asked for.
    virtual Result<HoldHandle> create_hold_handle() = 0;

    virtual Result<LockRecord> unlock(const std::string& name, UnlockMode mode) = 0;
    virtual Result<UnlockManyResult> unlock_many(const std::string& owner, bool force) = 0;
    virtual Result<LockRecord> freeze(const std::string& name, Nanoseconds ttl, bool force) = 0;
    virtual Result<LockRecord> unfreeze(const std::string& name, bool force) = 0;

    virtual Result<LockView> inspect(const std::string& name) = 0;
    virtual Result<std::vector<LockView>> list(bool prune) = 0;
    virtual Result<std::vector<FreezeView>> list_freezes() = 0;
    // The names that have a lock (Area::locks) or a freeze (Area::freezes),
    // sorted, whatever state they are in: cheaper than list(), for completion.
    virtual Result<std::vector<std::string>> names(Area area) = 0;
    virtual Result<QueueView> queue(const std::string& name) = 0;
    virtual Result<QueuesView> queues() = 0;
    // Starts watching the root for changes (see ChangeFeed).
    virtual Result<std::unique_ptr<ChangeFeed>> watch_changes() = 0;

    // The audit log's last `count` events, oldest first (none when it cannot be read).
    virtual std::vector<AuditEvent> latest_audit_events(std::size_t count) = 0;
    // When the count-th last event matching query happened; nullopt when fewer match.
    virtual Result<std::optional<WallTime>> audit_time_of_last(const AuditQuery& query, std::size_t count) = 0;
    // Visits every audit event matching query, oldest first, for a backend
    // that keeps its audit events itself rather than in the root's audit.log
    // (etcd); nullopt for one that does not, whose log the command reads.
    virtual std::optional<Result<void>> read_own_audit(const AuditQuery& query, const AuditPrinter& visit) {
        (void)query;
        (void)visit;
        return std::nullopt;
    }
    // Prints every audit event matching query as it is written, starting with
    // those since query.since when that is set, until printing to stdout fails
    // (then returns). An error: the log cannot be followed.
    virtual Result<void> follow_audit(const AuditQuery& query, const AuditPrinter& print) = 0;
};

}  // namespace lokt::client
