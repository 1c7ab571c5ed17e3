// See lock_engine.hpp.
#include "common/lock_engine.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "common/fence_counter.hpp"
#include "common/file_owner.hpp"
#include "common/hold_deadline.hpp"
#include "common/hold_handle.hpp"
#include "common/json_text.hpp"
#include "common/parallel_chunks.hpp"
#include "common/platform/huge_pages.hpp"
#include "common/platform/processes.hpp"
#include "common/process_liveness.hpp"

namespace lokt {
namespace {

using Json = nlohmann::ordered_json;

constexpr int k_max_acquire_rounds = 16;

std::string quoted(const std::string& name) { return "\"" + name + "\""; }

// Still the very file that was judged: same file version and, for records, the
// same lock. Checked under the name's mutex before anything is removed.
bool same_version(const StoredRecord& a, const StoredRecord& b) {
    if (a.kind != b.kind || a.file != b.file) return false;
    if (a.kind != StoredRecord::Kind::record) return true;
    return a.record.lock_id == b.record.lock_id && a.record.acquired == b.record.acquired && a.record.pid == b.record.pid;
}

// The events that end a hold, each naming its lock_id.
bool ends_hold(std::string_view event) {
    return event == "release" || event == "stale-break" || event == "force-break" || event == "corrupt-break";
}

// An acquire line's extra with the group of a several-name acquire added.
std::string with_group(const std::string& extra_json, const std::string& group) {
    Json extra = extra_json.empty() ? Json::object() : Json::parse(extra_json);
    extra["group"] = group;
    return extra.dump();
}

}  // namespace

// The extras below are written by hand (json_text.hpp): one goes with
// nearly every audit line, and building each as a document cost more than
// writing the line.

UnlockManyStep unlock_many_step(std::optional<Error> refusal, const LockRecord& holder, HoldState state, bool force,
                                bool by_owner) {
    UnlockManyStep step;
    step.event = "release";
    if (refusal && is_stale(state)) {
        step.event = "stale-break";
        step.reason = stale_reason(holder, state);
    } else if (refusal && force) {
        step.event = "force-break";
        step.reason = by_owner ? "unlock --owner --force" : "unlock --all --force";
    } else if (refusal) {
        step.refused = std::move(refusal);
    }
    return step;
}

std::string release_extra(const ReleaseNote& note, WallTime now) {
    if (!note.exit_status && !note.acquired && note.group.empty()) return {};
    std::string extra = "{";
    if (note.exit_status) {
        extra += "\"exit_status\":";
        append_json_integer(extra, *note.exit_status);
        extra += ',';
    }
    if (!note.group.empty()) {
        extra += "\"group\":";
        append_json_string(extra, note.group);
        extra += ',';
    }
    if (note.acquired) {
        extra += "\"held_ms\":";
        append_json_integer(extra, std::chrono::duration_cast<std::chrono::milliseconds>(now - *note.acquired).count());
        extra += ',';
    }
    extra.back() = '}';
    return extra;
}

std::string holder_extra(const LockRecord& record, std::string_view reason, std::string_view kept) {
    std::string extra = "{";
    if (!reason.empty()) {
        extra += "\"reason\":";
        append_json_string(extra, reason);
        extra += ',';
    }
    extra += "\"holder\":";
    append_json_string(extra, owner_at_host(record.owner, record.host));
    extra += ",\"holder_pid\":";
    append_json_integer(extra, record.pid);
    if (!record.agent_id.empty()) {
        extra += ",\"holder_agent_id\":";
        append_json_string(extra, record.agent_id);
    }
    if (!record.lock_id.empty()) {
        extra += ",\"holder_lock_id\":";
        append_json_string(extra, record.lock_id);
    }
    if (!kept.empty()) {
        extra += ",\"kept_by\":";
        append_json_string(extra, kept);
    }
    extra += '}';
    return extra;
}

LockEngine::LockEngine(LockStore store, Identity actor)
    : m_store(std::move(store)), m_actor(std::move(actor)), m_audit(m_store.root() / "audit.log") {
    // A store that must never wait (the daemon's) has a log writer that never waits either.
    if (m_store.never_waits()) m_audit.never_wait_for_lock();
    if (m_store.owner()) {
        m_audit.on_open(
            [owner = m_store.owner()](int fd, const std::filesystem::path& path) { return hand_over(fd, owner, path); });
    }
}

Result<void> LockEngine::audit(AuditEvent event) { return m_audit.append(event); }

bool LockEngine::files_unchanged() {
    if (!m_store.unchanged_on_disk()) return false;
    m_audit.reopen_if_replaced();
    return true;
}

LockRecord LockEngine::build_record(const AcquireSpec& spec, WallTime now, std::string lock_id) const {
    LockRecord r;
    r.name = spec.name;
    r.lock_id = std::move(lock_id);
    r.owner = spec.holder.owner;
    r.host = spec.holder.host;
    r.pid = spec.holder.pid;
    r.pid_start = spec.holder.pid_start;
    r.agent_id = spec.holder.agent_id;
    r.acquired = now;
    r.bound_to = spec.binding;
    r.owner_explicit = spec.holder.owner_explicit;
    r.boot_id = platform::this_boot_id();
    if (spec.ttl) set_deadline(r, now, *spec.ttl);
    if (spec.binding == Binding::guard) r.handle = spec.handle;
    return r;
}

Result<bool> LockEngine::publish_fenced(const std::string& name, LockRecord& record, FileIdentity* created) {
    // The token is drawn and the lock published under the name's mutex, so no
    // later grant can carry a smaller token than an earlier one. It is drawn
    // (written) before the lock file exists: a kill in between leaves a gap in
    // the numbers, never a token granted twice. A waiter that finds the mutex
    // busy looks whether the lock was published meanwhile and, if so, goes
    // back to waiting without drawing (one release wakes every waiter).
    const auto taken = [&] {
        auto present = m_store.identify(Area::locks, name);
        return present && present->has_value();
    };
    LOKT_TRY_LET(mutex, m_store.lock_name(name, taken));
    if (!mutex->held()) return false;
    const std::filesystem::path path = m_store.mutex_path(name);
    LOKT_TRY_LET(last, read_fence(mutex->fd(), path));
    if (*last == std::numeric_limits<std::uint64_t>::max()) {
        return make_error(ErrorCode::corrupt, "the fence counter in " + path.string() + " has no greater token left");
    }
    LOKT_TRY(write_fence(mutex->fd(), path, *last + 1));
    record.fence = *last + 1;
    auto published = m_store.publish(Area::locks, name, serialize_lock_record(record), created);
    // Not granted (the name is held): nobody drew a token meanwhile, so this one goes back.
    if (published && !*published) (void)write_fence(mutex->fd(), path, *last);
    m_store.unlock_and_keep(name, std::move(mutex.value()));
    return published;
}

Refusal LockEngine::refusal_for(const std::string& name, const StoredRecord& seen, HoldState state, WallTime now) const {
    Refusal refusal;
    if (state == HoldState::unsupported) {
        refusal.code = ErrorCode::unsupported;
        refusal.message = "lock " + quoted(name) + " was written by a newer lokt (file version " +
                          std::to_string(seen.record.version) + "); only a human's 'lokt unlock " + name +
                          " --force' will touch it";
        refusal.holder = seen.record;
        return refusal;
    }
    refusal.code = ErrorCode::held;
    if (state == HoldState::being_written) {
        refusal.message = "lock " + quoted(name) + " is being created by another process";
        return refusal;
    }
    refusal.holder = seen.record;
    const std::string_view kept = kept_by(seen.record, m_actor.host);
    refusal.kept_by_command = kept == "command";
    if (seen.record.is_shared()) {
        refusal.message =
            "lock " + quoted(name) + " held in shared mode by " + describe_shared(seen.record, now, m_actor.host, judging());
        return refusal;
    }
    refusal.message = "lock " + quoted(name) + " held by " + describe_holder(seen.record, now, kept);
    return refusal;
}

Result<std::optional<LockRecord>> LockEngine::live_freeze(const std::string& name) {
    LOKT_TRY_LET(stored, m_store.read(Area::freezes, name));
    if (stored->kind != StoredRecord::Kind::record) return std::optional<LockRecord>{};
    if (has_lapsed(stored->record, wall_now())) return std::optional<LockRecord>{};
    return std::optional<LockRecord>{stored->record};
}

Result<AcquireResult> LockEngine::try_acquire(const AcquireSpec& spec) {
    AcquireResult result;
    LOKT_TRY_LET(freeze, live_freeze(spec.name));
    if (freeze->has_value()) {
        const LockRecord& f = **freeze;
        result.refusal.code = ErrorCode::frozen;
        result.refusal.freeze = f;
        result.refusal.message = "lock " + quoted(spec.name) + " is frozen";
        if (auto expiry = f.expiry()) result.refusal.message += " until " + format_rfc3339_seconds(*expiry);
        result.refusal.message += " (by " + owner_at_host(f.owner, f.host) + ")";
        if (spec.audit_denial) record_denial(spec.name, result.refusal, spec.waiting);
        return result;
    }

    if (spec.slots) return try_acquire_slot(spec);
    if (spec.shared) return try_acquire_shared(spec);

    // Before anything is published: ending the hold must not need a new inode.
    LOKT_TRY(m_store.prepare_mutex(spec.name));
    const std::string lock_id = new_lock_id();
    StoredRecord seen;
    HoldState state = HoldState::absent;
    for (int round = 0; round < k_max_acquire_rounds; ++round) {
        const WallTime now = wall_now();
        LockRecord record = build_record(spec, now, lock_id);
        const bool try_create = round > 0 || !spec.look_first;
        // A lock file already there is judged without taking the mutex: waiters
        // woken by one release do not queue on the mutex only to find it held.
        LOKT_TRY_LET(present,
                     try_create ? m_store.identify(Area::locks, spec.name) : Result<std::optional<FileIdentity>>(std::nullopt));
        const bool create = try_create && !present->has_value();
        LOKT_TRY_LET(published, create ? publish_fenced(spec.name, record, &result.file) : Result<bool>(false));
        if (*published) {
            if (auto logged = audit(acquire_event(record, spec.group, false)); !logged) {
                // No grant without its line: the lock file goes again.
                take_back(Area::locks, spec.name, result.file);
                return logged.take_error();
            }
            result.outcome = AcquireResult::Outcome::acquired;
            result.record = std::move(record);
            return result;
        }

        LOKT_TRY_LET(read, m_store.read(Area::locks, spec.name));
        seen = std::move(read.value());
        state = judge(seen, now, m_actor.host, judging());
        switch (state) {
            case HoldState::absent: continue;  // released in between: try again
            case HoldState::expired:
            case HoldState::dead_holder: {
                LOKT_TRY_LET(broke, break_if_unchanged(Area::locks, spec.name, seen, "stale-break",
                                                       std::string(stale_reason(seen.record, state))));
                continue;
            }
            case HoldState::corrupt: {
                LOKT_TRY_LET(broke, break_if_unchanged(Area::locks, spec.name, seen, "corrupt-break", seen.problem));
                continue;
            }
            case HoldState::live: {
                const LockRecord& holder = seen.record;
                if (holder.is_shared()) {
                    // No silent upgrade: a holder of a shared membership asking
                    // for NAME alone would wait for itself.
                    const bool manual = spec.binding != Binding::guard;
                    for (const LockRecord& member : holder.holders) {
                        const bool nested_in = !spec.inherited_lock_id.empty() && member.lock_id == spec.inherited_lock_id;
                        const bool same_owner = manual && spec.holder.owner_explicit && member.owner_explicit &&
                                                member.owner == spec.holder.owner && member.bound_to != Binding::guard;
                        if ((nested_in || same_owner) && judge_record(member, now, m_actor.host, judging()) == HoldState::live) {
                            return make_error(ErrorCode::usage,
                                              "lock " + quoted(spec.name) + " is held in shared mode by this holder (" +
                                                  describe_holder(member, now) +
                                                  "); lokt does not upgrade a shared hold to exclusive: release it, then "
                                                  "acquire it without --shared");
                        }
                    }
                    break;
                }
                if (spec.binding == Binding::guard && !spec.handle.empty() && holder.handle == spec.handle &&
                    holder.bound_to == Binding::guard && holder.host == spec.holder.host && holder.pid == spec.holder.pid) {
                    // Our own hold: a daemon we gave up on granted it after all
                    // (it names the liveness handle we created for this very
                    // acquire). It is ours; waiting for it would wait forever.
                    LOKT_TRY(audit_adopted_grant(seen, holder.acquired - std::chrono::seconds(1), spec.group));
                    result.outcome = AcquireResult::Outcome::acquired;
                    result.record = holder;
                    result.file = seen.file;
                    return result;
                }
                if (!spec.inherited_lock_id.empty() && holder.lock_id == spec.inherited_lock_id) {
                    result.outcome = AcquireResult::Outcome::nested;
                    result.record = holder;
                    return result;
                }
                const bool both_manual =
                    spec.binding != Binding::guard && holder.bound_to != Binding::guard && holder.bound_to.has_value();
                if (both_manual && spec.holder.owner_explicit && holder.owner_explicit && holder.owner == spec.holder.owner) {
                    auto refreshed = refresh(spec, seen);
                    if (!refreshed) return refreshed;
                    if (refreshed->granted()) return refreshed;
                    continue;  // it changed under us: look again
                }
                break;
            }
            case HoldState::being_written:
            case HoldState::unsupported: break;
        }
        break;
    }

    result.outcome = AcquireResult::Outcome::refused;
    result.refusal = refusal_for(spec.name, seen, state, wall_now());
    if (spec.audit_denial) record_denial(spec.name, result.refusal, spec.waiting);
    return result;
}

AuditEvent LockEngine::acquire_event(const LockRecord& record, const std::string& group, bool adopted) const {
    AuditEvent event = make_audit_event("acquire", record.name, m_actor);
    event.lock_id = record.lock_id;
    event.ttl_sec = record.ttl_sec;
    Json extra = Json::object();
    if (record.fence) extra["fence"] = *record.fence;
    if (adopted) extra["adopted"] = true;
    event.extra_json = extra.dump();
    if (!group.empty()) event.extra_json = with_group(event.extra_json, group);
    return event;
}

Result<void> LockEngine::audit_adopted_grant(const StoredRecord& hold, WallTime since, const std::string& group) {
    const LockRecord& record = hold.record;
    bool logged = false;
    AuditQuery query;
    query.since = since;
    query.name = record.name;
    // A log that cannot be read gets the line: twice is better than never.
    (void)read_audit(m_store.root() / "audit.log", query, [&](std::string_view, const AuditEvent& seen) {
        if (seen.event == "acquire" && seen.lock_id == record.lock_id) logged = true;
    });
    if (logged) return {};
    if (auto written = audit(acquire_event(record, group, true)); !written) {
        take_back(Area::locks, record.name, hold.file);  // no grant without its line
        return written.take_error();
    }
    return {};
}

AuditEvent denial_event(const std::string& name, const Refusal& refusal, bool waiting, const Identity& actor) {
    if (!refusal.freeze && refusal.code != ErrorCode::deadlock) {
        // The usual line (a waiter behind a holder), written without a document.
        std::string extra;
        if (refusal.holder) extra = holder_extra(*refusal.holder, "", kept_by(*refusal.holder, actor.host));
        if (waiting) {
            if (extra.empty()) {
                extra = "{\"waiting\":true}";
            } else {
                extra.back() = ',';
                extra += "\"waiting\":true}";
            }
        }
        AuditEvent event = make_audit_event("deny", name, actor);
        event.extra_json = std::move(extra);
        return event;
    }
    Json extra = Json::object();
    std::string event_name = "deny";
    if (refusal.freeze) {
        const LockRecord& f = *refusal.freeze;
        event_name = "freeze-deny";
        extra["frozen_by"] = owner_at_host(f.owner, f.host);
    } else if (refusal.holder) {
        extra = Json::parse(holder_extra(*refusal.holder, "", kept_by(*refusal.holder, actor.host)));
    }
    // An incident review must tell a refusal from a place in a queue.
    if (waiting) extra["waiting"] = true;
    if (refusal.code == ErrorCode::deadlock) {
        event_name = "deadlock";
        extra.erase("waiting");  // refused, not waiting
        extra["cycle"] = Json::parse(cycle_json(refusal.cycle));
    }
    AuditEvent event = make_audit_event(event_name, name, actor);
    if (!extra.empty()) event.extra_json = extra.dump();
    return event;
}

void LockEngine::record_denial(const std::string& name, const Refusal& refusal, bool waiting) {
    (void)audit(denial_event(name, refusal, waiting, m_actor));
}

Result<AcquireResult> LockEngine::refresh(const AcquireSpec& spec, const StoredRecord& seen) {
    AcquireResult result;
    LOKT_TRY_LET(mutex, m_store.lock_name(spec.name));
    LOKT_TRY_LET(again, m_store.read(Area::locks, spec.name));
    if (!same_version(*again, seen)) return result;  // changed: refused
    const WallTime now = wall_now();
    LockRecord record = again->record;
    clear_deadline(record);
    if (spec.ttl) set_deadline(record, now, *spec.ttl);
    record.bound_to = spec.binding;
    record.pid = spec.holder.pid;
    record.pid_start = spec.holder.pid_start;
    LOKT_TRY_LET(staged, m_store.stage(Area::locks, spec.name, serialize_lock_record(record)));
    AuditEvent event = make_audit_event("renew", spec.name, m_actor);
    event.lock_id = record.lock_id;
    event.ttl_sec = record.ttl_sec;
    event.extra_json = Json{{"reentry", true}}.dump();
    LOKT_TRY(commit_audited(*staged, std::move(event), nullptr));
    result.outcome = AcquireResult::Outcome::refreshed;
    result.record = std::move(record);
    return result;
}

Result<bool> LockEngine::break_if_unchanged(Area area, const std::string& name, const StoredRecord& seen,
                                            const std::string& event_name, const std::string& reason) {
    LOKT_TRY_LET(mutex, m_store.lock_name(name));
    LOKT_TRY_LET(again, m_store.read(area, name));
    if (!same_version(*again, seen)) return false;  // someone else acted first
    AuditEvent event = make_audit_event(event_name, name, m_actor);
    if (seen.kind == StoredRecord::Kind::record) {
        event.lock_id = seen.record.lock_id;
        event.extra_json = holder_extra(seen.record, reason);
    } else {
        event.extra_json = Json{{"reason", reason}}.dump();
    }
    if (area == Area::locks) return remove_hold_audited(name, seen, std::move(event));
    return remove_audited(area, name, seen.file, std::move(event));
}

Result<bool> LockEngine::remove_audited(Area area, const std::string& name, const FileIdentity& file, AuditEvent event,
                                        bool just_identified) {
    // The line goes first: a reader of the log must never see the next holder's
    // `acquire` before this removal. We hold the name's mutex and have just
    // re-read the file, so the removal that follows is ours to make, unless the
    // root no longer lets us remove files: then no line announces it.
    // The line and the removal stand or fall together: a line that cannot be
    // written (disk full) stops the removal, and a removal that then fails
    // takes its line back.
    LOKT_TRY(m_store.check_removable(area));
    // Nor for a file that is no longer the one judged: under the mutex that
    // takes another tool, but a line per failed attempt would be a storm.
    // (The removal itself checks the file once more, right before it.)
    if (!just_identified) {
        LOKT_TRY_LET(current, m_store.identify(area, name));
        if (!*current || **current != file) return false;
    }
    // A release leaves at most its own renewal's temp file behind to look for;
    // a break (rare) also looks for temp files of publishers that were killed.
    const auto leftovers = event.event == "release" ? LockStore::Leftovers::replacement : LockStore::Leftovers::all;
    auto removed = append_once_for(event, [&] { return m_store.remove_if_same(area, name, file); });
    m_store.remove_leftovers(area, name, leftovers);
    return removed;
}

Result<bool> LockEngine::append_once_for(const AuditEvent& event, const std::function<Result<bool>()>& change) {
    if (m_daemon_asked_at && !event.lock_id.empty() && ends_hold(event.event)) {
        // Under the name's mutex, which the daemon held from its line to its
        // removal: a line found now is one whose removal will never come.
        bool written = false;
        AuditQuery query;
        query.since = *m_daemon_asked_at;
        query.name = event.name;
        (void)read_audit(m_store.root() / "audit.log", query, [&](std::string_view, const AuditEvent& seen) {
            if (seen.lock_id == event.lock_id && ends_hold(seen.event)) written = true;
        });
        if (written) return change();
    }
    return m_audit.append_for(event, change);
}

Result<void> LockEngine::commit_audited(StagedFile& staged, const AuditEvent& event, FileIdentity* written) {
    auto committed = append_once_for(event, [&]() -> Result<bool> {
        if (auto done = m_store.commit(staged, written); !done) return done.take_error();
        return true;
    });
    if (!committed) return committed.take_error();
    return {};
}

void LockEngine::take_back(Area area, const std::string& name, const FileIdentity& file) {
    auto mutex = m_store.lock_name(name);
    if (mutex) (void)m_store.remove_if_same(area, name, file);
}

Result<bool> LockEngine::remove_hold_audited(const std::string& name, const StoredRecord& seen, AuditEvent event) {
    auto removed = remove_audited(Area::locks, name, seen.file, std::move(event));
    // The hold is gone: so is the liveness handle it named (a command still
    // holding it now holds a lock on a file nobody looks at).
    if (removed && *removed && seen.kind == StoredRecord::Kind::record && !seen.record.handle.empty()) {
        remove_handle(m_store.root(), seen.record.handle);
    }
    return removed;
}

Result<LockRecord> LockEngine::held(const std::string& name, const std::string& lock_id) {
    LOKT_TRY_LET(current, m_store.read(Area::locks, name));
    if (current->kind == StoredRecord::Kind::record && current->record.is_shared()) {
        if (const LockRecord* member = shared_member(current->record, lock_id)) return *member;
    }
    if (current->kind != StoredRecord::Kind::record || current->record.lock_id != lock_id || current->record.is_shared()) {
        std::string message = "lock " + quoted(name) + " was lost";
        if (current->kind == StoredRecord::Kind::record) {
            message += ": now held by " + describe_holder(current->record, wall_now());
        } else {
            message += ": its lock file was removed";
        }
        return make_error(ErrorCode::lost, std::move(message));
    }
    return std::move(current->record);
}

Result<LockRecord> LockEngine::renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl, WrittenFile* written,
                                     WrittenFile expected) {
    LOKT_TRY_LET(mutex, m_store.lock_name(name));
    if (expected.known()) {
        LOKT_TRY_LET(now, m_store.identify(Area::locks, name));
        if (!*now || !expected.is(**now)) {
            // Gone, someone else's, or rewritten by its own holder: not ours to renew
            // any more. The caller looks at the file afresh.
            return make_error(ErrorCode::not_owner, "lock " + quoted(name) + " is no longer the file we wrote");
        }
    }
    LOKT_TRY_LET(current, held(name, lock_id));
    LockRecord record = std::move(current.value());
    const WallTime now = wall_now();
    set_deadline(record, now, ttl);
    LOKT_TRY_LET(file_now, m_store.read(Area::locks, name));
    if (file_now->kind == StoredRecord::Kind::record && file_now->record.is_shared()) {
        // A member's renewal rewrites the group with its new deadline (and the
        // representative picked again); the file is not this holder's alone.
        std::vector<LockRecord> members = file_now->record.holders;
        for (LockRecord& member : members) {
            if (member.lock_id == lock_id) member = record;
        }
        AuditEvent event = make_audit_event("renew", name, m_actor);
        event.lock_id = lock_id;
        event.ttl_sec = record.ttl_sec;
        event.extra_json = Json{{"mode", "shared"}}.dump();
        LOKT_TRY_LET(staged, m_store.stage(
                                 Area::locks, name,
                                 serialize_lock_record(shared_group_record(name, file_now->record.lock_id, std::move(members)))));
        LOKT_TRY(commit_audited(*staged, event, nullptr));
        if (written != nullptr) *written = WrittenFile{};
        return record;
    }
    // Written first (a full disk shows here), then the line, then put in
    // place: no renewal without its line, no line without the renewal.
    LOKT_TRY_LET(staged, m_store.stage(Area::locks, name, serialize_lock_record(record)));
    AuditEvent event = make_audit_event("renew", name, m_actor);
    event.lock_id = lock_id;
    event.ttl_sec = record.ttl_sec;
    FileIdentity file;
    LOKT_TRY(commit_audited(*staged, event, &file));
    if (written != nullptr) *written = WrittenFile::of(file);
    return record;
}

