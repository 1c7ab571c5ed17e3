// See root_state.hpp.
#include "daemon/root_state.hpp"

#include <algorithm>
#include <ranges>

#include "common/hold_deadline.hpp"
#include "common/slot_pool.hpp"

namespace lokt::daemon {
namespace {

// How soon to look again at a lock file another tool is still writing.
constexpr Nanoseconds k_being_written_retry = k_empty_file_grace;
// How soon to retry a guard renewal that failed for a reason other than loss.
constexpr Nanoseconds k_renew_retry = std::chrono::seconds(1);
// How soon to try a name again whose mutex another process held (never waited for).
constexpr Nanoseconds k_busy_retry = std::chrono::milliseconds(50);

void earliest(std::optional<SteadyTime>& current, SteadyTime candidate) {
    if (!current || candidate < *current) current = candidate;
}

// A shared member's hold is kept under NAME, a newline (never in a lock
// name) and its lock id, so that every member of a name has an entry of its own.
constexpr char k_member_mark = '\n';

std::string member_key(const std::string& name, const std::string& lock_id) { return name + k_member_mark + lock_id; }

// The lock name a key of m_holds stands for.
std::string name_of_key(const std::string& key) {
    const auto mark = key.find(k_member_mark);
    return mark == std::string::npos ? key : key.substr(0, mark);
}

// An exclusive acquire waits in the queue: shared requests behind it may not pass it.
template <class Waiters>
const AcquireTicket* exclusive_waiter(const Waiters& waiters) {
    for (const auto& waiter : waiters) {
        if (!waiter.ticket.spec.shared) return &waiter.ticket;
    }
    return nullptr;
}

}  // namespace

Refusal timeout_refusal(const Refusal& last, Nanoseconds waited_for) {
    Refusal refusal = last;
    refusal.code = ErrorCode::timeout;
    refusal.message = "timed out after " + format_duration(waited_for) + " waiting: " + last.message;
    return refusal;
}

RootState::RootState(FileOps& files, const Clock& clock, std::string host)
    : m_files(files), m_clock(clock), m_host(std::move(host)) {}

SteadyTime RootState::steady_at(WallTime when) const {
    const auto left = when - m_clock.wall_now();
    return m_clock.steady_now() + std::chrono::duration_cast<SteadyTime::duration>(left);
}

std::size_t RootState::waiters_for(const std::string& name) const {
    auto it = m_queues.find(name);
    return it == m_queues.end() ? 0 : it->second.waiters.size();
}

std::vector<RootState::QueuedAcquire> RootState::queue_of(const std::string& name) const {
    std::vector<QueuedAcquire> out;
    auto it = m_queues.find(name);
    if (it == m_queues.end()) return out;
    const SteadyTime now = m_clock.steady_now();
    for (const Waiter& waiter : it->second.waiters) {
        const SteadyTime started = waiter.deadline - waiter.ticket.timeout;
        out.push_back({out.size() + 1, waiter.ticket.spec.holder, std::max(Nanoseconds(0), Nanoseconds(now - started)),
                       waiter.ticket.spec.shared});
    }
    return out;
}

std::vector<std::string> RootState::queued_names() const {
    std::vector<std::string> names;
    names.reserve(m_queues.size());
    for (const auto& [name, queue] : m_queues) {
        if (!queue.waiters.empty()) names.push_back(name);
    }
    return names;
}

std::optional<Identity> RootState::hold_actor(const std::string& name, const std::string& lock_id) const {
    auto it = m_holds.find(name);
    if (it == m_holds.end() || it->second.lock_id() != lock_id) it = m_holds.find(member_key(name, lock_id));
    if (it == m_holds.end() || it->second.lock_id() != lock_id) return std::nullopt;
    return it->second.actor();
}

RootState::HoldIt RootState::find_hold(const std::string& name, const std::string& lock_id) {
    auto it = m_holds.find(name);
    if (it != m_holds.end() && it->second.lock_id() == lock_id) return it;
    it = m_holds.find(member_key(name, lock_id));
    if (it != m_holds.end() && it->second.lock_id() == lock_id) return it;
    return m_holds.end();
}

std::vector<std::string> RootState::member_keys(const std::string& name) const {
    std::vector<std::string> keys;
    const std::string prefix = name + k_member_mark;
    for (auto it = m_holds.lower_bound(prefix); it != m_holds.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        keys.push_back(it->first);
    }
    return keys;
}

std::optional<SteadyTime> RootState::Hold::due() const {
    std::optional<SteadyTime> next;
    // A detached hold is renewed only while its command carries it: a guard
    // that still runs renews it itself.
    if (guard && ttl && (!detached || kept_by_command)) {
        earliest(next, renewed + std::chrono::duration_cast<SteadyTime::duration>(*ttl / 2));
    }
    if (expires) earliest(next, *expires);
    return next;
}

RootState::HoldIt RootState::put_hold(const std::string& name, Hold hold) {
    if (auto old = m_holds.find(name); old != m_holds.end()) erase_hold(old);
    auto it = m_holds.emplace(name, std::move(hold)).first;
    if (it->second.guard && it->second.connection != 0) m_holds_of[it->second.connection].insert(name);
    hold_changed(it);
    return it;
}

void RootState::erase_hold(HoldIt it) {
    const std::string& name = it->first;
    Hold& hold = it->second;
    m_deadlines.move({DueItem::Kind::hold, name, 0}, hold.scheduled, std::nullopt);
    if (auto bound = m_holds_of.find(hold.connection); hold.connection != 0 && bound != m_holds_of.end()) {
        bound->second.erase(name);
        if (bound->second.empty()) m_holds_of.erase(bound);
    }
    m_detached.erase(name);
    m_holds.erase(it);
}

void RootState::hold_changed(HoldIt it) {
    Hold& hold = it->second;
    const auto due = hold.due();
    m_deadlines.move({DueItem::Kind::hold, it->first, 0}, hold.scheduled, due);
    hold.scheduled = due;
    if (hold.detached)
        m_detached.insert(it->first);
    else
        m_detached.erase(it->first);
}

void RootState::set_retry(const std::string& name, Queue& queue, std::optional<SteadyTime> when) {
    m_deadlines.move({DueItem::Kind::queue_retry, name, 0}, queue.retry_at, when);
    queue.retry_at = when;
}

void RootState::add_waiter(Queue& queue, Waiter waiter) {
    waiter.number = m_next_waiter++;
    const std::string& name = waiter.ticket.spec.name;
    m_deadlines.move({DueItem::Kind::waiter_timeout, name, waiter.number}, std::nullopt, waiter.deadline);
    ++m_waits_of[waiter.ticket.connection][name];
    ++m_waiter_total;
    queue.waiters.push_back(std::move(waiter));
}

void RootState::waiter_leaves(const Waiter& waiter) {
    const std::string& name = waiter.ticket.spec.name;
    m_deadlines.move({DueItem::Kind::waiter_timeout, name, waiter.number}, waiter.deadline, std::nullopt);
    if (auto waits = m_waits_of.find(waiter.ticket.connection); waits != m_waits_of.end()) {
        if (auto count = waits->second.find(name); count != waits->second.end() && --count->second == 0) {
            waits->second.erase(count);
            if (waits->second.empty()) m_waits_of.erase(waits);
        }
    }
    --m_waiter_total;
}

void RootState::erase_queue(QueueIt it) {
    for (const Waiter& waiter : it->second.waiters) waiter_leaves(waiter);
    set_retry(it->first, it->second, std::nullopt);
    m_blocked.erase(it->first);
    m_queues.erase(it);
}

Identity RootState::Hold::actor() const { return other_actor ? *other_actor : holder_identity(record); }

void RootState::Hold::set_actor(const Identity& actor) {
    if (actor == holder_identity(record))
        other_actor.reset();
    else
        other_actor = std::make_unique<Identity>(actor);
}

void RootState::note_granted(const AcquireTicket& ticket, const AcquireResult& result) {
    if (result.outcome == AcquireResult::Outcome::nested) return;  // the outer hold is unchanged
    // A pool's hold is its slot's lock file, named in the record; a shared
    // member's is kept apart from the name's other members.
    const std::string name = ticket.spec.shared           ? member_key(ticket.spec.name, result.record.lock_id)
                             : result.record.pool.empty() ? ticket.spec.name
                                                          : result.record.name;
    if (ticket.spec.binding == Binding::guard) {
        Hold hold;
        hold.connection = ticket.connection;
        hold.record = result.record;
        hold.set_actor(ticket.actor);
        hold.ttl = ticket.spec.ttl;
        hold.renewed = m_clock.steady_now();
        hold.guard = true;
        hold.file = WrittenFile::of(result.file);
        put_hold(name, std::move(hold));
    } else if (ticket.spec.binding == Binding::ttl && result.record.expiry()) {
        // The file names the daemon's pid; keep it in mind until it lapses.
        Hold hold;
        hold.record = result.record;
        hold.set_actor(ticket.actor);
        hold.ttl = ticket.spec.ttl;
        hold.expires = steady_at(*local_expiry(result.record, m_clock.wall_now()));
        hold.file = WrittenFile::of(result.file);
        put_hold(name, std::move(hold));
    } else if (auto old = m_holds.find(name); old != m_holds.end()) {
        erase_hold(old);  // bound to a process: its pid is in the file for everyone to judge
    }
}

void RootState::note_blocker(const std::string& name, Queue& queue, const Refusal& refusal) {
    std::optional<SteadyTime> retry_at;
    queue.blocker_pid = 0;
    queue.blocker_handle.clear();
    const SteadyTime now = m_clock.steady_now();
    if (refusal.freeze) {
        if (auto expiry = local_expiry(*refusal.freeze, m_clock.wall_now())) earliest(retry_at, steady_at(*expiry));
    }
    if (refusal.holder) {
        const LockRecord& holder = *refusal.holder;
        auto held = m_holds.find(name);
        const bool ours_to_end = held != m_holds.end() && held->second.guard && held->second.lock_id() == holder.lock_id;
        if (!ours_to_end) {
            if (refusal.kept_by_command && !holder.handle.empty()) {
                // Its guard is gone and its expiry no longer counts: only the
                // release of the handle can end it.
                queue.blocker_handle = holder.handle;
            } else {
                if (auto expiry = local_expiry(holder, m_clock.wall_now())) earliest(retry_at, steady_at(*expiry));
                // Only the first slot's holder is watched: the others are looked at now and then.
                if (!holder.pool.empty()) earliest(retry_at, now + std::chrono::seconds(1));
                if (holder.host == m_host && holder.pid > 0 && holder.bound_to != Binding::ttl) {
                    queue.blocker_pid = static_cast<pid_t>(holder.pid);
                }
            }
        }
    } else if (refusal.code == ErrorCode::held && !refusal.freeze) {
        earliest(retry_at, now + std::chrono::duration_cast<SteadyTime::duration>(k_being_written_retry));
    }
    set_retry(name, queue, retry_at);
    if (queue.blocker_pid > 0 || !queue.blocker_handle.empty())
        m_blocked.insert(name);
    else
        m_blocked.erase(name);
}

void RootState::report_positions(const std::string& name, const Queue& queue, Effects& out, std::size_t from) const {
    (void)name;
    for (std::size_t i = from; i < queue.waiters.size(); ++i) {
        const Waiter& waiter = queue.waiters[i];
        if (!waiter.ticket.progress) continue;
        out.progress.push_back(ProgressNote{waiter.ticket.connection, waiter.ticket.request_id, i + 1, queue.waiters.size(),
                                            queue.waiters.front().refusal});
    }
}

std::optional<std::vector<WaitEdge>> RootState::wait_cycle(const AcquireTicket& ticket, const Refusal& refusal) const {
    if (!refusal.holder) return std::nullopt;
    const auto waiter = wait_agent_of(ticket.spec.holder, ticket.spec.binding);
    if (!waiter) return std::nullopt;
    // A waiter for a shared group waits for every member: an edge to each.
    std::vector<std::pair<WaitAgent, WallTime>> holders;
    for (const LockRecord* hold : holds_waited_for(*refusal.holder)) {
        if (auto agent = holding_agent_of(*hold)) holders.emplace_back(std::move(*agent), hold->acquired);
    }
    if (holders.empty()) return std::nullopt;
    // Every queued waiter points at its name's holder: the one this state
    // granted, else the one its queue last found on the files.
    WaitForGraph graph;
    const WallTime wall = m_clock.wall_now();
    const SteadyTime now = m_clock.steady_now();
    for (const auto& [name, queue] : m_queues) {
        if (queue.waiters.empty()) continue;
        auto held = m_holds.find(name);
        const LockRecord* record = held != m_holds.end()                  ? &held->second.record
                                   : queue.waiters.front().refusal.holder ? &*queue.waiters.front().refusal.holder
                                                                          : nullptr;
        if (record == nullptr) continue;
        for (const LockRecord* hold : holds_waited_for(*record)) {
            const auto queue_holder = holding_agent_of(*hold);
            if (!queue_holder) continue;
            for (const Waiter& queued : queue.waiters) {
                const auto agent = wait_agent_of(queued.ticket.spec.holder, queued.ticket.spec.binding);
                if (!agent) continue;
                const auto started = queued.deadline - std::chrono::duration_cast<SteadyTime::duration>(queued.ticket.timeout);
                const WallTime since = wall - std::chrono::duration_cast<Nanoseconds>(now - started);
                graph.add(WaitEdge{*agent, name, *queue_holder, hold->acquired, since});
            }
        }
    }
    for (const auto& [holder, since] : holders) {
        if (auto cycle = graph.cycle_closed_by(WaitEdge{*waiter, ticket.spec.name, holder, since, std::nullopt})) return cycle;
    }
    return std::nullopt;
}

bool RootState::joins_without_trying(const AcquireTicket& ticket) const {
    if (!ticket.wait || !ticket.spec.inherited_lock_id.empty()) return false;  // a nested guard may pass
    auto queued = m_queues.find(ticket.spec.name);
    if (queued == m_queues.end() || queued->second.waiters.empty()) return false;
    const Refusal& blocker = queued->second.waiters.front().refusal;
    // Re-entry by the holder's own explicit owner is granted at once.
    if (ticket.spec.holder.owner_explicit && blocker.holder && blocker.holder->owner_explicit &&
        blocker.holder->owner == ticket.spec.holder.owner) {
        return false;
    }
    return true;
}

void RootState::acquire(AcquireTicket ticket, Effects& out) {
    Refusal refusal;
    if (ticket.spec.shared && !ticket.wait && ticket.spec.inherited_lock_id.empty()) {
        // A shared request never overtakes a queued exclusive one.
        auto queued = m_queues.find(ticket.spec.name);
        const AcquireTicket* ahead = queued == m_queues.end() ? nullptr : exclusive_waiter(queued->second.waiters);
        if (ahead != nullptr) {
            AcquireResult refused;
            refused.refusal = queued->second.waiters.front().refusal;
            refused.refusal.code = ErrorCode::held;
            refused.refusal.message = "lock \"" + ticket.spec.name +
                                      "\" has an exclusive request waiting ahead of this shared one (" +
                                      owner_at_host(ahead->spec.holder.owner, ahead->spec.holder.host) + " (pid " +
                                      std::to_string(ahead->spec.holder.pid) + ")); shared requests do not overtake it";
            m_files.record_denial(ticket.spec, refused.refusal, ticket.actor);
            out.answers.push_back(AcquireAnswer{ticket.connection, ticket.request_id, std::move(refused)});
            return;
        }
    }
    if (joins_without_trying(ticket)) {
        // Others already wait for this name: first come, first served, so the
        // newcomer queues behind them for the reason they wait, without
        // reading the files again (the head is retried whenever they change).
        refusal = m_queues[ticket.spec.name].waiters.front().refusal;
    } else {
        // One `deny` when a waiter starts waiting: written below, once its
        // wait is known not to close a cycle.
        ticket.spec.audit_denial = !ticket.wait;
        auto tried = m_files.try_acquire(ticket.spec, ticket.actor);
        if (!tried || tried->granted() || !ticket.wait) {
            if (tried && tried->granted()) note_granted(ticket, *tried);
            out.answers.push_back(AcquireAnswer{ticket.connection, ticket.request_id, std::move(tried)});
            return;
        }
        refusal = std::move(tried->refusal);
    }
    if (auto cycle = wait_cycle(ticket, refusal)) {
        // Waiting would never end: refused now, and the others keep waiting.
        refusal.code = ErrorCode::deadlock;
        refusal.message = deadlock_message(*cycle, m_clock.wall_now());
        refusal.cycle = std::move(*cycle);
        m_files.record_denial(ticket.spec, refusal, ticket.actor);
        AcquireResult refused;
        refused.refusal = std::move(refusal);
        out.answers.push_back(AcquireAnswer{ticket.connection, ticket.request_id, std::move(refused)});
        return;
    }
    m_files.record_denial(ticket.spec, refusal, ticket.actor);
    Queue& queue = m_queues[ticket.spec.name];
    Waiter waiter;
    waiter.deadline = m_clock.steady_now() + std::chrono::duration_cast<SteadyTime::duration>(ticket.timeout);
    waiter.refusal = std::move(refusal);
    waiter.ticket = std::move(ticket);
    waiter.ticket.spec.audit_denial = false;
    add_waiter(queue, std::move(waiter));
    if (queue.waiters.size() == 1) note_blocker(queue.waiters.front().ticket.spec.name, queue, queue.waiters.front().refusal);
    report_positions(queue.waiters.back().ticket.spec.name, queue, out, queue.waiters.size() - 1);
}

void RootState::pump(const std::string& changed_key, Effects& out) {
    const std::string changed = name_of_key(changed_key);
    auto it = m_queues.find(changed);
    if (it == m_queues.end()) {
        // A slot of a pool changed: the pool's queue is the one to try.
        auto slot = slot_of_lock_name(changed);
        if (slot) it = m_queues.find(slot->pool);
        if (it == m_queues.end()) return;
    }
    const std::string name = it->first;
    Queue& queue = it->second;
    bool moved = false;
    while (!queue.waiters.empty()) {
        Waiter& head = queue.waiters.front();
        if (m_still_there && !m_still_there(head.ticket.connection)) {
            // Its client gave up on us (we were stopped, say) and carries on
            // with the files: granting it now would make a hold nobody runs.
            waiter_leaves(head);
            queue.waiters.pop_front();
            moved = true;
            continue;
        }
        auto tried = m_files.try_acquire(head.ticket.spec, head.ticket.actor);
        if (!tried && tried.error().busy) {
            retry_within(name, k_busy_retry);  // the head keeps its place
            break;
        }
        if (tried && !tried->granted()) {
            head.refusal = tried->refusal;
            note_blocker(name, queue, head.refusal);
            break;
        }
        const bool granted = tried && tried->granted();
        const bool nested = granted && tried->outcome == AcquireResult::Outcome::nested;
        // Another slot of a pool may still be free: the next waiter tries too;
        // after a shared grant, so may the shared waiters right behind it.
        const bool pool_slot = granted && !tried->record.pool.empty();
        const bool shared_grant = granted && head.ticket.spec.shared;
        Refusal next_blocker;
        if (granted) {
            note_granted(head.ticket, *tried);
            next_blocker.code = ErrorCode::held;
            next_blocker.holder = tried->record;
            next_blocker.message = "lock \"" + name + "\" held by " + describe_holder(tried->record, m_clock.wall_now());
        }
        out.answers.push_back(AcquireAnswer{head.ticket.connection, head.ticket.request_id, std::move(tried)});
        waiter_leaves(head);
        queue.waiters.pop_front();
        moved = true;
        if (granted && !nested && !pool_slot && !shared_grant) {
            if (!queue.waiters.empty()) {
                queue.waiters.front().refusal = next_blocker;
                note_blocker(name, queue, next_blocker);
            }
            break;
        }
    }
    if (queue.waiters.empty()) {
        erase_queue(it);
        return;
    }
    if (moved) report_positions(name, queue, out, 0);
}

Result<void> RootState::release(const std::string& name, const std::string& lock_id, const Identity& actor, ReleaseNote note,
                                Effects& out) {
    auto held = find_hold(name, lock_id);
    const bool ours = held != m_holds.end();
    if (ours) note.acquired = held->second.record.acquired;
    auto released = m_files.release(name, lock_id, actor, ours ? held->second.file : WrittenFile{}, note);
    if (!released && released.error().busy) return released;  // nothing changed: asked again later
    if (ours) erase_hold(held);
    pump(name, out);
    return released;
}

Result<LockRecord> RootState::renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl, const Identity& actor) {
    auto held = find_hold(name, lock_id);
    const bool tracked = held != m_holds.end();
    const SteadyTime now = m_clock.steady_now();
    WrittenFile written;
    auto renewed = m_files.renew(name, lock_id, ttl, actor, {}, &written);
    if (!tracked) return renewed;
    if (renewed) {
        held->second.record = *renewed;
        held->second.file = written;
        held->second.ttl = ttl;
        held->second.renewed = now;
        if (!held->second.guard) {
            if (auto expiry = local_expiry(*renewed, m_clock.wall_now())) held->second.expires = steady_at(*expiry);
        }
        hold_changed(held);
    } else if (renewed.error().code == ErrorCode::lost) {
        erase_hold(held);
    }
    return renewed;
}

