// See root_service.hpp.
#include "daemon/root_service.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/audit_log.hpp"
#include "daemon/log.hpp"

namespace lokt::daemon {
namespace {

// A blocker whose process cannot be watched is looked at again this often.
constexpr Nanoseconds k_unwatchable_retry = std::chrono::milliseconds(500);
// A holder that exited but still looks alive (a zombie its parent has not
// reaped yet) is looked at again this often until it is gone.
constexpr Nanoseconds k_exited_retry = std::chrono::milliseconds(100);
// An unfinished audit line longer than this is dropped: no line is that long.
constexpr std::size_t k_longest_audit_line = 64 * 1024;
// How much of audit.log one subscription reads per turn of the event loop.
constexpr std::size_t k_audit_bytes_per_turn = 64 * 1024;

}  // namespace

RootService::RootService(asio::io_context& io, FileEventHub& file_events, std::filesystem::path root, std::string host,
                         RootOutput output)
    : m_io(io),
      m_root(std::move(root)),
      m_output(std::move(output)),
      m_files(m_root,
              [this](std::function<void()> run) {
                  asio::post(m_io, [alive = std::weak_ptr<bool>(m_alive), run = std::move(run)] {
                      if (auto still = alive.lock(); still && *still) run();
                  });
              }),
      m_state(m_files, m_clock, std::move(host)),
      m_watcher(io, file_events, m_root,
                WatcherCallbacks{
                    [this](const std::string& name) {
                        Effects effects;
                        m_state.files_changed(name, effects);
                        settle(effects);
                    },
                    [this] {
                        Effects effects;
                        m_state.all_files_changed(effects);
                        settle(effects);
                        follow_audit();
                    },
                    [this] { follow_audit(); },
                    [this](pid_t pid) {
                        Effects effects;
                        const auto names = m_state.blocker_pids()[pid];
                        for (const auto& name : names) m_state.files_changed(name, effects);
                        settle(effects);
                    },
                    [this](pid_t pid) {
                        const auto names = m_state.blocker_pids()[pid];
                        for (const auto& name : names) m_state.retry_within(name, k_unwatchable_retry);
                        arm_timer();
                    },
                    [this](const std::string& token) {
                        Effects effects;
                        m_state.handle_released(token, effects);
                        settle(effects);
                    },
                }),
      m_timer(io.get_executor()) {
    if (m_output.still_connected) m_state.set_connection_check(m_output.still_connected);
}

void RootService::ensure_watching() {
    if (m_watcher.started()) return;
    if (auto started = m_watcher.start(); !started) {
        log::debug("root {}: not watched yet: {}", m_root.string(), started.error().message);
        return;
    }
    log::debug("root {}: watching", m_root.string());
}

void RootService::settle(Effects& effects) {
    if (!effects.empty() && m_output.effects) m_output.effects(effects);
    std::set<pid_t> pids;
    const auto blockers = m_state.blocker_pids();
    for (const auto& [pid, names] : blockers) pids.insert(pid);
    m_watcher.watch_processes(pids);
    for (const auto& [pid, names] : blockers) {
        if (!m_watcher.has_exited(pid)) continue;
        for (const auto& name : names) m_state.retry_within(name, k_exited_retry);
    }
    // A handle released before its watch began raised no event: look once more.
    for (auto& token : m_watcher.watch_handles(m_state.watched_handles())) {
        asio::post(m_io, [this, alive = m_alive, token = std::move(token)] {
            if (!*alive) return;
            Effects later;
            m_state.handle_released(token, later);
            settle(later);
        });
    }
    arm_timer();
    // Closed before this turn's replies go out: a client told "released" may
    // unmount or remount the filesystem at once.
    if (m_state.idle()) m_files.close_files();
    if (m_output.state_changed) m_output.state_changed();
}

void RootService::arm_timer() {
    const auto next = m_state.next_deadline();
    if (next == m_armed_for) return;
    // A timer armed earlier than needed may stay: it fires, finds nothing due
    // and is armed for the real deadline then. At every handoff the next
    // hold's renewal falls later than the last one's, and re-arming for it
    // each time would cost two system calls per grant; this costs at most one
    // early wake-up per renewal period. With nothing left to wait for, the
    // timer is disarmed, so an idle root never wakes the daemon.
    if (next && m_armed_for && *m_armed_for <= *next) return;
    m_armed_for = next;
    if (!next) {
        m_timer.cancel();
        return;
    }
    m_timer.expires_at(*next);
    auto alive = m_alive;
    m_timer.async_wait([this, alive](const asio::error_code& error) {
        if (!*alive || error) return;
        m_armed_for.reset();
        Effects effects;
        m_state.advance(effects);
        settle(effects);
    });
}

void RootService::acquire(AcquireTicket ticket) {
    Effects effects;
    m_state.acquire(std::move(ticket), effects);
    ensure_watching();
    settle(effects);
}

Result<void> RootService::release(const std::string& name, const std::string& lock_id, const Identity& actor,
                                  const ReleaseNote& note) {
    Effects effects;
    auto released = m_state.release(name, lock_id, actor, note, effects);
    settle(effects);
    return released;
}

Result<LockRecord> RootService::renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl,
                                      const Identity& actor) {
    auto renewed = m_state.renew(name, lock_id, ttl, actor);
    Effects effects;
    if (!renewed && renewed.error().code == ErrorCode::lost) m_state.files_changed(name, effects);
    settle(effects);
    return renewed;
}