Result<void> LockEngine::release(const std::string& name, const std::string& lock_id, WrittenFile written,
                                 const ReleaseNote& note) {
    LOKT_TRY_LET(mutex, m_store.lock_name(name));
    std::optional<FileIdentity> ours;  // the file to remove
    if (written.known()) {
        LOKT_TRY_LET(now, m_store.identify(Area::locks, name));
        if (*now && written.is(**now)) ours = **now;
    }
    if (!ours) {
        LOKT_TRY_LET(current, m_store.read(Area::locks, name));
        if (current->kind == StoredRecord::Kind::record && current->record.is_shared() &&
            shared_member(current->record, lock_id) != nullptr) {
            m_store.unlock_and_keep(name, std::move(mutex.value()));
            LOKT_TRY_LET(left, leave_group(name, lock_id, "release", "", note));
            if (*left) return {};
            return make_error(ErrorCode::lost, "lock " + quoted(name) + " was lost before release");
        }
        if (current->kind != StoredRecord::Kind::record || current->record.lock_id != lock_id) {
            std::string message = "lock " + quoted(name) + " was lost before release";
            if (current->kind == StoredRecord::Kind::record) {
                message += ": now held by " + describe_holder(current->record, wall_now());
            }
            return make_error(ErrorCode::lost, std::move(message));
        }
        ours = current->file;
    }
    AuditEvent event = make_audit_event("release", name, m_actor);
    event.lock_id = lock_id;
    event.extra_json = release_extra(note, wall_now());
    LOKT_TRY_LET(removed, remove_audited(Area::locks, name, *ours, std::move(event), true));
    // Kept open: the name's next acquire (the next waiter's, in the daemon) needs no open.
    m_store.unlock_and_keep(name, std::move(mutex.value()));
    return {};
}

