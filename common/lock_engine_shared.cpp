// LockEngine's shared holds (docs/design.md, "Shared locks"): a group of
// shared holders of NAME is the one file locks/NAME.json, a complete SPEC.md
// record whose top-level holder fields describe one live member (so other
// tools see NAME as held) and whose `holders` lists every member. Every join,
// leave, renewal and prune is one atomic rewrite of that file under the
// name's mutex, so two changes never lose each other.
#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/fence_counter.hpp"
#include "common/hold_deadline.hpp"
#include "common/hold_handle.hpp"
#include "common/lock_engine.hpp"
#include "common/platform/processes.hpp"

namespace lokt {
namespace {

using Json = nlohmann::ordered_json;

std::string shared_quoted(const std::string& name) { return "\"" + name + "\""; }

bool same_group_version(const StoredRecord& a, const StoredRecord& b) {
    if (a.kind != b.kind || a.file != b.file) return false;
    if (a.kind != StoredRecord::Kind::record) return true;
    return a.record.lock_id == b.record.lock_id && a.record.acquired == b.record.acquired && a.record.pid == b.record.pid;
}

// How well a member's pid stands for the group with tools that judge by pid
// and TTL alone: a guard (its pid lives as long as the hold), a hold bound to
// its shell, then a TTL hold (whose pid may be a shell that is gone, unless
// loktd wrote its own).
int representative_rank(const LockRecord& member) {
    if (member.bound_to == Binding::guard) return 3;
    if (member.bound_to == Binding::process) return 2;
    return 1;
}

}  // namespace

const LockRecord* shared_member(const LockRecord& group, const std::string& lock_id) {
    if (lock_id.empty()) return nullptr;
    for (const LockRecord& member : group.holders) {
        if (member.lock_id == lock_id) return &member;
    }
    return nullptr;
}

LockRecord shared_group_record(const std::string& name, const std::string& group_id, std::vector<LockRecord> members) {
    // The representative: the best-ranked member, the latest expiry among equals.
    std::size_t best = 0;
    for (std::size_t i = 1; i < members.size(); ++i) {
        const int rank = representative_rank(members[i]);
        const int best_rank = representative_rank(members[best]);
        const auto expiry = members[i].expiry();
        const auto best_expiry = members[best].expiry();
        const bool later = !expiry ? best_expiry.has_value() : (best_expiry && *expiry > *best_expiry);
        if (rank > best_rank || (rank == best_rank && later)) best = i;
    }
    LockRecord group = members.empty() ? LockRecord{} : members[best];
    group.name = name;
    group.lock_id = group_id;
    group.pool.clear();
    group.slots.reset();
    group.slot.reset();
    group.mode = "shared";
    // The TTL covers the latest member's expiry, and is left out when some
    // member has none: a tool that judges the group by TTL alone must not
    // find it lapsed while a member lives.
    clear_deadline(group);
    bool every_member_expires = !members.empty();
    std::optional<WallTime> latest;
    std::optional<std::uint64_t> latest_boot;
    bool boot_deadlines = true;
    for (const LockRecord& member : members) {
        const auto expiry = member.expiry();
        if (!expiry) {
            every_member_expires = false;
            break;
        }
        if (!latest || *expiry > *latest) latest = expiry;
        if (!member.expires_boot_ns || member.boot_id != group.boot_id) boot_deadlines = false;
        if (member.expires_boot_ns && (!latest_boot || *member.expires_boot_ns > *latest_boot))
            latest_boot = member.expires_boot_ns;
    }
    if (every_member_expires && latest) {
        group.expires_at = latest;
        const auto span = *latest - group.acquired;
        group.ttl_sec = std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(span).count());
        if (boot_deadlines) group.expires_boot_ns = latest_boot;
    }
    group.holders = std::move(members);
    return group;
}

