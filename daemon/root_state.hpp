// What the daemon knows about one lock root beyond its files: which holds are
// bound to which connection, the FIFO wait queue of each name, and when
// something is due (a waiter's timeout, a guard's renewal, a retry when a
// blocker's TTL lapses). Plain data and an injected clock; the files are
// reached only through FileOps, so the queue and TTL logic is tested without
// sockets, threads or a disk.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/lock_engine.hpp"
#include "daemon/clock.hpp"
#include "daemon/deadline_index.hpp"

namespace lokt::daemon {

using ConnectionId = std::uint64_t;

// The operations of the lock engine the queue logic needs, each performed on
// behalf of `actor` (named on the audit line). EngineFileOps runs the real
// engine; tests use a map.
class FileOps {
public:
    virtual ~FileOps() = default;
    virtual Result<AcquireResult> try_acquire(const AcquireSpec& spec, const Identity& actor) = 0;
    // expected: when known, renew only if the lock file is still that version
    // (ErrorCode::not_owner otherwise: see LockEngine::renew). written: set to
    // the file written now.
    virtual Result<LockRecord> renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl, const Identity& actor,
                                     WrittenFile expected = {}, WrittenFile* written = nullptr) = 0;
    // written: the lock file as the hold wrote it, when known (see LockEngine::release).
    virtual Result<void> release(const std::string& name, const std::string& lock_id, const Identity& actor, WrittenFile written,
                                 const ReleaseNote& note) = 0;
    // The holder of lock_id left without releasing: break the hold if it is
    // stale (LockEngine::end_if_stale) and say how it stands.
    virtual Result<HoldCheck> end_if_stale(const std::string& name, const std::string& lock_id, const Identity& actor) = 0;
    // The audit line of an acquire refused for this reason (deny, freeze-deny).
    virtual void record_denial(const AcquireSpec& spec, const Refusal& refusal, const Identity& actor) = 0;
    // Is NAME's lock file still the one written? One stat, no read; false
    // when unsure.
    virtual bool lock_file_is(const std::string& name, WrittenFile written) = 0;
};

// One acquire request as the queue sees it.
struct AcquireTicket {
    ConnectionId connection = 0;
    std::uint64_t request_id = 0;
    AcquireSpec spec;  // holder, binding, ttl, inherited lock id
    Identity actor;    // who asked: named on the audit lines written for it
    bool wait = false;
    Nanoseconds timeout = std::chrono::minutes(10);
    bool progress = false;  // the client wants progress lines
};

// The final answer to an acquire: granted, refused (held, frozen, timeout) or an error.
struct AcquireAnswer {
    ConnectionId connection = 0;
    std::uint64_t request_id = 0;
    Result<AcquireResult> result;
};

// A waiting acquire's place changed (or it just started waiting).
struct ProgressNote {
    ConnectionId connection = 0;
    std::uint64_t request_id = 0;
    std::size_t position = 0;  // 1 is next
    std::size_t queue_length = 0;
    Refusal refusal;  // what blocks the queue now
};

// What the caller has to send after a step.
struct Effects {
    std::vector<AcquireAnswer> answers;
    std::vector<ProgressNote> progress;
    bool empty() const { return answers.empty() && progress.empty(); }
};

class RootState {
public:
    RootState(FileOps& files, const Clock& clock, std::string host);

    // Is the client at the other end of a connection still there? Asked before
    // a waiter is granted: a daemon that was stopped (SIGSTOP, a hung disk)
    // may hold waiters whose clients gave up on it meanwhile and carry on with
    // the files; such a waiter is dropped, never granted. Unset: always.
    void set_connection_check(std::function<bool(ConnectionId)> still_there) { m_still_there = std::move(still_there); }