void RootService::changed(const std::string& name, bool hold_removed) {
    if (hold_removed) m_state.forget_hold(name);
    Effects effects;
    m_state.files_changed(name, effects);
    settle(effects);
}

void RootService::close_if_idle() {
    if (m_state.idle()) m_files.close_files();
}

Result<LockRecord> RootService::unlock(const std::string& name, UnlockMode mode, const Identity& actor) {
    auto removed = m_files.unlock(name, mode, actor);
    if (!removed) {
        close_if_idle();
        return removed;
    }
    changed(name, true);
    return removed;
}

Result<UnlockManyResult> RootService::unlock_many(const std::optional<std::string>& owner, bool force, const Identity& actor) {
    auto done = owner ? m_files.unlock_many(*owner, force, actor) : m_files.unlock_many("", true, actor);
    if (!done) {
        close_if_idle();
        return done;
    }
    for (const auto& record : done->released) changed(record.name, true);
    if (done->released.empty()) close_if_idle();
    return done;
}

FreezeOutcome RootService::freeze(const std::string& name, Nanoseconds ttl, bool force, const Identity& actor) {
    FreezeOutcome outcome{m_files.freeze(name, ttl, force, actor), std::nullopt};
    if (outcome.frozen) {
        changed(name, false);
        return outcome;
    }
    if (outcome.frozen.error().code == ErrorCode::frozen) {
        // Name the freeze that stands in the way, as an acquire's refusal does.
        if (auto standing = m_files.live_freeze(name, actor); standing && *standing) outcome.standing = std::move(**standing);
    }
    close_if_idle();
    return outcome;
}

Result<LockRecord> RootService::unfreeze(const std::string& name, bool force, const Identity& actor) {
    auto removed = m_files.unfreeze(name, force, actor);
    if (!removed) {
        close_if_idle();
        return removed;
    }
    changed(name, false);
    return removed;
}

Result<StatusReport> RootService::status(const std::string& name, bool prune_expired, const Identity& actor) {
    auto report = read_status(name, prune_expired, actor);
    // A pruned hold is gone as after `unlock --break-stale`: its waiters are tried now.
    if (report) {
        for (const auto& record : report->pruned) changed(record.name, true);
    }
    if (!report || report->pruned.empty()) close_if_idle();
    return report;
}