void RootState::files_changed(const std::string& name, Effects& out) {
    if (auto held = m_holds.find(name); held != m_holds.end() && held->second.detached) {
        check_detached(name, out);
        return;
    }
    if (name.find(k_member_mark) == std::string::npos) {
        // A shared group's file changed: its detached members look again.
        bool looked = false;
        for (const auto& key : member_keys(name)) {
            if (m_holds.at(key).detached) {
                check_detached(key, out);
                looked = true;
            }
        }
        if (looked) {
            pump(name, out);
            return;
        }
    }
    // Most changes are the daemon's own (the lock it just wrote for the head
    // of the queue): while that file is still in place, the queue has nothing
    // new to try, and one stat spares reading and judging the lock again.
    auto held = m_holds.find(name);
    if (held != m_holds.end() && held->second.file.known() && m_queues.count(name) != 0 &&
        m_files.lock_file_is(name, held->second.file)) {
        return;
    }
    pump(name, out);
}

void RootState::all_files_changed(Effects& out) {
    std::vector<std::string> names;
    for (const auto& [name, queue] : m_queues) names.push_back(name);
    for (const auto& name : names) pump(name, out);
}

void RootState::forget_hold(const std::string& name) {
    if (auto held = m_holds.find(name); held != m_holds.end()) erase_hold(held);
    // Manual shared members are looked up on the files when needed; guards'
    // members stay, renewed until their renewal finds them gone.
    for (const auto& key : member_keys(name)) {
        auto member = m_holds.find(key);
        if (!member->second.guard) erase_hold(member);
    }
}

