// Every lock operation on a root's files: acquire, renew, release, unlock,
// freeze, status. Both the file-mode client and the daemon run these, so the
// files, the exit codes and the audit lines are the same whichever runs them.
//
// Safety rules (DESIGN.md section 3): a lock is created only by an exclusive
// link of a fully written file; anything that removes or rewrites a lock first
// takes the name's mutex, re-reads, and acts only if the file is still the one
// it judged.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/audit_log.hpp"
#include "common/duration.hpp"
#include "common/hold_state.hpp"
#include "common/identity.hpp"
#include "common/lock_record.hpp"
#include "common/lock_store.hpp"
#include "common/result.hpp"
#include "common/wait_for_graph.hpp"

namespace lokt {

struct AcquireSpec {
    std::string name;
    Binding binding = Binding::guard;
    std::optional<Nanoseconds> ttl;
    // Whose liveness the hold is tied to and who is named in the file.
    Identity holder;
    // LOKT_LOCK_ID inherited from an enclosing guard of the same name, if any.
    std::string inherited_lock_id;
    // Write a `deny` audit line when refused (a waiter writes one, not one per poll).
    bool audit_denial = true;
    // Read before trying to create: cheaper for a waiter that is likely to find
    // the lock still held.
    bool look_first = false;
    // A guard's liveness handle token (hold_handle.hpp), written into the record.
    std::string handle;
    // The acquire waits when refused: its `deny` line says so (extra.waiting).
    bool waiting = false;
    // One acquire of several names at once (`lokt guard db,cache`): the same
    // 32 hex digits on each name's acquire line (extra.group). Empty: alone.
    std::string group;
    // Take a slot of the pool `name` of this many slots (slot_pool.hpp)
    // instead of the name itself.
    std::optional<std::uint64_t> slots;
    // Join the name's group of shared holders (docs/design.md, "Shared locks")
    // instead of taking it alone.
    bool shared = false;
    // Fairness without a queue: asked before a shared acquire adds a new
    // member; when it names someone (an exclusive request that waits ahead),
    // the shared request is refused instead of overtaking it.
    std::function<std::optional<std::string>()> exclusive_ahead;
};

// How a hold whose holder left without releasing stands after a look at the files.
struct HoldCheck {
    HoldState state = HoldState::absent;  // absent (gone or not ours), live, or stale (broken now)
    bool kept_by_command = false;         // live only through the guard's liveness handle
};

// What a holder tells about the end of its hold, for the `release` line.
struct ReleaseNote {
    std::optional<int> exit_status;    // the guarded command's exit status
    std::optional<WallTime> acquired;  // when the hold began: extra.held_ms
    std::string group;                 // as AcquireSpec::group: extra.group
};

// Why an acquire did not succeed now.
struct Refusal {
    ErrorCode code = ErrorCode::held;  // held, frozen or unsupported
    std::string message;
    std::optional<LockRecord> holder;  // the live holder, when held
    std::optional<LockRecord> freeze;  // the freeze, when frozen
    // The holder is a guard that is gone; its command's processes carry the
    // hold on through its liveness handle (watch the handle, not the pid).
    bool kept_by_command = false;
    // code deadlock: the cycle this waiter would have closed, request first.
    std::vector<WaitEdge> cycle;
};

struct AcquireResult {
    enum class Outcome {
        acquired,   // a new hold
        refreshed,  // re-entry by the same explicit owner: new TTL, same lock_id
        nested,     // inside a guard of this lock: nothing changed
        refused,
    };
    Outcome outcome = Outcome::refused;
    LockRecord record;  // ours, unless refused
    FileIdentity file;  // the lock file written, when acquired
    Refusal refusal;
    bool granted() const { return outcome != Outcome::refused; }
};

// The lock file a holder wrote, as it knows it: inode and change time (the
// device is the root's). A zero inode means unknown.
struct WrittenFile {
    ino_t inode = 0;
    std::int64_t change_ns = 0;