Result<AcquireResult> LockEngine::try_acquire_shared(const AcquireSpec& spec) {
    AcquireResult result;
    const std::string& name = spec.name;
    LOKT_TRY(m_store.prepare_mutex(name));
    const std::string lock_id = new_lock_id();
    StoredRecord seen;
    HoldState state = HoldState::absent;
    for (int round = 0; round < 16; ++round) {
        LOKT_TRY_LET(read, m_store.read(Area::locks, name));
        seen = std::move(read.value());
        WallTime now = wall_now();
        state = judge(seen, now, m_actor.host, judging());
        if (state == HoldState::corrupt) {
            LOKT_TRY_LET(broke, break_if_unchanged(Area::locks, name, seen, "corrupt-break", seen.problem));
            continue;
        }
        if (is_stale(state)) {
            LOKT_TRY_LET(
                broke, break_if_unchanged(Area::locks, name, seen, "stale-break", std::string(stale_reason(seen.record, state))));
            continue;
        }
        if (state == HoldState::being_written || state == HoldState::unsupported) break;
        if (state == HoldState::live && !seen.record.is_shared()) {
            // An exclusive holder: shared holders wait, unless this runs inside it.
            if (!spec.inherited_lock_id.empty() && seen.record.lock_id == spec.inherited_lock_id) {
                result.outcome = AcquireResult::Outcome::nested;
                result.record = seen.record;
                return result;
            }
            break;
        }
        if (state == HoldState::live) {
            const LockRecord& group = seen.record;
            if (const LockRecord* outer = shared_member(group, spec.inherited_lock_id)) {
                result.outcome = AcquireResult::Outcome::nested;
                result.record = *outer;
                return result;
            }
            for (const LockRecord& member : group.holders) {
                if (spec.binding == Binding::guard && !spec.handle.empty() && member.handle == spec.handle &&
                    member.host == spec.holder.host && member.pid == spec.holder.pid) {
                    // Our own membership, granted by a daemon we gave up on (see try_acquire).
                    result.outcome = AcquireResult::Outcome::acquired;
                    result.record = member;
                    return result;
                }
            }
        }

        // Absent, or a live group to join: decided and written under the name's mutex.
        LOKT_TRY_LET(mutex, m_store.lock_name(name));
        LOKT_TRY_LET(again, m_store.read(Area::locks, name));
        if (!same_group_version(*again, seen)) continue;  // changed meanwhile: judge again
        now = wall_now();
        std::vector<LockRecord> members;
        std::vector<std::pair<LockRecord, HoldState>> pruned;
        std::string group_id = new_lock_id();
        if (seen.kind == StoredRecord::Kind::record) {
            group_id = seen.record.lock_id.empty() ? group_id : seen.record.lock_id;
            for (const LockRecord& member : seen.record.holders) {
                const HoldState member_state = judge_record(member, now, m_actor.host, judging());
                if (member_state == HoldState::live || !is_stale(member_state)) {
                    members.push_back(member);
                } else {
                    pruned.emplace_back(member, member_state);
                }
            }
        }
        // The same explicit owner asking again for a manual hold refreshes its member.
        const bool manual = spec.binding != Binding::guard;
        auto mine = std::find_if(members.begin(), members.end(), [&](const LockRecord& member) {
            return manual && spec.holder.owner_explicit && member.owner_explicit && member.owner == spec.holder.owner &&
                   member.bound_to.has_value() && member.bound_to != Binding::guard;
        });
        AuditEvent event;
        LockRecord granted;
        std::optional<std::uint64_t> drawn;
        const std::filesystem::path counter = m_store.mutex_path(name);
        if (mine != members.end()) {
            clear_deadline(*mine);
            if (spec.ttl) set_deadline(*mine, now, *spec.ttl);
            mine->bound_to = spec.binding;
            mine->pid = spec.holder.pid;
            mine->pid_start = spec.holder.pid_start;
            granted = *mine;
            event = make_audit_event("renew", name, m_actor);
            event.lock_id = granted.lock_id;
            event.ttl_sec = granted.ttl_sec;
            event.extra_json = Json{{"reentry", true}, {"mode", "shared"}}.dump();
            result.outcome = AcquireResult::Outcome::refreshed;
        } else if (auto ahead = spec.exclusive_ahead ? spec.exclusive_ahead() : std::nullopt) {
            m_store.unlock_and_keep(name, std::move(mutex.value()));
            result.outcome = AcquireResult::Outcome::refused;
            result.refusal.code = ErrorCode::held;
            result.refusal.message = "lock " + shared_quoted(name) +
                                     " has an exclusive request waiting ahead of this shared one (" + *ahead +
                                     "); shared requests do not overtake it";
            if (seen.kind == StoredRecord::Kind::record) {
                result.refusal.holder = seen.record;
                result.refusal.kept_by_command = kept_by(seen.record, m_actor.host) == "command";
            }
            if (spec.audit_denial) record_denial(name, result.refusal, spec.waiting);
            return result;
        } else {
            LOKT_TRY_LET(last, read_fence(mutex->fd(), counter));
            if (*last == std::numeric_limits<std::uint64_t>::max()) {
                return make_error(ErrorCode::corrupt, "the fence counter in " + counter.string() + " has no greater token left");
            }
            LOKT_TRY(write_fence(mutex->fd(), counter, *last + 1));
            drawn = *last;
            granted = build_record(spec, now, lock_id);
            granted.fence = *last + 1;
            members.push_back(granted);
            event = make_audit_event("acquire", name, m_actor);
            event.lock_id = granted.lock_id;
            event.ttl_sec = granted.ttl_sec;
            Json extra{{"fence", *granted.fence}, {"mode", "shared"}};
            if (!spec.group.empty()) extra["group"] = spec.group;
            event.extra_json = extra.dump();
            result.outcome = AcquireResult::Outcome::acquired;
        }
        const LockRecord group = shared_group_record(name, group_id, std::move(members));
        const std::string text = serialize_lock_record(group);
        if (seen.kind == StoredRecord::Kind::absent) {
            FileIdentity created;
            auto published = m_store.publish(Area::locks, name, text, &created);
            if (!published || !*published) {
                if (drawn) (void)write_fence(mutex->fd(), counter, *drawn);  // not granted: the token goes back
                if (!published) return published.take_error();
                continue;  // another tool created it meanwhile
            }
            if (auto logged = audit(event); !logged) {
                (void)m_store.remove_if_same(Area::locks, name, created);  // no grant without its line
                return logged.take_error();
            }
        } else {
            for (const auto& [member, member_state] : pruned) {
                AuditEvent prune = make_audit_event("stale-break", name, m_actor);
                prune.lock_id = member.lock_id;
                prune.extra_json = holder_extra(member, stale_reason(member, member_state));
                (void)audit(std::move(prune));
                if (!member.handle.empty()) remove_handle(m_store.root(), member.handle);
            }
            LOKT_TRY_LET(staged, m_store.stage(Area::locks, name, text));
            if (auto committed = commit_audited(*staged, event, nullptr); !committed) {
                if (drawn) (void)write_fence(mutex->fd(), counter, *drawn);
                return committed.take_error();
            }
        }
        m_store.unlock_and_keep(name, std::move(mutex.value()));
        result.record = std::move(granted);
        return result;  // result.file stays unknown: the group's file is not one holder's
    }

    result.outcome = AcquireResult::Outcome::refused;
    result.refusal = refusal_for(name, seen, state, wall_now());
    if (spec.audit_denial) record_denial(name, result.refusal, spec.waiting);
    return result;
}