void RootState::retry_within(const std::string& name, Nanoseconds after) {
    auto it = m_queues.find(name);
    if (it == m_queues.end()) return;
    std::optional<SteadyTime> retry_at = it->second.retry_at;
    earliest(retry_at, m_clock.steady_now() + std::chrono::duration_cast<SteadyTime::duration>(after));
    set_retry(name, it->second, retry_at);
}

void RootState::connection_closed(ConnectionId connection, bool keep_holds, Effects& out) {
    // Only the names this connection waits for or holds are touched, in name order.
    if (auto waits = m_waits_of.find(connection); waits != m_waits_of.end()) {
        std::vector<std::string> names;
        for (const auto& [name, count] : waits->second) names.push_back(name);
        for (const auto& name : names) {
            auto it = m_queues.find(name);
            if (it == m_queues.end()) continue;
            auto& waiters = it->second.waiters;
            const std::size_t before = waiters.size();
            for (const Waiter& waiter : waiters) {
                if (waiter.ticket.connection == connection) waiter_leaves(waiter);
            }
            waiters.erase(std::remove_if(waiters.begin(), waiters.end(),
                                         [&](const Waiter& w) { return w.ticket.connection == connection; }),
                          waiters.end());
            if (waiters.empty()) {
                erase_queue(it);
                continue;
            }
            if (waiters.size() != before) report_positions(it->first, it->second, out, 0);
        }
    }
    auto bound = m_holds_of.find(connection);
    if (bound == m_holds_of.end()) return;
    const std::set<std::string> names = std::move(bound->second);
    m_holds_of.erase(bound);
    std::vector<std::string> taken_back;
    for (const auto& name : names) {
        auto held = m_holds.find(name);
        if (held == m_holds.end()) continue;
        if (keep_holds) {
            erase_hold(held);
            continue;
        }
        // A guard that gave up on us (we were stopped or too slow) rewrote its
        // file before it closed the connection: the hold is its own now, and
        // nothing we remember about it counts (design.md, "Handing a hold
        // back to its guard").
        if (held->second.file.known() && !m_files.lock_file_is(name, held->second.file)) {
            taken_back.push_back(name);
            erase_hold(held);
            continue;
        }
        // Whether the guard is gone is for the files to say: its command may
        // still run on its liveness handle, or the guard may carry on without
        // us (an older lokt that did not rewrite its file).
        held->second.connection = 0;
        held->second.detached = true;
        hold_changed(held);
    }
    if (keep_holds) return;
    for (const auto& name : names) check_detached(name, out);
    for (const auto& name : taken_back) pump(name, out);
}

