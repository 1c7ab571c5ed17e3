// The one choke point every request goes through: decode, validate (hello
// first, names, peer), run on the right root, turn every failure (including an
// exception) into an error reply, and log the request. Sessions, roots and
// replies meet here and nowhere else.
#pragma once

#include <unistd.h>

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "daemon/busy_retries.hpp"
#include "daemon/etcd_lease_keeper.hpp"
#include "daemon/first_line_deadlines.hpp"
#include "daemon/root_service.hpp"
#include "daemon/session.hpp"
#include "protocol/messages.hpp"

namespace lokt::daemon {

class Dispatcher final : public SessionHost {
public:
    // request_stop is called (once, from the loop) when a client asks for shutdown.
    Dispatcher(asio::io_context& io, std::function<void()> request_stop);

    // Registers a new connection, whose peer the server read at accept
    // (nullopt: unreadable); the session then starts itself.
    std::shared_ptr<Session> add_session(Session::Socket socket, const std::optional<platform::PeerCredentials>& peer);

    void on_first_line(Session& session) override;
    void on_line(Session& session, std::string line) override;
    void on_closed(Session& session) override;
    void on_drained(Session& session) override;

    // Shutdown: every connection closes, every hold stays valid on disk.
    void close_all();
    // Nothing connected, held, queued or subscribed.
    bool idle() const;
    std::size_t connection_count() const { return m_sessions.size(); }
    // Connections open from one process (its pid as the kernel gave it at connect).
    std::size_t connections_of(pid_t pid) const;
    // At the connection limit: closes the connection that has been silent
    // longest (it sent no request yet), so that one that speaks gets its
    // place. False when every connection has spoken.
    bool make_room();
    // Called whenever idle() may have changed.
    void set_state_observer(std::function<void()> observer) { m_state_observer = std::move(observer); }

private:
    // One request line; `busy_since` when it was set aside before (see busy_retries.hpp).
    void run_line(Session& session, const std::string& line, std::optional<BusyRetries::Clock::time_point> busy_since,
                  unsigned attempt);
    // Runs one decoded request; nullopt when the answer comes later (a waiting acquire).
    std::optional<protocol::Reply> handle(Session& session, const protocol::Request& request);
    RootService& root_service(const std::string& root);
    // A root may have nothing left: look once this turn of the loop is over.
    void prune_later(const std::string& root);
    // Drops the roots that have nothing left (no hold, waiter or subscription),
    // with their watches, timer and files; the next request opens them afresh.
    void prune_idle_roots();
    RootService* existing_root(const std::string& root);
    void deliver(Effects& effects);
    void deliver_audit(std::vector<AuditLine>& lines);
    void send_to(ConnectionId connection, std::string line);
    void state_changed();
    // The connection is open and its client has not closed its end.
    bool client_still_there(ConnectionId connection) const;

    protocol::Reply on_hello(Session& session, std::uint64_t id, const protocol::HelloRequest& hello);
    std::optional<protocol::Reply> on_acquire(Session& session, std::uint64_t id, const protocol::AcquireRequest& request);
    protocol::Reply on_release(std::uint64_t id, const protocol::ReleaseRequest& request);
    protocol::Reply on_renew(std::uint64_t id, const protocol::RenewRequest& request);
    protocol::Reply on_unlock(std::uint64_t id, const protocol::UnlockRequest& request);
    protocol::Reply on_unlock_many(std::uint64_t id, const protocol::UnlockManyRequest& request);
    protocol::Reply on_status(std::uint64_t id, const protocol::StatusRequest& request);
    protocol::Reply on_freeze(std::uint64_t id, const protocol::FreezeRequest& request);
    protocol::Reply on_unfreeze(std::uint64_t id, const protocol::UnfreezeRequest& request);
    std::optional<protocol::Reply> on_subscribe(Session& session, std::uint64_t id,
                                                const protocol::SubscribeAuditRequest& request);
    protocol::Reply on_unsubscribe(Session& session, std::uint64_t id, const protocol::UnsubscribeRequest& request);
    protocol::Reply on_daemon_status(std::uint64_t id);
    // Answered once the keeper has a lease (its etcd calls run off the loop).
    std::optional<protocol::Reply> on_etcd_hold(Session& session, std::uint64_t id, const protocol::EtcdHoldRequest& request);
    // Who ends or renews a hold: the requester as it names itself, else (an
    // older client) the hold's guard as it asked for it, else nobody known.
    Identity actor_for(const std::string& root, const std::string& name, const std::string& lock_id,
                       const std::optional<Identity>& requester);

    asio::io_context& m_io;
    std::function<void()> m_request_stop;
    std::function<void()> m_state_observer;
    std::string m_host;
    const uid_t m_uid = ::geteuid();  // the only user served
    const pid_t m_pid = ::getpid();   // named in hello and daemon_status replies
    std::chrono::steady_clock::time_point m_started;
    ConnectionId m_next_connection = 1;
    std::map<ConnectionId, std::shared_ptr<Session>> m_sessions;
    std::map<pid_t, std::size_t> m_per_process;
    FirstLineDeadlines<Session> m_first_lines;
    FileEventHub m_file_events;  // before the roots: each root's watcher uses it until the end
    std::map<std::string, std::unique_ptr<RootService>> m_roots;
    std::set<std::string> m_prune_candidates;
    BusyRetries m_busy_retries;
    // The request being run, while it runs: an acquire answered "busy" (a
    // name's mutex was held) is set aside rather than answered.
    struct Running {
        ConnectionId connection = 0;
        std::uint64_t id = 0;
        std::optional<Error> busy;
    };
    std::optional<Running> m_running;
    // An engine error on its way into a reply: remembered when it is busy.
    const Error& noted(const Error& error);
    // etcd sessions (one per cluster, namespace and TTL), and the queue keys
    // each connection's guards hold through them.
    std::map<std::string, std::unique_ptr<EtcdLeaseKeeper>> m_etcd;
    std::map<ConnectionId, std::vector<std::pair<EtcdLeaseKeeper*, std::string>>> m_etcd_holds;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);  // for the posted prune
    bool m_stopping = false;
};

}  // namespace lokt::daemon