Result<bool> LockEngine::rewrite_group(const std::string& name, const StoredRecord& seen, std::vector<LockRecord> members,
                                       AuditEvent event, const std::vector<std::pair<LockRecord, std::string>>& removed,
                                       const std::string& others_event) {
    // Called with the name's mutex held, after re-reading `seen`. The first
    // removed member's line (`event`) goes with the change itself; the others
    // were pruned on the way, each audited as others_event naming it.
    for (std::size_t i = 1; i < removed.size(); ++i) {
        AuditEvent prune = make_audit_event(others_event, name, m_actor);
        prune.lock_id = removed[i].first.lock_id;
        prune.extra_json = holder_extra(removed[i].first, removed[i].second);
        (void)audit(std::move(prune));
    }
    if (members.empty()) {
        auto gone = remove_audited(Area::locks, name, seen.file, std::move(event));
        if (gone && *gone) {
            for (const auto& [member, why] : removed) {
                if (!member.handle.empty()) remove_handle(m_store.root(), member.handle);
            }
        }
        return gone;
    }
    const LockRecord group = shared_group_record(name, seen.record.lock_id, std::move(members));
    LOKT_TRY_LET(staged, m_store.stage(Area::locks, name, serialize_lock_record(group)));
    LOKT_TRY(commit_audited(*staged, event, nullptr));
    for (const auto& [member, why] : removed) {
        if (!member.handle.empty()) remove_handle(m_store.root(), member.handle);
    }
    return true;
}

Result<bool> LockEngine::prune_group(const std::string& name, const StoredRecord& seen, const std::string& event_name) {
    LOKT_TRY_LET(mutex, m_store.lock_name(name));
    LOKT_TRY_LET(current, m_store.read(Area::locks, name));
    if (!same_group_version(*current, seen) || current->kind != StoredRecord::Kind::record || !current->record.is_shared()) {
        m_store.unlock_and_keep(name, std::move(mutex.value()));
        return false;
    }
    const WallTime now = wall_now();
    std::vector<LockRecord> members;
    std::vector<std::pair<LockRecord, std::string>> removed;
    for (const LockRecord& member : current->record.holders) {
        const HoldState member_state = judge_record(member, now, m_actor.host, judging());
        if (is_stale(member_state))
            removed.emplace_back(member, std::string(stale_reason(member, member_state)));
        else
            members.push_back(member);
    }
    if (removed.empty()) {
        m_store.unlock_and_keep(name, std::move(mutex.value()));
        return false;
    }
    AuditEvent event = make_audit_event(event_name, name, m_actor);
    event.lock_id = removed.front().first.lock_id;
    event.extra_json = holder_extra(removed.front().first, removed.front().second);
    auto done = rewrite_group(name, *current, std::move(members), std::move(event), removed, event_name);
    m_store.unlock_and_keep(name, std::move(mutex.value()));
    return done;
}