Result<HoldCheck> LockEngine::end_if_stale(const std::string& name, const std::string& lock_id) {
    for (int round = 0; round < k_max_acquire_rounds; ++round) {
        LOKT_TRY_LET(read, m_store.read(Area::locks, name));
        const StoredRecord& seen = *read;
        if (seen.kind == StoredRecord::Kind::record && seen.record.is_shared()) {
            const LockRecord* member = shared_member(seen.record, lock_id);
            if (member == nullptr) return HoldCheck{};
            const bool member_connection_only = member->bound_to == Binding::guard && member->handle.empty();
            const HoldState member_state =
                member_connection_only ? HoldState::dead_holder : judge_record(*member, wall_now(), m_actor.host, judging());
            if (!is_stale(member_state)) return HoldCheck{member_state, kept_by(*member, m_actor.host) == "command"};
            const std::string reason = member_connection_only ? std::string("its connection to loktd closed")
                                                              : std::string(stale_reason(*member, member_state));
            LOKT_TRY_LET(left, leave_group(name, lock_id, "stale-break", reason, {}, seen));
            if (*left) return HoldCheck{member_state, false};
            continue;
        }
        if (seen.kind != StoredRecord::Kind::record || seen.record.lock_id != lock_id) return HoldCheck{};
        // A guard without a liveness handle (an older client) was bound to its connection alone.
        const bool connection_only = seen.record.bound_to == Binding::guard && seen.record.handle.empty();
        const HoldState state = connection_only ? HoldState::dead_holder : judge(seen, wall_now(), m_actor.host, judging());
        if (!is_stale(state)) return HoldCheck{state, kept_by(seen.record, m_actor.host) == "command"};
        const std::string reason =
            connection_only ? std::string("its connection to loktd closed") : std::string(stale_reason(seen.record, state));
        LOKT_TRY_LET(broke, break_if_unchanged(Area::locks, name, seen, "stale-break", reason));
        if (*broke) return HoldCheck{state, false};
    }
    return make_error(ErrorCode::held, "lock " + quoted(name) + " keeps changing; try again");
}