    static WrittenFile of(const FileIdentity& file) { return WrittenFile{file.inode, file.change_ns}; }
    bool known() const { return inode != 0; }
    // Is this file version the one written? (Never, when unknown.)
    bool is(const FileIdentity& file) const { return known() && file.inode == inode && file.change_ns == change_ns; }
};

enum class UnlockMode { owner, break_stale, force };

// What `lokt unlock --owner O | --all` did.
struct UnlockManyResult {
    std::vector<LockRecord> released;  // the holds removed, as they were
    // The live holds left in place without --force: someone else's or a
    // running guard's (not_owner), or a newer tool's (unsupported); each with its holder.
    std::vector<Refusal> refused;
};

// One lock as status/why/exists see it.
struct LockView {
    std::string name;
    StoredRecord stored;
    HoldState state = HoldState::absent;
    std::optional<LockRecord> freeze;  // a live freeze of the same name
    // For a live guard hold: "guard" or "command", what keeps it alive (see kept_by).
    std::string_view kept_by;
};

struct FreezeView {
    std::string name;
    LockRecord record;
};

class LockEngine {
public:
    // actor is who performs the operations (named on audit lines).
    LockEngine(LockStore store, Identity actor);

    const LockStore& store() const { return m_store; }
    const Identity& actor() const { return m_actor; }

    // For an engine kept open across operations (the daemon keeps one per root):
    // the next operations are performed for this actor.
    void act_as(const Identity& actor) { m_actor = actor; }
    // For a client that ends holds on the files because the daemon it asked
    // to end them at `asked_at` went away before answering: the daemon writes
    // the line of an end (release or break) before it removes the file, and
    // may have died in between. While set, an end whose lock_id already has
    // an end line in the log since `asked_at` is made without a second line.
    // Only this path reads the log; unset (nullopt), nothing is looked up.
    void finish_daemon_request(std::optional<WallTime> asked_at) { m_daemon_asked_at = asked_at; }
    // False when the root's directories were removed or replaced since the
    // engine was opened: open a new one. A rotated audit.log is reopened.
    bool files_unchanged();

    Result<AcquireResult> try_acquire(const AcquireSpec& spec);
    // Our lock's record as its file has it now, if it is still ours;
    // ErrorCode::lost otherwise (in renew's words). Reads only.
    Result<LockRecord> held(const std::string& name, const std::string& lock_id);
    // Rewrites our lock with a new expiry if it is still ours; ErrorCode::lost otherwise.
    // `written`, if given, is set to the file written now (for a later release).
    // `expected`, if known, must be the file there now: loktd renews a guard's
    // hold only while the file is the version it wrote itself, and otherwise
    // (the guard took the renewing over, see design.md) gets
    // ErrorCode::not_owner and leaves the file alone.
    Result<LockRecord> renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl, WrittenFile* written = nullptr,
                             WrittenFile expected = {});
    // Removes our lock if it is still ours; ErrorCode::lost otherwise. A
    // holder that knows the file it wrote passes it: while that very file is
    // still there, unchanged, it is ours without reading it back.
    Result<void> release(const std::string& name, const std::string& lock_id, WrittenFile written = {},
                         const ReleaseNote& note = {});
    // The holder of lock_id is gone without a release (its connection to the
    // daemon closed): break its hold if it is stale (stale-break, audited as
    // in file mode) and say how it was judged. absent: the hold is gone or
    // is no longer lock_id's; live: it is alive (a guard's command carries it,
    // or the holder still runs), and stays. A guard hold without a liveness
    // handle (from an older client) was bound to its connection: it ends.
    Result<HoldCheck> end_if_stale(const std::string& name, const std::string& lock_id);
    // Writes the `deny` (or `freeze-deny`) line of an acquire refused for this
    // reason, as try_acquire does when told to audit the denial.
    void record_denial(const std::string& name, const Refusal& refusal, bool waiting = false);
    // For a hold its holder takes over from a daemon that went away (found on
    // the files naming the holder's liveness handle or identity): the
    // daemon may have written the lock file and died before its `acquire`
    // line. Appends that line (extra.adopted) unless the log has an `acquire`
    // of the hold's lock_id since `since`, so that no hold is audited only by
    // its end. When the line cannot be written the hold goes, as a grant's would.
    Result<void> audit_adopted_grant(const StoredRecord& hold, WallTime since, const std::string& group);
    // Records that a hold was found taken away (the `lost` event).
    void record_lost(const std::string& name, const std::string& lock_id, const std::string& detail);