void RootState::check_detached(const std::string& name, Effects& out) {
    auto held = m_holds.find(name);
    if (held == m_holds.end() || !held->second.detached) return;
    Hold& hold = held->second;
    auto checked = m_files.end_if_stale(name_of_key(name), hold.lock_id(), hold.actor());
    if (!checked && checked.error().busy) {
        retry_within(name, k_busy_retry);  // looked at again with its queue, if it has one
        return;
    }
    if (checked && checked->state == HoldState::live) {
        hold.kept_by_command = checked->kept_by_command;
        hold_changed(held);
        return;  // watched: its guard's pid, or its handle (see blocker_pids, watched_handles)
    }
    // Ended (broken as stale now), gone, or unreadable: the queue looks for itself.
    erase_hold(held);
    pump(name, out);
}

void RootState::handle_released(const std::string& token, Effects& out) {
    for (const auto& name : names_of_handle(token)) files_changed(name, out);
}

std::vector<std::string> RootState::names_of_handle(const std::string& token) const {
    std::vector<std::string> names;
    for (const auto& name : m_detached) {
        if (m_holds.at(name).record.handle == token) names.push_back(name);
    }
    for (const auto& name : m_blocked) {
        if (m_queues.at(name).blocker_handle == token) names.push_back(name);
    }
    return names;
}