Result<StatusReport> RootService::read_status(const std::string& name, bool prune_expired, const Identity& actor) {
    const auto mode = prune_expired ? LockStore::Mode::create : LockStore::Mode::read_only;
    StatusReport report;
    std::vector<LockView> views;
    if (!name.empty()) {
        LOKT_TRY_LET(view, m_files.inspect(name, actor, mode));
        if (view->freeze) report.freezes.push_back(*view->freeze);
        views.push_back(std::move(view.value()));
    } else {
        std::vector<LockView> seen;
        if (prune_expired) {
            LOKT_TRY_LET(all, m_files.list(false, actor, mode));
            seen = std::move(all.value());
        }
        LOKT_TRY_LET(listed, m_files.list(prune_expired, actor, mode));
        views = std::move(listed.value());
        for (auto& old : seen) {
            if (!is_stale(old.state) || old.stored.kind != StoredRecord::Kind::record) continue;
            const bool kept = std::any_of(views.begin(), views.end(), [&](const LockView& v) { return v.name == old.name; });
            if (!kept) report.pruned.push_back(std::move(old.stored.record));
        }
        LOKT_TRY_LET(freezes, m_files.list_freezes(actor, mode));
        for (auto& freeze : *freezes) report.freezes.push_back(std::move(freeze.record));
    }
    for (auto& view : views) {
        if (view.stored.kind != StoredRecord::Kind::record) continue;
        report.locks.push_back(StatusReport::Lock{std::move(view.stored.record), view.state, m_state.waiters_for(view.name)});
    }
    // Who waits, for the name asked about or for every name (a frozen or
    // unheld name may have waiters too).
    const std::vector<std::string> names = name.empty() ? m_state.queued_names() : std::vector<std::string>{name};
    for (const auto& queued_name : names) {
        for (auto& queued : m_state.queue_of(queued_name)) report.waiting.push_back({queued_name, std::move(queued)});
    }
    return report;
}

void RootService::connection_closed(ConnectionId connection, bool keep_holds) {
    auto first = m_subscriptions.lower_bound({connection, 0});
    const bool subscribed = first != m_subscriptions.end() && first->first.first == connection;
    if (!subscribed && !m_state.has_connection(connection)) return;  // nothing here was the connection's
    Effects effects;
    m_state.connection_closed(connection, keep_holds, effects);
    for (auto it = m_subscriptions.begin(); it != m_subscriptions.end();) {
        it = it->first.first == connection ? m_subscriptions.erase(it) : std::next(it);
    }
    if (m_subscriptions.empty()) m_watcher.watch_audit(false);
    settle(effects);
}

Result<void> RootService::subscribe(ConnectionId connection, std::uint64_t id, std::optional<WallTime> since, std::string name) {
    if (m_subscriptions.count({connection, id}) != 0) {
        return make_error(ErrorCode::usage, "subscription " + std::to_string(id) + " is already open on this connection");
    }
    ensure_watching();
    Subscription subscription{AuditQuery{std::nullopt, std::move(name)}, AuditFollower(m_root, k_longest_audit_line), since, 0};
    if (since) {
        subscription.history_end = subscription.follower.start_at_time(*since);
    } else {
        subscription.follower.start_at_end();
    }
    m_subscriptions.emplace(SubscriptionKey{connection, id}, std::move(subscription));
    m_watcher.watch_audit(true);
    if (m_output.state_changed) m_output.state_changed();
    return {};
}

bool RootService::unsubscribe(ConnectionId connection, std::uint64_t id) {
    const bool removed = m_subscriptions.erase({connection, id}) != 0;
    if (m_subscriptions.empty()) m_watcher.watch_audit(false);
    if (m_output.state_changed) m_output.state_changed();
    return removed;
}

void RootService::follow_audit() {
    if (m_subscriptions.empty()) return;
    std::vector<AuditLine> lines;
    bool more = false;
    for (auto& [key, subscription] : m_subscriptions) {
        if (m_output.congested && m_output.congested(key.first)) continue;  // resume_audit() goes on
        AuditQuery query = subscription.filter;
        if (subscription.since && subscription.follower.offset() < subscription.history_end) query.since = subscription.since;
        more = subscription.follower.read_new(
                   query,
                   [&](std::string_view line, const lokt::AuditEvent&) {
                       lines.push_back(AuditLine{key.first, key.second, std::string(line)});
                   },
                   k_audit_bytes_per_turn) ||
               more;
    }
    if (!lines.empty() && m_output.audit_lines) m_output.audit_lines(lines);
    if (more && !m_follow_posted) {
        m_follow_posted = true;
        asio::post(m_io, [this, alive = std::weak_ptr<bool>(m_alive)] {
            if (auto still = alive.lock(); !still || !*still) return;
            m_follow_posted = false;
            follow_audit();
        });
    }
}

void RootService::resume_audit(ConnectionId connection) {
    auto first = m_subscriptions.lower_bound({connection, 0});
    if (first != m_subscriptions.end() && first->first.first == connection) follow_audit();
}

}  // namespace lokt::daemon