    // `lokt unlock NAME [--break-stale|--force]`; returns the removed record.
    Result<LockRecord> unlock(const std::string& name, UnlockMode mode);
    // `lokt unlock --owner O` (owner given) or `--all` (owner empty: every lock of ours,
    // or with force every lock). Each selected lock is judged as `unlock NAME`
    // judges it: the actor's own holds are released; stale ones are broken
    // (`stale-break`); any other live hold is refused unless force breaks it
    // (`force-break`).
    Result<UnlockManyResult> unlock_many(const std::string& owner, bool force);

    // `lokt freeze NAME --ttl D [--force]`: a new freeze, or one that replaces
    // the freeze in place if that is the actor's own (extended or shortened),
    // expired or unreadable. Another owner's live freeze is replaced only with
    // force (audited as `force-freeze`); otherwise ErrorCode::frozen.
    Result<LockRecord> freeze(const std::string& name, Nanoseconds ttl, bool force);
    Result<LockRecord> unfreeze(const std::string& name, bool force);
    // The live freeze of a name, if any.
    Result<std::optional<LockRecord>> live_freeze(const std::string& name);

    Result<LockView> inspect(const std::string& name);
    // Every lock file; with prune, expired and dead holds are removed (audited).
    Result<std::vector<LockView>> list(bool prune);
    Result<std::vector<FreezeView>> list_freezes();

    Result<void> audit(AuditEvent event);

private:
    LockRecord build_record(const AcquireSpec& spec, WallTime now, std::string lock_id) const;
    // Creates the lock file of a new hold with the name's next fencing token
    // (fence_counter.hpp), under the name's mutex; false when the name is held.
    Result<bool> publish_fenced(const std::string& name, LockRecord& record, FileIdentity* created);
    // try_acquire of a slot of the pool spec.name (lock_engine_pool.cpp).
    Result<AcquireResult> try_acquire_slot(const AcquireSpec& spec);
    // try_acquire in shared mode (lock_engine_shared.cpp).
    Result<AcquireResult> try_acquire_shared(const AcquireSpec& spec);
    // Rewrites a shared group with `members` (or removes its file when none is
    // left), with `event` as the change's line; `removed` are the members taken
    // out, the first the one `event` names, the others pruned (each its own
    // stale-break line), with the reason. Call with the name's mutex held,
    // after re-reading `seen`.
    Result<bool> rewrite_group(const std::string& name, const StoredRecord& seen, std::vector<LockRecord> members,
                               AuditEvent event, const std::vector<std::pair<LockRecord, std::string>>& removed,
                               const std::string& others_event = "stale-break");
    // Removes the dead and expired members of NAME's live shared group (as
    // judged in `seen`) in one rewrite under the name's mutex, each audited as
    // `event_name` naming it; false when none was removed (or the file
    // changed meanwhile).
    Result<bool> prune_group(const std::string& name, const StoredRecord& seen, const std::string& event_name);
    // Takes the member lock_id out of NAME's group under the name's mutex
    // (and prunes dead members on the way); false when it is not there (or
    // the file is no longer `judged`).
    Result<bool> leave_group(const std::string& name, const std::string& lock_id, const std::string& event_name,
                             const std::string& reason, const ReleaseNote& note, std::optional<StoredRecord> judged = {});
    Result<LockRecord> unlock_shared(const std::string& name, UnlockMode mode, const StoredRecord& seen);
    Refusal pool_refusal(const std::string& pool, std::uint64_t slots, const std::vector<StoredRecord>& seen,
                         const std::vector<HoldState>& states) const;
    // Removes the file judged in `seen` if it is still that file; audits `event`.
    Result<bool> break_if_unchanged(Area area, const std::string& name, const StoredRecord& seen, const std::string& event,
                                    const std::string& reason);
    // Writes the audit line, then removes the file if it is still `file`.
    // Call with the name's mutex held, after re-reading. `just_identified`:
    // the caller found `file` at the name a moment ago, under the mutex.
    Result<bool> remove_audited(Area area, const std::string& name, const FileIdentity& file, AuditEvent event,
                                bool just_identified = false);
    // remove_audited for a lock file as judged in `seen`, and the liveness handle it names.
    Result<bool> remove_hold_audited(const std::string& name, const StoredRecord& seen, AuditEvent event);
    // Writes the audit line and puts the staged file in place, both or neither.
    Result<void> commit_audited(StagedFile& staged, const AuditEvent& event, FileIdentity* written);
    // Appends `event`'s line and makes its change (AuditWriter::append_for),
    // unless the line is already there (see finish_daemon_request): then only the change.
    Result<bool> append_once_for(const AuditEvent& event, const std::function<Result<bool>()>& change);
    // Removes a file we published a moment ago, whose audit line could not be written.
    void take_back(Area area, const std::string& name, const FileIdentity& file);
    JudgeContext judging() const { return JudgeContext{&m_store.root(), nullptr}; }
    Result<AcquireResult> refresh(const AcquireSpec& spec, const StoredRecord& seen);
    // The `acquire` line of a grant; adopted: written by the holder for a
    // daemon's grant (audit_adopted_grant).
    AuditEvent acquire_event(const LockRecord& record, const std::string& group, bool adopted) const;
    Refusal refusal_for(const std::string& name, const StoredRecord& seen, HoldState state, WallTime now) const;