void LockEngine::record_lost(const std::string& name, const std::string& lock_id, const std::string& detail) {
    AuditEvent event = make_audit_event("lost", name, m_actor);
    event.lock_id = lock_id;
    event.extra_json = Json{{"reason", detail}}.dump();
    (void)audit(std::move(event));
}

Result<LockRecord> LockEngine::unlock(const std::string& name, UnlockMode mode) {
    for (int round = 0; round < k_max_acquire_rounds; ++round) {
        LOKT_TRY_LET(read, m_store.read(Area::locks, name));
        const StoredRecord seen = std::move(read.value());
        const WallTime now = wall_now();
        const HoldState state = judge(seen, now, m_actor.host, judging());
        if (state == HoldState::absent) return make_error(ErrorCode::not_found, "lock " + quoted(name) + " is not held");
        if (state == HoldState::live && seen.record.is_shared()) return unlock_shared(name, mode, seen);

        std::string event_name;
        std::string reason;
        if (mode == UnlockMode::force) {
            event_name = "force-break";
            reason = "unlock --force";
        } else if (state == HoldState::corrupt) {
            if (mode == UnlockMode::owner) {
                return make_error(ErrorCode::corrupt, "lock file " + m_store.display_path(Area::locks, name) + " is corrupt (" +
                                                          seen.problem + "); remove it with 'lokt unlock " + name +
                                                          " --break-stale'");
            }
            event_name = "corrupt-break";
            reason = seen.problem;
        } else if (state == HoldState::unsupported) {
            return make_error(ErrorCode::unsupported, refusal_for(name, seen, state, now).message);
        } else if (state == HoldState::being_written) {
            return make_error(ErrorCode::held, refusal_for(name, seen, state, now).message);
        } else if (mode == UnlockMode::break_stale) {
            if (!is_stale(state)) {
                return make_error(ErrorCode::held, "lock " + quoted(name) + " is not stale: held by " +
                                                       describe_holder(seen.record, now) +
                                                       "; a human may break it anyway with --force");
            }
            event_name = "stale-break";
            reason = stale_reason(seen.record, state);
        } else {
            if (auto refusal = unlock_refusal(name, seen.record, state, m_actor.owner, now)) return std::move(*refusal);
            event_name = "release";
        }

        LOKT_TRY_LET(mutex, m_store.lock_name(name));
        LOKT_TRY_LET(again, m_store.read(Area::locks, name));
        if (!same_version(*again, seen)) continue;  // changed: judge again
        AuditEvent event = make_audit_event(event_name, name, m_actor);
        if (seen.kind == StoredRecord::Kind::record) {
            event.lock_id = seen.record.lock_id;
            if (event_name != "release") event.extra_json = holder_extra(seen.record, reason);
        } else {
            event.extra_json = Json{{"reason", reason}}.dump();
        }
        LOKT_TRY_LET(removed, remove_hold_audited(name, seen, std::move(event)));
        if (!*removed) continue;
        return seen.record;
    }
    return make_error(ErrorCode::held, "lock " + quoted(name) + " keeps changing; try again");
}