Result<bool> LockEngine::leave_group(const std::string& name, const std::string& lock_id, const std::string& event_name,
                                     const std::string& reason, const ReleaseNote& note, std::optional<StoredRecord> judged) {
    LOKT_TRY_LET(mutex, m_store.lock_name(name));
    LOKT_TRY_LET(current, m_store.read(Area::locks, name));
    if (judged && !same_group_version(*current, *judged)) return false;
    if (current->kind != StoredRecord::Kind::record || !current->record.is_shared()) return false;
    const LockRecord* leaving = shared_member(current->record, lock_id);
    if (leaving == nullptr) return false;
    const WallTime now = wall_now();
    std::vector<LockRecord> members;
    std::vector<std::pair<LockRecord, std::string>> removed{{*leaving, reason}};
    for (const LockRecord& member : current->record.holders) {
        if (member.lock_id == lock_id) continue;
        const HoldState member_state = judge_record(member, now, m_actor.host, judging());
        if (is_stale(member_state))
            removed.emplace_back(member, std::string(stale_reason(member, member_state)));
        else
            members.push_back(member);
    }
    AuditEvent event = make_audit_event(event_name, name, m_actor);
    event.lock_id = lock_id;
    if (event_name == "release") {
        event.extra_json = release_extra(note, now);
        Json extra = event.extra_json.empty() ? Json::object() : Json::parse(event.extra_json);
        extra["mode"] = "shared";
        event.extra_json = extra.dump();
    } else {
        event.extra_json = holder_extra(*leaving, reason);
    }
    auto done = rewrite_group(name, *current, std::move(members), std::move(event), removed);
    m_store.unlock_and_keep(name, std::move(mutex.value()));
    return done;
}

Result<LockRecord> LockEngine::unlock_shared(const std::string& name, UnlockMode mode, const StoredRecord& seen) {
    const WallTime now = wall_now();
    const LockRecord& group = seen.record;
    if (mode == UnlockMode::force) {
        // The whole group, with one line listing every member.
        LOKT_TRY_LET(mutex, m_store.lock_name(name));
        LOKT_TRY_LET(again, m_store.read(Area::locks, name));
        if (!same_group_version(*again, seen))
            return make_error(ErrorCode::held, "lock " + shared_quoted(name) + " changed meanwhile; try again");
        AuditEvent event = make_audit_event("force-break", name, m_actor);
        event.lock_id = group.lock_id;
        Json extra = Json::parse(holder_extra(group, "unlock --force"));
        extra["mode"] = "shared";
        Json members = Json::array();
        for (const LockRecord& member : group.holders) {
            members.push_back(Json{{"holder", owner_at_host(member.owner, member.host)},
                                   {"holder_pid", member.pid},
                                   {"holder_lock_id", member.lock_id}});
        }
        extra["holders"] = std::move(members);
        event.extra_json = extra.dump();
        LOKT_TRY_LET(gone, remove_audited(Area::locks, name, seen.file, std::move(event)));
        if (!*gone) return make_error(ErrorCode::held, "lock " + shared_quoted(name) + " changed meanwhile; try again");
        for (const LockRecord& member : group.holders) {
            if (!member.handle.empty()) remove_handle(m_store.root(), member.handle);
        }
        return group;
    }
    if (mode == UnlockMode::break_stale) {
        for (const LockRecord& member : group.holders) {
            const HoldState member_state = judge_record(member, now, m_actor.host, judging());
            if (!is_stale(member_state)) continue;
            LOKT_TRY_LET(left, leave_group(name, member.lock_id, "stale-break", std::string(stale_reason(member, member_state)),
                                           {}, seen));
            if (*left) return member;
            return make_error(ErrorCode::held, "lock " + shared_quoted(name) + " changed meanwhile; try again");
        }
        return make_error(ErrorCode::held, "lock " + shared_quoted(name) + " is not stale: held in shared mode by " +
                                               describe_shared(group, now, m_actor.host, judging()) +
                                               "; a human may break it anyway with --force");
    }
    // The actor's own membership: the first that is not a running guard's.
    std::optional<Error> refusal;
    for (const LockRecord& member : group.holders) {
        if (member.owner != m_actor.owner) continue;
        const HoldState member_state = judge_record(member, now, m_actor.host, judging());
        if (auto refused = unlock_refusal(name, member, member_state, m_actor.owner, now)) {
            if (!refusal) refusal = std::move(refused);
            continue;
        }
        LOKT_TRY_LET(left, leave_group(name, member.lock_id, "release", "", {}, seen));
        if (*left) return member;
        return make_error(ErrorCode::held, "lock " + shared_quoted(name) + " changed meanwhile; try again");
    }
    if (refusal) return std::move(*refusal);
    return make_error(ErrorCode::not_owner, "lock " + shared_quoted(name) + " is held in shared mode by " +
                                                describe_shared(group, now, m_actor.host, judging()) + ", not by " +
                                                m_actor.owner + "; a human may break it with --force");
}

}  // namespace lokt