std::set<std::string> RootState::watched_handles() const {
    std::set<std::string> tokens;
    for (const auto& name : m_detached) {
        const Hold& hold = m_holds.at(name);
        if (hold.kept_by_command) tokens.insert(hold.record.handle);
    }
    for (const auto& name : m_blocked) {
        const Queue& queue = m_queues.at(name);
        if (!queue.blocker_handle.empty()) tokens.insert(queue.blocker_handle);
    }
    return tokens;
}

void RootState::advance(Effects& out) {
    const SteadyTime now = m_clock.steady_now();
    // Each step takes what m_deadlines says is due now, by name (the order a
    // walk of every name would take), and looks again before acting: an
    // earlier step may have changed it.
    const auto due_names = [&](DueItem::Kind kind) {
        std::set<std::string> names;
        for (auto& item : m_deadlines.due(now, kind)) names.insert(std::move(item.name));
        return names;
    };

    // Waiters whose time is up: one last look, then the timeout answer.
    for (const auto& name : due_names(DueItem::Kind::waiter_timeout)) {
        auto it = m_queues.find(name);
        if (it == m_queues.end()) continue;
        auto& waiters = it->second.waiters;
        bool removed = false;
        for (auto w = waiters.begin(); w != waiters.end();) {
            if (w->deadline > now) {
                ++w;
                continue;
            }
            if (m_still_there && !m_still_there(w->ticket.connection)) {
                waiter_leaves(*w);  // nobody to answer (see pump)
                w = waiters.erase(w);
                removed = true;
                continue;
            }
            // A shared waiter behind an exclusive one takes no last look: it would overtake it.
            const bool behind_exclusive =
                w->ticket.spec.shared && exclusive_waiter(std::ranges::subrange(waiters.begin(), w)) != nullptr;
            auto tried =
                behind_exclusive ? Result<AcquireResult>(AcquireResult{}) : m_files.try_acquire(w->ticket.spec, w->ticket.actor);
            if (tried && behind_exclusive) tried->refusal = w->refusal;
            if (!tried && tried.error().busy) {
                AcquireResult refused;
                refused.refusal = w->refusal;
                tried = std::move(refused);
            }
            if (tried && tried->granted()) {
                note_granted(w->ticket, *tried);
            } else if (tried) {
                tried->refusal = timeout_refusal(tried->refusal, w->ticket.timeout);
            }
            out.answers.push_back(AcquireAnswer{w->ticket.connection, w->ticket.request_id, std::move(tried)});
            waiter_leaves(*w);
            w = waiters.erase(w);
            removed = true;
        }
        if (waiters.empty()) {
            erase_queue(it);
            continue;
        }
        if (removed) report_positions(name, it->second, out, 0);
    }

    // Retries: a blocker's TTL or a freeze lapsed, or a file was being written.
    std::vector<std::string> due;
    for (const auto& name : due_names(DueItem::Kind::queue_retry)) {
        auto it = m_queues.find(name);
        if (it == m_queues.end() || !it->second.retry_at || *it->second.retry_at > now) continue;
        set_retry(name, it->second, std::nullopt);
        due.push_back(name);
    }
    for (const auto& name : due) files_changed(name, out);

    // Guard holds renewed every TTL/2 while their connection is open (by us
    // alone: the guard then only reads its file back); manual TTL holds
    // forgotten when they lapse.
    std::vector<std::string> lost;
    std::vector<std::string> handed_over;
    for (const auto& name : due_names(DueItem::Kind::hold)) {
        auto it = m_holds.find(name);
        if (it == m_holds.end()) continue;
        Hold& hold = it->second;
        if (const auto when = hold.due(); !when || *when > now) continue;
        if (!hold.guard) {
            lost.push_back(name);  // a manual TTL hold lapsed
            erase_hold(it);
            continue;
        }
        // Only while the file is still the version we wrote: a guard that gave
        // up on us (we were stopped) has rewritten it and renews it itself.
        WrittenFile written;
        auto renewed = m_files.renew(name_of_key(name), hold.lock_id(), *hold.ttl, hold.actor(), hold.file, &written);
        if (renewed) {
            hold.record = *renewed;
            hold.file = written;
            hold.renewed = now;
        } else if (renewed.error().code == ErrorCode::not_owner) {
            handed_over.push_back(name);
            erase_hold(it);
            continue;
        } else if (renewed.error().code == ErrorCode::lost) {
            lost.push_back(name);
            erase_hold(it);
            continue;
        } else {
            hold.renewed = now - std::chrono::duration_cast<SteadyTime::duration>(*hold.ttl / 2) +
                           std::chrono::duration_cast<SteadyTime::duration>(k_renew_retry);
        }
        hold_changed(it);
    }
    for (const auto& name : lost) pump(name, out);
    for (const auto& name : handed_over) pump(name, out);
}