std::optional<Error> unlock_refusal(const std::string& name, const LockRecord& holder, HoldState state,
                                    const std::string& actor_owner, WallTime now) {
    if (holder.bound_to == Binding::guard && state == HoldState::live) {
        return make_error(ErrorCode::not_owner,
                          "lock " + quoted(name) + " is held by a running guard (" + describe_holder(holder, now) +
                              "); it is released when the guarded command ends; a human may break it with --force");
    }
    if (holder.owner != actor_owner) {
        return make_error(ErrorCode::not_owner, "lock " + quoted(name) + " is held by " + describe_holder(holder, now) +
                                                    ", not by " + actor_owner + "; a human may break it with --force");
    }
    return std::nullopt;
}

Result<UnlockManyResult> LockEngine::unlock_many(const std::string& owner, bool force) {
    UnlockManyResult result;
    LOKT_TRY_LET(names, m_store.list(Area::locks));
    for (const auto& name : *names) {
        LOKT_TRY_LET(seen, m_store.read(Area::locks, name));
        if (seen->kind != StoredRecord::Kind::record) continue;
        if (seen->record.is_shared() && judge(*seen, wall_now(), m_actor.host, judging()) == HoldState::live) {
            // Each membership is judged as a hold of its own and leaves the group alone.
            for (const LockRecord& member : seen->record.holders) {
                const bool chosen = owner.empty() ? (force || member.owner == m_actor.owner) : member.owner == owner;
                if (!chosen) continue;
                const WallTime now = wall_now();
                const HoldState state = judge_record(member, now, m_actor.host, judging());
                UnlockManyStep step = unlock_many_step(unlock_refusal(name, member, state, m_actor.owner, now), member, state,
                                                       force, !owner.empty());
                if (step.refused) {
                    result.refused.push_back(
                        Refusal{step.refused->code, std::move(step.refused->message), member, std::nullopt, false, {}});
                    continue;
                }
                LOKT_TRY_LET(left, leave_group(name, member.lock_id, step.event, step.reason, {}));
                if (*left) result.released.push_back(member);
            }
            continue;
        }
        LockRecord record = seen->record;
        record.name = name;  // reported under its file's name, whatever another tool wrote inside
        const bool selected = owner.empty() ? (force || record.owner == m_actor.owner) : record.owner == owner;
        if (!selected) continue;

        const WallTime now = wall_now();
        const HoldState state = judge(*seen, now, m_actor.host, judging());
        std::optional<Error> refusal = state == HoldState::unsupported
                                           ? make_error(ErrorCode::unsupported, refusal_for(name, *seen, state, now).message)
                                           : unlock_refusal(name, record, state, m_actor.owner, now);
        UnlockManyStep step = unlock_many_step(std::move(refusal), record, state, force, !owner.empty());
        if (step.refused) {
            result.refused.push_back(
                Refusal{step.refused->code, std::move(step.refused->message), record, std::nullopt, false, {}});
            continue;
        }
        const std::string& event_name = step.event;
        const std::string& reason = step.reason;

        LOKT_TRY_LET(mutex, m_store.lock_name(name));
        LOKT_TRY_LET(again, m_store.read(Area::locks, name));
        if (!same_version(*again, *seen)) continue;  // someone else acted on it meanwhile
        AuditEvent event = make_audit_event(event_name, name, m_actor);
        event.lock_id = record.lock_id;
        if (!reason.empty()) event.extra_json = holder_extra(record, reason);
        LOKT_TRY_LET(removed, remove_hold_audited(name, *seen, std::move(event)));
        if (*removed) result.released.push_back(std::move(record));
    }
    return result;
}

