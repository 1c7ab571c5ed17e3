// LockEngine's acquire of a slot of a pool (slot_pool.hpp): the pool's size is
// checked and the free slot chosen under the pool name's mutex, so callers of
// one pool agree on its size and two acquires never pick the same slot from
// the same look. Each slot is then created like a plain lock (publish_fenced),
// with its own fencing token.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/hold_deadline.hpp"
#include "common/lock_engine.hpp"
#include "common/slot_pool.hpp"

namespace lokt {
namespace {

using Json = nlohmann::ordered_json;

std::string in_quotes(const std::string& name) { return "\"" + name + "\""; }

bool in_use(HoldState state) {
    return state == HoldState::live || state == HoldState::being_written || state == HoldState::unsupported;
}

}  // namespace

Result<AcquireResult> LockEngine::try_acquire_slot(const AcquireSpec& spec) {
    const std::string& pool = spec.name;
    const std::uint64_t slots = *spec.slots;
    LOKT_TRY(validate_pool(pool, slots));
    AcquireResult result;
    LOKT_TRY_LET(pool_mutex, m_store.lock_name(pool));

    // Callers that disagree on the size are told so while the pool is in use;
    // an idle pool takes the size it is asked for.
    const std::optional<std::uint64_t> recorded = m_store.pool_size(pool);
    const std::uint64_t looked_at = std::max(slots, recorded.value_or(0));
    std::vector<StoredRecord> seen(looked_at);
    std::vector<HoldState> states(looked_at, HoldState::absent);
    WallTime now = wall_now();
    for (std::uint64_t k = 0; k < looked_at; ++k) {
        LOKT_TRY_LET(read, m_store.read(Area::locks, slot_lock_name(pool, k)));
        seen[k] = std::move(read.value());
        states[k] = judge(seen[k], now, m_actor.host, judging());
        if (states[k] != HoldState::live) continue;
        const LockRecord& holder = seen[k].record;
        const bool other_size = (holder.slots && *holder.slots != slots) || k >= slots;
        if (other_size) {
            const std::uint64_t theirs = holder.slots.value_or(recorded.value_or(k + 1));
            return make_error(ErrorCode::usage, "pool " + in_quotes(pool) + " has " + std::to_string(theirs) + " slots, not " +
                                                    std::to_string(slots) + " (slot " + std::to_string(k) + " is held by " +
                                                    describe_holder(holder, now) + "); use --slots " + std::to_string(theirs) +
                                                    ", or change the size once the pool is idle");
        }
        if (!spec.inherited_lock_id.empty() && holder.lock_id == spec.inherited_lock_id) {
            result.outcome = AcquireResult::Outcome::nested;  // inside a guard of this very slot
            result.record = holder;
            return result;
        }
        if (spec.binding == Binding::guard && !spec.handle.empty() && holder.handle == spec.handle &&
            holder.host == spec.holder.host && holder.pid == spec.holder.pid) {
            // Our own hold, granted by a daemon we gave up on (see try_acquire).
            result.outcome = AcquireResult::Outcome::acquired;
            result.record = holder;
            result.file = seen[k].file;
            return result;
        }
    }
    if (recorded && *recorded != slots) {
        for (std::uint64_t k = 0; k < looked_at; ++k) {
            if (in_use(states[k])) {
                return make_error(ErrorCode::usage, "pool " + in_quotes(pool) + " has " + std::to_string(*recorded) +
                                                        " slots, not " + std::to_string(slots) + " (slot " + std::to_string(k) +
                                                        " is in use); use --slots " + std::to_string(*recorded));
            }
        }
    }
    if (recorded != slots) LOKT_TRY(m_store.set_pool_size(pool, slots));

    // The lowest free slot, FIFO among the daemon's waiters (its queue is the pool's).
    const std::string lock_id = new_lock_id();
    for (std::uint64_t k = 0; k < slots; ++k) {
        const std::string name = slot_lock_name(pool, k);
        for (int round = 0; round < 4 && !in_use(states[k]); ++round) {
            if (states[k] == HoldState::corrupt || is_stale(states[k])) {
                const std::string event = states[k] == HoldState::corrupt ? "corrupt-break" : "stale-break";
                const std::string reason =
                    states[k] == HoldState::corrupt ? seen[k].problem : std::string(stale_reason(seen[k].record, states[k]));
                LOKT_TRY_LET(broke, break_if_unchanged(Area::locks, name, seen[k], event, reason));
            }
            LOKT_TRY(m_store.prepare_mutex(name));
            now = wall_now();
            AcquireSpec slot_spec = spec;
            slot_spec.name = name;
            LockRecord record = build_record(slot_spec, now, lock_id);
            record.pool = pool;
            record.slots = slots;
            record.slot = k;
            LOKT_TRY_LET(published, publish_fenced(name, record, &result.file));
            if (*published) {
                AuditEvent event = make_audit_event("acquire", name, m_actor);
                event.lock_id = record.lock_id;
                event.ttl_sec = record.ttl_sec;
                event.extra_json = Json{{"fence", *record.fence}, {"pool", pool}, {"slot", k}}.dump();
                if (auto logged = audit(std::move(event)); !logged) {
                    take_back(Area::locks, name, result.file);
                    return logged.take_error();
                }
                result.outcome = AcquireResult::Outcome::acquired;
                result.record = std::move(record);
                return result;
            }
            // Taken meanwhile by a tool that does not take the pool's mutex: look again.
            LOKT_TRY_LET(read, m_store.read(Area::locks, name));
            seen[k] = std::move(read.value());
            states[k] = judge(seen[k], wall_now(), m_actor.host, judging());
        }
    }

    result.outcome = AcquireResult::Outcome::refused;
    result.refusal = pool_refusal(pool, slots, seen, states);
    if (spec.audit_denial) record_denial(pool, result.refusal, spec.waiting);
    return result;
}

Refusal LockEngine::pool_refusal(const std::string& pool, std::uint64_t slots, const std::vector<StoredRecord>& seen,
                                 const std::vector<HoldState>& states) const {
    Refusal refusal;
    refusal.code = ErrorCode::held;
    const WallTime now = wall_now();
    std::string holders;
    for (std::uint64_t k = 0; k < slots; ++k) {
        if (!holders.empty()) holders += ", ";
        holders += "slot " + std::to_string(k) + " ";
        if (states[k] == HoldState::live) {
            const std::string_view kept = kept_by(seen[k].record, m_actor.host);
            holders += "by " + describe_holder(seen[k].record, now, kept);
            if (!refusal.holder) {
                refusal.holder = seen[k].record;
                refusal.kept_by_command = kept == "command";
            }
        } else if (states[k] == HoldState::unsupported) {
            holders += "by a newer lokt's hold";
        } else {
            holders += "being created by another process";
        }
    }
    refusal.message = "all " + std::to_string(slots) + " slots of pool " + in_quotes(pool) + " are held: " + holders;
    return refusal;
}

}  // namespace lokt