    // Tries at once; a waiter that cannot have it joins the back of the name's queue.
    void acquire(AcquireTicket ticket, Effects& out);
    // A client's explicit release of a hold it owns; the head waiter is tried next.
    Result<void> release(const std::string& name, const std::string& lock_id, const Identity& actor, ReleaseNote note,
                         Effects& out);
    // A client's explicit renew (a new TTL, counted from now). A guard's own
    // heartbeat does not come here while its connection is open: this state
    // is then the only one renewing the hold (see advance).
    Result<LockRecord> renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl, const Identity& actor);
    // Something changed a name's lock or freeze file (inotify, pidfd, an unlock
    // through the daemon): forget a hold that is gone and try the head waiter.
    void files_changed(const std::string& name, Effects& out);
    // Every name with waiters (after an inotify overflow).
    void all_files_changed(Effects& out);
    // A hold removed by unlock: no longer tracked.
    void forget_hold(const std::string& name);
    // The connection is gone: its waiters leave their queues. Its guard holds
    // end now if their guard is gone and nothing else carries them (audited as
    // a stale-break, as file mode would); a hold whose command still runs
    // (liveness handle) or whose guard still lives (it carries on in file
    // mode) stays, detached, until the files say it has ended. With
    // keep_holds (the daemon is shutting down) the holds are left to their
    // guards, on disk.
    void connection_closed(ConnectionId connection, bool keep_holds, Effects& out);
    // A liveness handle was closed for the last time (inotify IN_CLOSE_WRITE
    // on live/TOKEN): the holds and queues waiting on it look again.
    void handle_released(const std::string& token, Effects& out);
    // The liveness handles whose release matters now: of detached holds kept
    // by their command, and of guards outside the daemon that queues wait on.
    std::set<std::string> watched_handles() const;
    // The names a handle's release may change (for a look after its watch starts).
    std::vector<std::string> names_of_handle(const std::string& token) const;
    // Does what is due now: timeouts, guard renewals, retries.
    void advance(Effects& out);
    // The earliest moment advance() has something to do; nullopt when nothing is
    // waiting and nothing needs renewing, so an idle daemon never wakes up.
    std::optional<SteadyTime> next_deadline() const;
    // Ask for a retry of a name's head waiter no later than `after` from now (a
    // blocker whose process cannot be watched).
    void retry_within(const std::string& name, Nanoseconds after);

    // Holders outside the daemon that queues are blocked on: pid -> names.
    std::map<pid_t, std::set<std::string>> blocker_pids() const;

    std::size_t hold_count() const { return m_holds.size(); }
    std::size_t waiter_count() const { return m_waiter_total; }
    std::size_t waiters_for(const std::string& name) const;
    // One acquire in a name's queue, as `lokt status NAME` shows it.
    struct QueuedAcquire {
        std::size_t position = 0;  // 1 is next
        Identity holder;           // who would hold it
        Nanoseconds waited{};
        bool shared = false;  // asks for a shared hold (--shared)
    };
    std::vector<QueuedAcquire> queue_of(const std::string& name) const;
    // The names with a queue, sorted (for a status request without a name).
    std::vector<std::string> queued_names() const;
    bool idle() const { return m_holds.empty() && m_queues.empty(); }
    // Whether anything here belongs to the connection (a hold bound to it, a waiter).
    bool has_connection(ConnectionId connection) const {
        return m_holds_of.count(connection) != 0 || m_waits_of.count(connection) != 0;
    }
    // For tests: the indexes (deadlines, holds and waiters by connection,
    // detached holds, blocked queues, the waiter count) agree with a walk of
    // every hold and queue.
    bool indexes_consistent() const;
    // Whether a guard hold with this lock id is bound to a connection here.
    std::optional<Identity> hold_actor(const std::string& name, const std::string& lock_id) const;