Result<LockRecord> LockEngine::freeze(const std::string& name, Nanoseconds ttl, bool force) {
    AcquireSpec spec;
    spec.name = name;
    spec.binding = Binding::ttl;
    spec.ttl = ttl;
    spec.holder = m_actor;
    LOKT_TRY(m_store.prepare_mutex(name));  // so that unfreezing needs no new inode
    const std::string lock_id = new_lock_id();
    for (int round = 0; round < k_max_acquire_rounds; ++round) {
        const WallTime now = wall_now();
        LockRecord record = build_record(spec, now, lock_id);
        const std::string text = serialize_lock_record(record);
        FileIdentity created;
        LOKT_TRY_LET(published, m_store.publish(Area::freezes, name, text, &created));
        std::optional<LockRecord> overridden;  // another owner's live freeze, replaced by force
        std::optional<StagedFile> staged;      // the replacement of an existing freeze
        if (!*published) {
            // Already frozen: judge what is there, then replace that very file
            // under the name's mutex, or judge again if it changed meanwhile.
            LOKT_TRY_LET(seen, m_store.read(Area::freezes, name));
            if (seen->kind == StoredRecord::Kind::absent) continue;  // lifted in between
            if (seen->kind == StoredRecord::Kind::record) {
                const LockRecord& current = seen->record;
                const auto expiry = current.expiry();
                if (!has_lapsed(current, now) && current.owner != m_actor.owner) {
                    if (!force) {
                        std::string message = "lock " + quoted(name) + " is already frozen";
                        if (expiry) message += " until " + format_rfc3339_seconds(*expiry);
                        message += " (by " + owner_at_host(current.owner, current.host) +
                                   "); a human may replace it with 'lokt freeze " + name + " --ttl D --force'";
                        return make_error(ErrorCode::frozen, std::move(message));
                    }
                    overridden = current;
                }
            }
            LOKT_TRY_LET(mutex, m_store.lock_name(name));
            LOKT_TRY_LET(again, m_store.read(Area::freezes, name));
            if (!same_version(*again, *seen)) continue;
            LOKT_TRY_LET(replacement, m_store.stage(Area::freezes, name, text));
            staged = std::move(replacement.value());
            AuditEvent event = make_audit_event(overridden ? "force-freeze" : "freeze", name, m_actor);
            event.lock_id = record.lock_id;
            event.ttl_sec = record.ttl_sec;
            if (overridden) event.extra_json = holder_extra(*overridden, "freeze --force");
            LOKT_TRY(commit_audited(*staged, event, nullptr));
            return record;
        }
        AuditEvent event = make_audit_event("freeze", name, m_actor);
        event.lock_id = record.lock_id;
        event.ttl_sec = record.ttl_sec;
        if (auto logged = audit(std::move(event)); !logged) {
            take_back(Area::freezes, name, created);  // no freeze without its line
            return logged.take_error();
        }
        return record;
    }
    return make_error(ErrorCode::held, "the freeze of " + quoted(name) + " keeps changing; try again");
}

