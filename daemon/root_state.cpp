// See root_state.hpp.
#include "root_state.hpp"

#include <algorithm>

namespace lokt::daemon {
namespace {

// How soon to look again at a lock file another tool is still writing.
constexpr Nanoseconds k_being_written_retry = k_empty_file_grace;
// How soon to retry a guard renewal that failed for a reason other than loss.
constexpr Nanoseconds k_renew_retry = std::chrono::seconds(1);

void earliest(std::optional<SteadyTime>& current, SteadyTime candidate) {
    if (!current || candidate < *current) current = candidate;
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

std::size_t RootState::waiter_count() const {
    std::size_t total = 0;
    for (const auto& [name, queue] : m_queues) total += queue.waiters.size();
    return total;
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
        out.push_back({out.size() + 1, waiter.ticket.spec.holder, std::max(Nanoseconds(0), Nanoseconds(now - started))});
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
    if (it == m_holds.end() || it->second.lock_id() != lock_id) return std::nullopt;
    return it->second.actor();
}

Identity RootState::Hold::actor() const { return other_actor ? *other_actor : holder_identity(record); }

void RootState::Hold::set_actor(const Identity& actor) {
    if (actor == holder_identity(record)) other_actor.reset();
    else other_actor = std::make_unique<Identity>(actor);
}

void RootState::note_granted(const AcquireTicket& ticket, const AcquireResult& result) {
    if (result.outcome == AcquireResult::Outcome::nested) return;  // the outer hold is unchanged
    const std::string& name = ticket.spec.name;
    if (ticket.spec.binding == Binding::guard) {
        Hold hold;
        hold.connection = ticket.connection;
        hold.record = result.record;
        hold.set_actor(ticket.actor);
        hold.ttl = ticket.spec.ttl;
        hold.renewed = m_clock.steady_now();
        hold.guard = true;
        hold.file = WrittenFile::of(result.file);
        m_holds[name] = std::move(hold);
    } else if (ticket.spec.binding == Binding::ttl && result.record.expiry()) {
        // The file names the daemon's pid; keep it in mind until it lapses.
        Hold hold;
        hold.record = result.record;
        hold.set_actor(ticket.actor);
        hold.ttl = ticket.spec.ttl;
        hold.expires = steady_at(*result.record.expiry());
        hold.file = WrittenFile::of(result.file);
        m_holds[name] = std::move(hold);
    } else {
        m_holds.erase(name);  // bound to a process: its pid is in the file for everyone to judge
    }
}

void RootState::note_blocker(const std::string& name, Queue& queue, const Refusal& refusal) {
    queue.retry_at.reset();
    queue.blocker_pid = 0;
    queue.blocker_handle.clear();
    const SteadyTime now = m_clock.steady_now();
    if (refusal.freeze) {
        if (auto expiry = refusal.freeze->expiry()) earliest(queue.retry_at, steady_at(*expiry));
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
                if (auto expiry = holder.expiry()) earliest(queue.retry_at, steady_at(*expiry));
                if (holder.host == m_host && holder.pid > 0 && holder.bound_to != Binding::ttl) {
                    queue.blocker_pid = static_cast<pid_t>(holder.pid);
                }
            }
        }
    } else if (refusal.code == ErrorCode::held && !refusal.freeze) {
        earliest(queue.retry_at, now + std::chrono::duration_cast<SteadyTime::duration>(k_being_written_retry));
    }
}

void RootState::report_positions(const std::string& name, const Queue& queue, Effects& out, std::size_t from) const {
    (void)name;
    for (std::size_t i = from; i < queue.waiters.size(); ++i) {
        const Waiter& waiter = queue.waiters[i];
        if (!waiter.ticket.progress) continue;
        out.progress.push_back(ProgressNote{waiter.ticket.connection, waiter.ticket.request_id, i + 1,
                                            queue.waiters.size(), queue.waiters.front().refusal});
    }
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
    if (joins_without_trying(ticket)) {
        // Others already wait for this name: first come, first served, so the
        // newcomer queues behind them for the reason they wait, without
        // reading the files again (the head is retried whenever they change).
        refusal = m_queues[ticket.spec.name].waiters.front().refusal;
        m_files.record_denial(ticket.spec, refusal, ticket.actor);
    } else {
        ticket.spec.audit_denial = true;  // one `deny` when a waiter starts waiting
        auto tried = m_files.try_acquire(ticket.spec, ticket.actor);
        if (!tried || tried->granted() || !ticket.wait) {
            if (tried && tried->granted()) note_granted(ticket, *tried);
            out.answers.push_back(AcquireAnswer{ticket.connection, ticket.request_id, std::move(tried)});
            return;
        }
        refusal = std::move(tried->refusal);
    }
    Queue& queue = m_queues[ticket.spec.name];
    Waiter waiter;
    waiter.deadline = m_clock.steady_now() + std::chrono::duration_cast<SteadyTime::duration>(ticket.timeout);
    waiter.refusal = std::move(refusal);
    waiter.ticket = std::move(ticket);
    waiter.ticket.spec.audit_denial = false;
    queue.waiters.push_back(std::move(waiter));
    if (queue.waiters.size() == 1) note_blocker(queue.waiters.front().ticket.spec.name, queue, queue.waiters.front().refusal);
    report_positions(queue.waiters.back().ticket.spec.name, queue, out, queue.waiters.size() - 1);
}

void RootState::pump(const std::string& name, Effects& out) {
    auto it = m_queues.find(name);
    if (it == m_queues.end()) return;
    Queue& queue = it->second;
    bool moved = false;
    while (!queue.waiters.empty()) {
        Waiter& head = queue.waiters.front();
        auto tried = m_files.try_acquire(head.ticket.spec, head.ticket.actor);
        if (tried && !tried->granted()) {
            head.refusal = tried->refusal;
            note_blocker(name, queue, head.refusal);
            break;
        }
        const bool granted = tried && tried->granted();
        const bool nested = granted && tried->outcome == AcquireResult::Outcome::nested;
        Refusal next_blocker;
        if (granted) {
            note_granted(head.ticket, *tried);
            next_blocker.code = ErrorCode::held;
            next_blocker.holder = tried->record;
            next_blocker.message = "lock \"" + name + "\" held by " + describe_holder(tried->record, m_clock.wall_now());
        }
        out.answers.push_back(AcquireAnswer{head.ticket.connection, head.ticket.request_id, std::move(tried)});
        queue.waiters.pop_front();
        moved = true;
        if (granted && !nested) {
            if (!queue.waiters.empty()) {
                queue.waiters.front().refusal = next_blocker;
                note_blocker(name, queue, next_blocker);
            }
            break;
        }
    }
    if (queue.waiters.empty()) {
        m_queues.erase(it);
        return;
    }
    if (moved) report_positions(name, queue, out, 0);
}

Result<void> RootState::release(const std::string& name, const std::string& lock_id, const Identity& actor,
                                ReleaseNote note, Effects& out) {
    auto held = m_holds.find(name);
    const bool ours = held != m_holds.end() && held->second.lock_id() == lock_id;
    if (ours) note.acquired = held->second.record.acquired;
    auto released = m_files.release(name, lock_id, actor, ours ? held->second.file : WrittenFile{}, note);
    if (ours) m_holds.erase(held);
    pump(name, out);
    return released;
}

Result<LockRecord> RootState::renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl,
                                    const Identity& actor) {
    auto held = m_holds.find(name);
    const bool tracked = held != m_holds.end() && held->second.lock_id() == lock_id;
    const SteadyTime now = m_clock.steady_now();
    if (tracked && held->second.guard && held->second.ttl == ttl && now - held->second.renewed < ttl / 4) {
        return held->second.record;  // renewed by us a moment ago
    }
    auto renewed = m_files.renew(name, lock_id, ttl, actor);
    if (!tracked) return renewed;
    if (renewed) {
        held->second.record = *renewed;
        held->second.file = {};  // rewritten: no longer the file we know
        held->second.ttl = ttl;
        held->second.renewed = now;
        if (!held->second.guard) {
            if (auto expiry = renewed->expiry()) held->second.expires = steady_at(*expiry);
        }
    } else if (renewed.error().code == ErrorCode::lost) {
        m_holds.erase(held);
    }
    return renewed;
}

