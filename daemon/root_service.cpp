// See root_service.hpp.
#include "root_service.hpp"

#include "log.hpp"

namespace lokt::daemon {
namespace {

// A blocker whose process cannot be watched is looked at again this often.
constexpr Nanoseconds k_unwatchable_retry = std::chrono::milliseconds(500);
// A holder that exited but still looks alive (a zombie its parent has not
// reaped yet) is looked at again this often until it is gone.
constexpr Nanoseconds k_exited_retry = std::chrono::milliseconds(100);
// An unfinished audit line longer than this is dropped: no line is that long.
constexpr std::size_t k_longest_audit_line = 64 * 1024;

}  // namespace

RootService::RootService(asio::io_context& io, std::filesystem::path root, std::string host, RootOutput output)
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
      m_watcher(io, m_root,
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
      m_timer(io.get_executor()) {}

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

Result<std::vector<AuditLine>> RootService::subscribe(ConnectionId connection, std::uint64_t id, std::optional<WallTime> since,
                                                      std::string name) {
    if (m_subscriptions.count({connection, id}) != 0) {
        return make_error(ErrorCode::usage, "subscription " + std::to_string(id) + " is already open on this connection");
    }
    ensure_watching();
    Subscription subscription{AuditQuery{std::nullopt, std::move(name)}, AuditFollower(m_root, k_longest_audit_line)};
    std::vector<AuditLine> lines;
    if (since) {
        AuditQuery query{since, subscription.filter.name};
        LOKT_TRY(subscription.follower.start_with_history(query, [&](std::string_view line, const lokt::AuditEvent&) {
            lines.push_back(AuditLine{connection, id, std::string(line)});
        }));
    } else {
        subscription.follower.start_at_end();
    }
    m_subscriptions.emplace(SubscriptionKey{connection, id}, std::move(subscription));
    m_watcher.watch_audit(true);
    if (m_output.state_changed) m_output.state_changed();
    return lines;
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
    for (auto& [key, subscription] : m_subscriptions) {
        subscription.follower.read_new(subscription.filter, [&](std::string_view line, const lokt::AuditEvent&) {
            lines.push_back(AuditLine{key.first, key.second, std::string(line)});
        });
    }
    if (!lines.empty() && m_output.audit_lines) m_output.audit_lines(lines);
}

}  // namespace lokt::daemon