Result<LockRecord> LockEngine::unfreeze(const std::string& name, bool force) {
    LOKT_TRY_LET(seen, m_store.read(Area::freezes, name));
    if (seen->kind == StoredRecord::Kind::absent) {
        return make_error(ErrorCode::not_found, "lock " + quoted(name) + " is not frozen");
    }
    const bool own = seen->kind == StoredRecord::Kind::record && seen->record.owner == m_actor.owner;
    if (!own && !force) {
        const std::string by = seen->kind == StoredRecord::Kind::record ? owner_at_host(seen->record.owner, seen->record.host)
                                                                        : "an unreadable freeze file";
        return make_error(ErrorCode::not_owner, "lock " + quoted(name) + " was frozen by " + by +
                                                    "; a human may lift it with 'lokt unfreeze " + name + " --force'");
    }
    LOKT_TRY_LET(mutex, m_store.lock_name(name));
    LOKT_TRY_LET(again, m_store.read(Area::freezes, name));
    if (again->kind == StoredRecord::Kind::absent)
        return make_error(ErrorCode::not_found, "lock " + quoted(name) + " is not frozen");
    if (!same_version(*again, *seen))
        return make_error(ErrorCode::held, "the freeze of " + quoted(name) + " changed meanwhile; look again");
    AuditEvent event = make_audit_event(own ? "unfreeze" : "force-unfreeze", name, m_actor);
    if (seen->kind == StoredRecord::Kind::record) {
        event.lock_id = seen->record.lock_id;
        if (!own) event.extra_json = holder_extra(seen->record, "unfreeze --force");
    }
    LOKT_TRY_LET(removed, remove_audited(Area::freezes, name, seen->file, std::move(event)));
    return seen->record;
}