void RootState::files_changed(const std::string& name, Effects& out) {
    if (auto held = m_holds.find(name); held != m_holds.end() && held->second.detached) {
        check_detached(name, out);
        return;
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

void RootState::forget_hold(const std::string& name) { m_holds.erase(name); }

void RootState::retry_within(const std::string& name, Nanoseconds after) {
    auto it = m_queues.find(name);
    if (it == m_queues.end()) return;
    earliest(it->second.retry_at, m_clock.steady_now() + std::chrono::duration_cast<SteadyTime::duration>(after));
}

void RootState::connection_closed(ConnectionId connection, bool keep_holds, Effects& out) {
    for (auto it = m_queues.begin(); it != m_queues.end();) {
        auto& waiters = it->second.waiters;
        const std::size_t before = waiters.size();
        waiters.erase(std::remove_if(waiters.begin(), waiters.end(),
                                     [&](const Waiter& w) { return w.ticket.connection == connection; }),
                      waiters.end());
        if (waiters.empty()) {
            it = m_queues.erase(it);
            continue;
        }
        if (waiters.size() != before) report_positions(it->first, it->second, out, 0);
        ++it;
    }
    // The map's nodes are taken out whole: a connection may hold thousands.
    std::vector<decltype(m_holds)::node_type> ended;
    for (auto it = m_holds.begin(); it != m_holds.end();) {
        if (it->second.guard && it->second.connection == connection) {
            ended.push_back(m_holds.extract(it++));
        } else {
            ++it;
        }
    }
    if (keep_holds) return;
    for (auto& node : ended) {
        // Whether the guard is gone is for the files to say: its command may
        // still run on its liveness handle, or the guard may carry on without
        // us (it gave up on a daemon that did not answer in time).
        const std::string name = node.key();
        node.mapped().connection = 0;
        node.mapped().detached = true;
        m_holds.insert(std::move(node));
        check_detached(name, out);
    }
}

void RootState::check_detached(const std::string& name, Effects& out) {
    auto held = m_holds.find(name);
    if (held == m_holds.end() || !held->second.detached) return;
    Hold& hold = held->second;
    auto checked = m_files.end_if_stale(name, hold.lock_id(), hold.actor());
    if (checked && checked->state == HoldState::live) {
        hold.kept_by_command = checked->kept_by_command;
        return;  // watched: its guard's pid, or its handle (see blocker_pids, watched_handles)
    }
    // Ended (broken as stale now), gone, or unreadable: the queue looks for itself.
    m_holds.erase(held);
    pump(name, out);
}

void RootState::handle_released(const std::string& token, Effects& out) {
    for (const auto& name : names_of_handle(token)) files_changed(name, out);
}

std::vector<std::string> RootState::names_of_handle(const std::string& token) const {
    std::vector<std::string> names;
    for (const auto& [name, hold] : m_holds) {
        if (hold.detached && hold.record.handle == token) names.push_back(name);
    }
    for (const auto& [name, queue] : m_queues) {
        if (queue.blocker_handle == token) names.push_back(name);
    }
    return names;
}

std::set<std::string> RootState::watched_handles() const {
    std::set<std::string> tokens;
    for (const auto& [name, hold] : m_holds) {
        if (hold.detached && hold.kept_by_command) tokens.insert(hold.record.handle);
    }
    for (const auto& [name, queue] : m_queues) {
        if (!queue.blocker_handle.empty()) tokens.insert(queue.blocker_handle);
    }
    return tokens;
}

void RootState::advance(Effects& out) {
    const SteadyTime now = m_clock.steady_now();

    // Waiters whose time is up: one last look, then the timeout answer.
    for (auto it = m_queues.begin(); it != m_queues.end();) {
        const std::string name = it->first;
        auto& waiters = it->second.waiters;
        bool removed = false;
        for (auto w = waiters.begin(); w != waiters.end();) {
            if (w->deadline > now) {
                ++w;
                continue;
            }
            auto tried = m_files.try_acquire(w->ticket.spec, w->ticket.actor);
            if (tried && tried->granted()) {
                note_granted(w->ticket, *tried);
            } else if (tried) {
                tried->refusal = timeout_refusal(tried->refusal, w->ticket.timeout);
            }
            out.answers.push_back(AcquireAnswer{w->ticket.connection, w->ticket.request_id, std::move(tried)});
            w = waiters.erase(w);
            removed = true;
        }
        if (waiters.empty()) {
            it = m_queues.erase(it);
            continue;
        }
        if (removed) report_positions(name, it->second, out, 0);
        ++it;
    }

    // Retries: a blocker's TTL or a freeze lapsed, or a file was being written.
    std::vector<std::string> due;
    for (auto& [name, queue] : m_queues) {
        if (queue.retry_at && *queue.retry_at <= now) {
            queue.retry_at.reset();
            due.push_back(name);
        }
    }
    for (const auto& name : due) pump(name, out);

    // Guard holds renewed every TTL/2 while their connection is open; manual
    // TTL holds forgotten when they lapse.
    std::vector<std::string> lost;
    for (auto it = m_holds.begin(); it != m_holds.end();) {
        Hold& hold = it->second;
        if (!hold.guard) {
            if (hold.expires && *hold.expires <= now) {
                lost.push_back(it->first);
                it = m_holds.erase(it);
                continue;
            }
            ++it;
            continue;
        }
        // A detached hold is renewed only while its command carries it: a
        // guard that still runs renews it itself.
        const bool ours_to_renew = !hold.detached || hold.kept_by_command;
        if (hold.ttl && ours_to_renew && now >= hold.renewed + *hold.ttl / 2) {
            auto renewed = m_files.renew(it->first, hold.lock_id(), *hold.ttl, hold.actor());
            if (renewed) {
                hold.record = *renewed;
                hold.file = {};  // rewritten: no longer the file we know
                hold.renewed = now;
            } else if (renewed.error().code == ErrorCode::lost) {
                lost.push_back(it->first);
                it = m_holds.erase(it);
                continue;
            } else {
                hold.renewed = now - std::chrono::duration_cast<SteadyTime::duration>(*hold.ttl / 2) +
                               std::chrono::duration_cast<SteadyTime::duration>(k_renew_retry);
            }
        }
        ++it;
    }
    for (const auto& name : lost) pump(name, out);
}

std::optional<SteadyTime> RootState::next_deadline() const {
    std::optional<SteadyTime> next;
    for (const auto& [name, queue] : m_queues) {
        if (queue.retry_at) earliest(next, *queue.retry_at);
        for (const auto& waiter : queue.waiters) earliest(next, waiter.deadline);
    }
    for (const auto& [name, hold] : m_holds) {
        if (hold.guard && hold.ttl && (!hold.detached || hold.kept_by_command)) {
            earliest(next, hold.renewed + std::chrono::duration_cast<SteadyTime::duration>(*hold.ttl / 2));
        }
        if (hold.expires) earliest(next, *hold.expires);
    }
    return next;
}

std::map<pid_t, std::set<std::string>> RootState::blocker_pids() const {
    std::map<pid_t, std::set<std::string>> pids;
    for (const auto& [name, queue] : m_queues) {
        if (queue.blocker_pid > 0) pids[queue.blocker_pid].insert(name);
    }
    // A detached hold whose guard still runs ends, at the latest, when the guard does.
    for (const auto& [name, hold] : m_holds) {
        if (hold.detached && !hold.kept_by_command && hold.record.pid > 0) {
            pids[static_cast<pid_t>(hold.record.pid)].insert(name);
        }
    }
    return pids;
}

}  // namespace lokt::daemon