private:
    // Kept small: loktd holds 10,000 of these within its 10 MB budget.
    struct Hold {
        ConnectionId connection = 0;  // 0: a manual hold, not bound to a connection
        LockRecord record;            // as written to the file; its lock_id names the hold
        // Who asked, when that is not the holder the record names (a manual
        // lock bound to the shell is asked for by lokt, a child of the shell).
        std::unique_ptr<Identity> other_actor;  // a pointer: most holds have none
        const std::string& lock_id() const { return record.lock_id; }
        Identity actor() const;
        void set_actor(const Identity& actor);
        std::optional<Nanoseconds> ttl;
        SteadyTime renewed{};               // guard: last renewal
        std::optional<SteadyTime> expires;  // manual TTL hold: when it lapses
        // The lock file as written; unknown after a renewal rewrote it.
        WrittenFile file;
        bool guard = false;
        // Its connection closed but the hold lives on: its guard still runs
        // (carrying on in file mode), or its command does (kept_by_command).
        bool detached = false;
        bool kept_by_command = false;
        // When its entry in m_deadlines says it is due (renewal or lapse).
        std::optional<SteadyTime> scheduled;
        // When it is due, from the fields above.
        std::optional<SteadyTime> due() const;
    };
    struct Waiter {
        AcquireTicket ticket;
        std::uint64_t number = 0;  // names its timeout in m_deadlines
        SteadyTime deadline{};
        Refusal refusal;  // the latest reason it waits
    };
    struct Queue {
        std::deque<Waiter> waiters;
        std::optional<SteadyTime> retry_at;  // a blocker's TTL lapses, a freeze ends (set through set_retry)
        pid_t blocker_pid = 0;               // a holder outside the daemon, on this host
        std::string blocker_handle;          // or its guard's liveness handle, when only that lives
    };

    // The cycle of waits and manual holds this waiter would close, if any
    // (wait_for_graph.hpp): it would never be granted.
    std::optional<std::vector<WaitEdge>> wait_cycle(const AcquireTicket& ticket, const Refusal& refusal) const;
    // A waiting acquire that queues behind others without trying the files.
    bool joins_without_trying(const AcquireTicket& ticket) const;
    // Tries the head of a name's queue until one is granted or the head is blocked.
    void pump(const std::string& name, Effects& out);
    void note_granted(const AcquireTicket& ticket, const AcquireResult& result);
    // A detached hold: end it if the files say it has ended (and try the queue).
    void check_detached(const std::string& name, Effects& out);

    void note_blocker(const std::string& name, Queue& queue, const Refusal& refusal);
    void report_positions(const std::string& name, const Queue& queue, Effects& out, std::size_t from) const;
    SteadyTime steady_at(WallTime when) const;

    // Every change to m_holds and m_queues goes through these, which keep the
    // indexes below in step with them.
    using HoldIt = std::map<std::string, Hold>::iterator;
    using QueueIt = std::map<std::string, Queue>::iterator;
    HoldIt put_hold(const std::string& name, Hold hold);  // replaces a hold of that name
    // The hold with this lock id: NAME's exclusive one, or a shared member's.
    HoldIt find_hold(const std::string& name, const std::string& lock_id);
    // The keys of NAME's shared members' holds (m_holds keeps each apart).
    std::vector<std::string> member_keys(const std::string& name) const;
    void erase_hold(HoldIt it);
    void hold_changed(HoldIt it);  // after its times, detached or kept_by_command changed
    void set_retry(const std::string& name, Queue& queue, std::optional<SteadyTime> when);
    void add_waiter(Queue& queue, Waiter waiter);
    void waiter_leaves(const Waiter& waiter);  // called before it is taken out of its queue
    void erase_queue(QueueIt it);              // an empty queue

    FileOps& m_files;
    std::function<bool(ConnectionId)> m_still_there;
    const Clock& m_clock;
    std::string m_host;
    // Keyed by lock name; a shared member by NAME '\n' LOCK_ID (member_key).
    std::map<std::string, Hold> m_holds;
    std::map<std::string, Queue> m_queues;

    DeadlineIndex m_deadlines;
    // The guard holds bound to each open connection, and the names each
    // connection waits for (with how many of its acquires wait there).
    std::map<ConnectionId, std::set<std::string>> m_holds_of;
    std::map<ConnectionId, std::map<std::string, std::size_t>> m_waits_of;
    std::set<std::string> m_detached;  // names of detached holds
    std::set<std::string> m_blocked;   // names whose queue waits on a pid or a handle
    std::size_t m_waiter_total = 0;
    std::uint64_t m_next_waiter = 1;
};

// The refusal a waiter gets when its time runs out, worded as in file mode.
Refusal timeout_refusal(const Refusal& last, Nanoseconds waited_for);

}  // namespace lokt::daemon