Result<LockView> LockEngine::inspect(const std::string& name) {
    LockView view;
    view.name = name;
    LOKT_TRY_LET(stored, m_store.read(Area::locks, name));
    view.stored = std::move(stored.value());
    view.state = judge(view.stored, wall_now(), m_actor.host, judging());
    // A shared group's top-level holder is one member among several: its members say what keeps them.
    if (view.state == HoldState::live && !view.stored.record.is_shared())
        view.kept_by = kept_by(view.stored.record, m_actor.host);
    LOKT_TRY_LET(freeze, live_freeze(name));
    view.freeze = std::move(freeze.value());
    return view;
}

Result<std::vector<LockView>> LockEngine::list(bool prune) {
    LOKT_TRY_LET(names, m_store.list(Area::locks));
    std::vector<LockView> views;
    views.reserve(names->size());
    // 100,000 views are 90 MB of fresh memory: huge pages, asked for before it is touched.
    platform::prefer_huge_pages(views.data(), views.capacity() * sizeof(LockView));
    views.resize(names->size());
    const WallTime now = wall_now();

    // Reading and judging thousands of files is independent work: split it
    // over the cores (status with 10,000 locks is a measured target).
    std::vector<std::optional<Error>> failures(views.size());
    for_each_chunk(views.size(), 512, [&](std::size_t, std::size_t begin, std::size_t end) {
        LivenessMemo holders;  // locks are usually held by a few processes: ask /proc once per pid
        auto take = [&](std::size_t i, Result<StoredRecord> stored) {
            if (!stored) {
                failures[i] = stored.take_error();
                return;
            }
            views[i].name = std::move((*names)[i]);
            views[i].stored = std::move(stored.value());
            views[i].state = judge(views[i].stored, now, m_actor.host, JudgeContext{&m_store.root(), &holders});
            if (views[i].state == HoldState::live && !views[i].stored.record.is_shared()) {
                views[i].kept_by = kept_by(views[i].stored.record, m_actor.host, &holders);
            }
        };
        // A prune breaks files by what was read: each is read the one careful
        // way; a listing takes the batched reads.
        if (prune) {
            for (std::size_t i = begin; i < end; ++i) take(i, m_store.read(Area::locks, (*names)[i]));
        } else {
            m_store.read_many(Area::locks, *names, begin, end, take);
        }
    });
    for (auto& failure : failures) {
        if (failure) return std::move(*failure);
    }

    // Kept in place: a second vector of 10,000 views would be as many fresh pages again.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < views.size(); ++i) {
        LockView& view = views[i];
        if (view.state == HoldState::absent) continue;
        if (prune && is_stale(view.state)) {
            LOKT_TRY_LET(pruned, break_if_unchanged(Area::locks, view.name, view.stored, "auto-prune",
                                                    std::string(stale_reason(view.stored.record, view.state))));
            if (*pruned) continue;
        }
        const auto& holders = view.stored.record.holders;
        if (prune && view.state == HoldState::live && view.stored.kind == StoredRecord::Kind::record &&
            view.stored.record.is_shared() && std::any_of(holders.begin(), holders.end(), [&](const LockRecord& member) {
                return is_stale(judge_record(member, now, m_actor.host, judging()));
            })) {
            // A live group keeps its live members; its dead and expired ones go
            // (judged again under the name's mutex).
            LOKT_TRY_LET(pruned, prune_group(view.name, view.stored, "auto-prune"));
            if (*pruned) {
                LOKT_TRY_LET(again, m_store.read(Area::locks, view.name));
                view.stored = std::move(again.value());
                view.state = judge(view.stored, now, m_actor.host, judging());
                if (view.state == HoldState::absent) continue;
            }
        }
        if (kept != i) views[kept] = std::move(view);
        ++kept;
    }
    views.resize(kept);
    if (prune) {
        std::set<std::string> named;
        for (const auto& view : views) {
            if (view.stored.kind == StoredRecord::Kind::record) named.insert(view.stored.record.handle);
        }
        remove_orphan_handles(m_store.root(), named);
    }
    return views;
}

Result<std::vector<FreezeView>> LockEngine::list_freezes() {
    std::vector<FreezeView> freezes;
    LOKT_TRY_LET(names, m_store.list(Area::freezes));
    const WallTime now = wall_now();
    for (auto& name : *names) {
        LOKT_TRY_LET(stored, m_store.read(Area::freezes, name));
        if (stored->kind != StoredRecord::Kind::record) continue;
        if (has_lapsed(stored->record, now)) continue;
        freezes.push_back(FreezeView{std::move(name), std::move(stored->record)});
    }
    return freezes;
}

}  // namespace lokt