    LockStore m_store;
    Identity m_actor;
    AuditWriter m_audit;
    std::optional<WallTime> m_daemon_asked_at;
};

// The member of a shared group with this lock id, if any.
const LockRecord* shared_member(const LockRecord& group, const std::string& lock_id);
// The file record of NAME's shared group with these members: the top-level
// holder fields are the representative's (a guard's before a shell's before a
// TTL hold's), the TTL covers the latest member expiry (none when a member has
// none), lock_id is the group's.
LockRecord shared_group_record(const std::string& name, const std::string& group_id, std::vector<LockRecord> members);

// The audit `extra` object naming the holder a break or prune removed (and,
// for a live guard hold, what keeps it: see kept_by).
std::string holder_extra(const LockRecord& record, std::string_view reason, std::string_view kept = {});
// The audit line of an acquire refused for this reason (deny, freeze-deny,
// deadlock), written by actor; waiting: the acquire queues on.
AuditEvent denial_event(const std::string& name, const Refusal& refusal, bool waiting, const Identity& actor);
// The `release` line's extra: the command's exit status and how long the hold lasted.
std::string release_extra(const ReleaseNote& note, WallTime now);
// Why a plain unlock (no --force) by `actor_owner` must leave this hold alone,
// if it must: a running guard's hold belongs to the guard, whatever its owner
// string says; any other to its owner. Every backend refuses in these words.
std::optional<Error> unlock_refusal(const std::string& name, const LockRecord& holder, HoldState state,
                                    const std::string& actor_owner, WallTime now);
// What `unlock --owner O` / `--all` does with one hold it selected, given
// unlock_refusal's answer: release it (event "release"), break it
// ("stale-break" or, with force, "force-break", with the reason for the line),
// or leave it (refused holds that error). Every backend decides alike.
struct UnlockManyStep {
    std::string event;
    std::string reason;
    std::optional<Error> refused;
};
UnlockManyStep unlock_many_step(std::optional<Error> refusal, const LockRecord& holder, HoldState state, bool force,
                                bool by_owner);

}  // namespace lokt
