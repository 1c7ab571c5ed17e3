// See file_backend.hpp: acquiring with --wait without a daemon, renewing a
// lease, and the root's audit log.
#include "client/file_backend.hpp"

#include "client/audit_log_tail.hpp"
#include "client/file_audit_follow.hpp"
#include "client/file_change_feed.hpp"
#include "client/file_wait_records.hpp"
#include "common/hold_deadline.hpp"

#include <algorithm>

namespace lokt::client {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Even with events we look again this often, in case a change was invisible to
// inotify (another filesystem, another host's holder).
constexpr milliseconds k_recheck_interval{1000};

milliseconds until_wall(WallTime when) {
    const auto left = when - wall_now();
    return std::max(milliseconds(1), std::chrono::ceil<milliseconds>(left));
}

// The engine's answer, with the file it wrote kept for renew and release.
Acquired acquired_of(AcquireResult result) {
    Acquired acquired;
    acquired.outcome = result.outcome;
    acquired.lease.record = std::move(result.record);
    acquired.lease.file = WrittenFile::of(result.file);  // known for a new lock file only
    acquired.refusal = std::move(result.refusal);
    return acquired;
}

}  // namespace

Result<Acquired> FileBackend::acquire(const AcquireSpec& asked, const WaitOptions& wait, const WaitObserver& observer) {
    AcquireSpec spec = asked;
    if (spec.shared) {
        // No queue on the files: a shared request gives way to the exclusive
        // waiters whose wait began before it did (their side files in waits/).
        spec.exclusive_ahead = [root = m_engine.store().root(), name = spec.name, since = wall_now()] {
            return exclusive_waiter_ahead(root, name, since);
        };
    }
    if (!wait.wait) {
        LOKT_TRY_LET(result, m_engine.try_acquire(spec));
        return acquired_of(std::move(result.value()));
    }

    // Watch before the first attempt so a release between attempt and sleep is not missed.
    m_watcher = std::make_unique<ReleaseWatcher>(m_engine.store().root(), spec.name, spec.slots.has_value());
    ReleaseWatcher& watcher = *m_watcher;
    const auto started = Clock::now();
    const auto deadline = started + wait.timeout;
    AcquireSpec attempt = spec;
    attempt.waiting = true;  // its `deny` line says it queues
    // Look before creating: waiting behind a holder needs no write, so a
    // full disk does not stop a waiter from waiting its turn.
    attempt.look_first = true;
    // One `deny` per wait, not one per look: written after the first look,
    // once the wait is known not to close a cycle.
    attempt.audit_denial = false;
    bool first_look = true;
    std::optional<WaitRecord> wait_record;  // this wait, for other waiters' deadlock checks
    for (;;) {
        auto result = m_engine.try_acquire(attempt);
        if (!result) return result.take_error();
        if (result->granted()) return acquired_of(std::move(result.value()));
        attempt.look_first = true;  // while someone holds it, do not even try to create
        if (first_look) {
            first_look = false;
            Refusal& first = result->refusal;
            if (auto cycle = closes_wait_cycle(spec, first, wait_record)) {
                first.code = ErrorCode::deadlock;
                first.message = deadlock_message(*cycle, wall_now());
                first.cycle = std::move(*cycle);
                if (spec.audit_denial) m_engine.record_denial(spec.name, first, false);
                return acquired_of(std::move(result.value()));
            }
            if (spec.audit_denial) m_engine.record_denial(spec.name, first, true);
        }

        const Refusal& refusal = result->refusal;
        const auto now = Clock::now();
        if (now >= deadline) {
            Acquired timed_out = acquired_of(std::move(result.value()));
            timed_out.refusal.code = ErrorCode::timeout;
            timed_out.refusal.message =
                "timed out after " + format_duration(wait.timeout) + " waiting: " + timed_out.refusal.message;
            return timed_out;
        }
        if (observer) observer(WaitProgress{refusal, now - started, std::nullopt});

        milliseconds sleep = std::chrono::ceil<milliseconds>(deadline - now);
        sleep = std::min(sleep, k_recheck_interval);
        if (refusal.holder) {
            const LockRecord& holder = *refusal.holder;
            if (refusal.kept_by_command) {
                // Its guard is gone: the hold ends when the command's last
                // process lets go of the handle, whatever its expiry says.
                if (watcher.watch_handle(holder.handle)) continue;  // look once more now that it is watched
            } else {
                if (auto expiry = local_expiry(holder, wall_now())) sleep = std::min(sleep, until_wall(*expiry));
                if (holder.host == m_engine.actor().host && holder.bound_to != Binding::ttl) {
                    watcher.watch_process(static_cast<pid_t>(holder.pid));
                }
            }
        }
        if (refusal.freeze) {
            if (auto expiry = local_expiry(*refusal.freeze, wall_now())) sleep = std::min(sleep, until_wall(*expiry));
        }
        watcher.wait(sleep);
    }
}

