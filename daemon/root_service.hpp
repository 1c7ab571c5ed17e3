// One lock root served by the daemon: its RootState driven by real time (one
// steady_timer armed for the next deadline only), its watcher, and the audit
// subscriptions that follow its audit.log. Every request that touches the
// root's files comes here and runs through the root's one engine
// (EngineFileOps), and whatever changed is told to the queues at once.
// Everything it decides goes out through the deliver callback as answers,
// progress lines and audit events.
#pragma once

#include <asio.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/audit_follower.hpp"
#include "daemon/clock.hpp"
#include "daemon/engine_file_ops.hpp"
#include "daemon/file_event_hub.hpp"
#include "daemon/root_state.hpp"
#include "daemon/root_watcher.hpp"
#include "daemon/wakeup_timer.hpp"

namespace lokt::daemon {

struct AuditLine {
    ConnectionId connection = 0;
    std::uint64_t subscription = 0;
    std::string line;  // the audit line as written
};

// What `lokt status [NAME]` reports of a root, in the engine's terms.
struct StatusReport {
    struct Lock {
        LockRecord record;
        HoldState state = HoldState::live;
        std::size_t waiters = 0;  // acquires queued for it here
    };
    struct Waiter {
        std::string name;
        RootState::QueuedAcquire queued;
    };
    std::vector<Lock> locks;          // the lock files that hold a record (corrupt ones left out), in name order
    std::vector<LockRecord> freezes;  // live freezes (the name's only, when one is asked about)
    std::vector<LockRecord> pruned;   // stale holds removed by prune_expired
    std::vector<Waiter> waiting;      // who waits, for the name asked about or every name
};

// A freeze asked for: the freeze now in place, or why not; when another's
// live freeze stands in the way, that freeze.
struct FreezeOutcome {
    Result<LockRecord> frozen;
    std::optional<LockRecord> standing;
};

struct RootOutput {
    std::function<void(Effects&)> effects;
    std::function<void(std::vector<AuditLine>&)> audit_lines;
    std::function<void()> state_changed;  // for the idle check
    // Whether a connection is not reading what it is sent (its subscriptions then pause).
    std::function<bool(ConnectionId)> congested;
    // Is the client of a connection still there? (RootState::set_connection_check)
    std::function<bool(ConnectionId)> still_connected;
};

class RootService {
public:
    // file_events: the daemon's one file event queue, shared by every root.
    RootService(asio::io_context& io, FileEventHub& file_events, std::filesystem::path root, std::string host, RootOutput output);
    RootService(const RootService&) = delete;
    RootService& operator=(const RootService&) = delete;

    const std::filesystem::path& root() const { return m_root; }
    RootState& state() { return m_state; }
    const RootState& state() const { return m_state; }

    void acquire(AcquireTicket ticket);
    Result<void> release(const std::string& name, const std::string& lock_id, const Identity& actor,
                         const ReleaseNote& note = {});
    Result<LockRecord> renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl, const Identity& actor);
    // `lokt unlock NAME`, `unlock --owner O` (owner given) or `--all` (no
    // owner: every lock), `freeze` and `unfreeze`, performed for actor. A
    // waiter the change frees is granted before these return.
    Result<LockRecord> unlock(const std::string& name, UnlockMode mode, const Identity& actor);
    Result<UnlockManyResult> unlock_many(const std::optional<std::string>& owner, bool force, const Identity& actor);
    FreezeOutcome freeze(const std::string& name, Nanoseconds ttl, bool force, const Identity& actor);
    Result<LockRecord> unfreeze(const std::string& name, bool force, const Identity& actor);
    // `lokt status [NAME]` (every lock and freeze when name is empty). Only
    // prune_expired writes (stale holds removed, audited); without it a root
    // that does not exist is not created.
    Result<StatusReport> status(const std::string& name, bool prune_expired, const Identity& actor);
    void connection_closed(ConnectionId connection, bool keep_holds);

    // Starts following audit.log for a subscription, from the first line at
    // or after `since`, or from its end. The caller sends its reply, then
    // calls follow_audit().
    Result<void> subscribe(ConnectionId connection, std::uint64_t id, std::optional<WallTime> since, std::string name);
    bool unsubscribe(ConnectionId connection, std::uint64_t id);
    std::size_t subscription_count() const { return m_subscriptions.size(); }
    // Sends subscribers the lines written since they last got some: at most
    // k_audit_bytes_per_turn of the log per subscription and turn of the
    // event loop (a long history goes out over many turns, between other
    // work), and nothing to a connection that does not read what it is sent:
    // the log is its buffer, and it goes on from there once it reads again.
    void follow_audit();
    // The connection reads again: its subscriptions go on.
    void resume_audit(ConnectionId connection);
    bool idle() const { return m_state.idle() && m_subscriptions.empty(); }
    // Why the root is looked at on a timer rather than watched; empty while watched.
    const std::string& unwatched() const { return m_watcher.unwatched(); }

private:
    struct Subscription {
        AuditQuery filter;       // its name, if it asked for one
        AuditFollower follower;  // how far audit.log has been sent
        // The history asked for (since): the lines before history_end are
        // sent only from that time on.
        std::optional<WallTime> since;
        std::size_t history_end = 0;
    };
    using SubscriptionKey = std::pair<ConnectionId, std::uint64_t>;

    // After every step: send what was decided, watch the right pids, arm the timer.
    void settle(Effects& effects);
    // NAME's files were changed here (unlock, freeze, a prune): forget a hold
    // that was removed, and try the queue.
    void changed(const std::string& name, bool hold_removed);
    // After an operation that changed nothing: an idle root keeps no files open.
    void close_if_idle();
    Result<StatusReport> read_status(const std::string& name, bool prune_expired, const Identity& actor);
    void arm_timer();
    void ensure_watching();

    asio::io_context& m_io;
    std::filesystem::path m_root;
    RootOutput m_output;
    SystemClock m_clock;
    EngineFileOps m_files;
    RootState m_state;
    RootWatcher m_watcher;
    WakeupTimer m_timer;
    std::optional<SteadyTime> m_armed_for;
    std::map<SubscriptionKey, Subscription> m_subscriptions;
    bool m_follow_posted = false;  // follow_audit() comes again on the next turn
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);

public:
    ~RootService() { *m_alive = false; }
};

}  // namespace lokt::daemon