std::optional<SteadyTime> RootState::next_deadline() const { return m_deadlines.earliest(); }

std::map<pid_t, std::set<std::string>> RootState::blocker_pids() const {
    std::map<pid_t, std::set<std::string>> pids;
    for (const auto& name : m_blocked) {
        const Queue& queue = m_queues.at(name);
        if (queue.blocker_pid > 0) pids[queue.blocker_pid].insert(name);
    }
    // A detached hold whose guard still runs ends, at the latest, when the guard does.
    for (const auto& name : m_detached) {
        const Hold& hold = m_holds.at(name);
        if (!hold.kept_by_command && hold.record.pid > 0) pids[static_cast<pid_t>(hold.record.pid)].insert(name);
    }
    return pids;
}

bool RootState::indexes_consistent() const {
    std::size_t entries = 0;
    std::size_t waiters = 0;
    std::map<ConnectionId, std::set<std::string>> holds_of;
    std::map<ConnectionId, std::map<std::string, std::size_t>> waits_of;
    std::set<std::string> detached;
    std::set<std::string> blocked;
    for (const auto& [name, hold] : m_holds) {
        if (hold.scheduled != hold.due()) return false;
        if (hold.scheduled) {
            if (!m_deadlines.contains(*hold.scheduled, {DueItem::Kind::hold, name, 0})) return false;
            ++entries;
        }
        if (hold.guard && hold.connection != 0) holds_of[hold.connection].insert(name);
        if (hold.detached) detached.insert(name);
    }
    for (const auto& [name, queue] : m_queues) {
        if (queue.waiters.empty()) return false;
        if (queue.retry_at) {
            if (!m_deadlines.contains(*queue.retry_at, {DueItem::Kind::queue_retry, name, 0})) return false;
            ++entries;
        }
        for (const Waiter& waiter : queue.waiters) {
            if (waiter.ticket.spec.name != name) return false;
            if (!m_deadlines.contains(waiter.deadline, {DueItem::Kind::waiter_timeout, name, waiter.number})) return false;
            ++entries;
            ++waiters;
            ++waits_of[waiter.ticket.connection][name];
        }
        if (queue.blocker_pid > 0 || !queue.blocker_handle.empty()) blocked.insert(name);
    }
    return entries == m_deadlines.size() && waiters == m_waiter_total && holds_of == m_holds_of && waits_of == m_waits_of &&
           detached == m_detached && blocked == m_blocked;
}

}  // namespace lokt::daemon