std::optional<std::vector<WaitEdge>> FileBackend::closes_wait_cycle(const AcquireSpec& spec, const Refusal& refusal,
                                                                    std::optional<WaitRecord>& record) {
    const auto waiter = wait_agent_of(spec.holder, spec.binding);
    const WallTime now = wall_now();
    if (!waiter) {
        // Not an agent, so no deadlock report; it still says that it waits:
        // an exclusive waiter so that later shared requests do not overtake
        // it, and either for `status NAME` and `why NAME` (waiters_on_disk).
        const std::string who =
            owner_at_host(spec.holder.owner, spec.holder.host) + " (pid " + std::to_string(spec.holder.pid) + ")";
        if (auto written =
                WaitRecord::write(m_engine.store().root(), WaitAgent{}, spec.name, now, spec.shared, who, &spec.holder)) {
            record.emplace(std::move(*written));
        }
        return std::nullopt;
    }
    // Our own wait goes on disk first: of two waiters that close a cycle at
    // the same moment, at least one sees the other.
    const std::string who = owner_at_host(spec.holder.owner, spec.holder.host) + " (pid " + std::to_string(spec.holder.pid) + ")";
    if (auto written = WaitRecord::write(m_engine.store().root(), *waiter, spec.name, now, spec.shared, who, &spec.holder)) {
        record.emplace(std::move(*written));
    }
    if (!refusal.holder) return std::nullopt;
    for (const LockRecord* hold : holds_waited_for(*refusal.holder)) {
        const auto holder = holding_agent_of(*hold);
        if (!holder) continue;
        if (auto cycle = file_wait_cycle(m_engine, WaitEdge{*waiter, spec.name, *holder, hold->acquired, std::nullopt})) {
            return cycle;
        }
    }
    return std::nullopt;
}

Result<void> FileBackend::renew(Lease& lease, Nanoseconds ttl) {
    WrittenFile written;
    LOKT_TRY_LET(renewed, m_engine.renew(lease.name(), lease.lock_id(), ttl, &written));
    lease.record = std::move(renewed.value());
    lease.file = written;
    return {};
}

Result<std::unique_ptr<ChangeFeed>> FileBackend::watch_changes() {
    return std::unique_ptr<ChangeFeed>(std::make_unique<FileChangeFeed>(m_engine.store().root()));
}

std::vector<AuditEvent> FileBackend::latest_audit_events(std::size_t count) {
    return client::latest_audit_events(m_engine.store().root() / "audit.log", count);
}

Result<std::optional<WallTime>> FileBackend::audit_time_of_last(const AuditQuery& query, std::size_t count) {
    return time_of_last_audit_lines(m_engine.store().root() / "audit.log", query, count);
}

Result<void> FileBackend::follow_audit(const AuditQuery& query, const AuditPrinter& print) {
    return follow_audit_file(m_engine.store().root(), query, print);
}

}  // namespace lokt::client
