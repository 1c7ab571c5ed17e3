// The backend that asks loktd: a plain blocking Unix socket speaking the line
// protocol (docs/protocol.md). Operations that change locks go to the daemon,
// which runs the same engine with our identity; reads go straight to the files,
// which are the truth either way. The daemon renews a guard's hold while the
// guard's connection is open. If the daemon goes away mid-command, the
// command carries on with the files: a guard keeps its lock (the file still
// names its pid), renews and releases it itself.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>

#include "client/backend.hpp"
#include "client/file_backend.hpp"
#include "common/unique_fd.hpp"
#include "protocol/line_framer.hpp"
#include "protocol/messages.hpp"

namespace lokt::client {

using Millis = std::chrono::milliseconds;

// One connection to loktd.
//
// connect() prepares hello, which goes out in one write with the first
// request, and its reply is read with that request's: one round trip instead
// of two (the daemon answers a connection's lines in order). Only a request whose effect ends with the connection may go out
// before the hello is answered: see call_before_hello().
// Asks the daemon for progress lines on every connection opened from now on,
// whether or not stderr is a terminal: `lokt mcp` passes a waiter's queue
// position on to its client.
void request_daemon_progress();

class DaemonConnection {
public:
    // Connects and prepares hello; its reply must come within the timeout.
    // Errors here: ErrorCode::unavailable (nobody answers) or ErrorCode::io (an
    // unsafe socket directory).
    static Result<DaemonConnection> connect(const std::filesystem::path& socket, Millis timeout);
    // connect() and finish_hello(): a connection the daemon has accepted.
    static Result<DaemonConnection> open(const std::filesystem::path& socket, Millis timeout);
    // Reads the hello's reply if it is still due. Errors: ErrorCode::unavailable
    // (no answer in time), ErrorCode::unsupported (no common protocol version);
    // the connection is then closed.
    Result<void> finish_hello();
    // The hello was answered with an error or not in time.
    bool hello_failed() const { return m_hello_failed; }
    // ... because nothing came before the deadline: something accepted the
    // connection and stayed silent (a hung or stopped loktd).
    bool hello_silent() const { return m_hello_silent; }

    const protocol::HelloReply& hello() const { return m_hello; }
    bool alive() const { return m_fd.valid(); }
    // alive(), and the daemon has not closed its end: one non-blocking peek,
    // nothing sent. A closed connection is dropped.
    bool still_open();
    // Lets go of the connection (the daemon then treats us as gone).
    void close() { drop("closed by us"); }
    const std::filesystem::path& socket() const { return m_socket; }

    using ProgressHandler = std::function<void(const protocol::Progress&)>;
    // Sends one request and returns its reply; progress lines for it go to the
    // handler. ErrorCode::unavailable when the connection is (or goes) dead or no
    // reply comes within the timeout (the connection is then closed). A hello
    // still due is finished first.
    Result<protocol::Reply> call(protocol::RequestBody body, Millis timeout, const ProgressHandler& on_progress = {});
    // The same, but the request is sent before the hello's reply is read. Use it
    // only for a request the daemon undoes when the connection closes (a guard's
    // acquire): if the hello fails, the connection is dropped, and a daemon
    // that acts on the request late ends its effect at once.
    Result<protocol::Reply> call_before_hello(protocol::RequestBody body, Millis timeout,
                                              const ProgressHandler& on_progress = {});

    // Returns false to end a subscription.
    using AuditLineHandler = std::function<bool(const std::string& audit_line)>;
    // Subscribes (subscribe_audit) and hands each event's audit line to the
    // handler, sleeping without any timeout in between, until the handler
    // returns false (then unsubscribes and returns) or the connection ends
    // (ErrorCode::unavailable, alive() false). Other errors: the daemon refused.
    Result<void> subscribe_audit(protocol::SubscribeAuditRequest request, const AuditLineHandler& on_line);
    // The same for a caller with its own poll loop (`lokt top`): returns the
    // subscription's id once the daemon accepted it; then poll fd() and call
    // read_audit_lines() whenever it is readable.
    Result<std::uint64_t> start_audit_subscription(protocol::SubscribeAuditRequest request);
    int fd() const { return m_fd.get(); }
    // Reads what has arrived, without blocking; returns how many audit lines of
    // the subscription came. ErrorCode::unavailable once the connection ended.
    Result<std::size_t> read_audit_lines(std::uint64_t subscription);

private:
    DaemonConnection() = default;
    Result<void> send_line(const std::string& line);
    // Sends what is queued (the hello, until the first request goes with it).
    Result<void> flush_unsent();
    // Sends the request, after anything queued, in one write; returns its id.
    Result<std::uint64_t> send_request(protocol::RequestBody body);
    Result<protocol::Reply> await_reply(std::uint64_t id, std::chrono::steady_clock::time_point deadline,
                                        const ProgressHandler& on_progress);
    // The next server message, or an error when the deadline passes or the peer
    // closes. time_point::max() waits for as long as it takes.
    Result<protocol::ServerMessage> read_message(std::chrono::steady_clock::time_point deadline);
    void drop(const std::string& why);

    UniqueFd m_fd;
    protocol::LineFramer m_framer{protocol::k_max_server_line_bytes};
    std::uint64_t m_next_id = 1;
    protocol::HelloReply m_hello;
    std::optional<std::uint64_t> m_hello_due;  // the hello's id while its reply is unread
    std::string m_unsent;                      // lines not yet written
    std::chrono::steady_clock::time_point m_hello_deadline;
    bool m_hello_failed = false;
    bool m_hello_silent = false;
    bool m_timed_out = false;  // a read reached its deadline with nothing
    std::filesystem::path m_socket;
};

// What `lokt doctor`, `lokt version` and `lokt daemon` learn by knocking.
struct DaemonProbe {
    std::filesystem::path socket;
    std::optional<protocol::HelloReply> hello;  // set when a daemon answered
    Error problem{ErrorCode::unavailable, ""};  // why not, otherwise
    // Something accepted the connection but did not answer the hello in time
    // (a hung or foreign process on the socket).
    bool silent = false;
    Millis took{};  // from connect to the hello's answer, or to giving up
};
DaemonProbe probe_daemon(Millis timeout);

// The error LOKT_DAEMON=require reports when the daemon cannot be used.
Error daemon_required_error(Error why);

class DaemonBackend final : public Backend {
public:
    // required: LOKT_DAEMON=require, so a hello that fails is an error rather
    // than a reason to use the files.
    DaemonBackend(DaemonConnection connection, LockEngine files, bool required);

    std::string_view kind() const override { return "daemon"; }
    std::string root() const override { return m_root; }

    Result<Acquired> acquire(const AcquireSpec& spec, const WaitOptions& wait, const WaitObserver& observer) override;
    // A guard's hold is renewed by the daemon while this connection is open:
    // then this sends nothing and only checks that the hold is still ours.
    Result<void> renew(Lease& lease, Nanoseconds ttl) override;
    Result<void> renew_in_place(Lease& lease, Nanoseconds ttl) override;
    Result<void> release(const Lease& lease, const ReleaseNote& note = {}) override;
    // TTL/8 while the daemon renews a guard's hold (the heartbeat only looks),
    // else TTL/2.
    Nanoseconds renew_interval(const Lease& lease, Nanoseconds ttl) const override;
    void record_lost(const Lease& lease, const std::string& detail) override { m_files.record_lost(lease, detail); }
    // In the root, as the files backend makes it: the daemon watches it there.
    Result<HoldHandle> create_hold_handle() override { return m_files.create_hold_handle(); }
    Result<LockRecord> unlock(const std::string& name, UnlockMode mode) override;
    Result<UnlockManyResult> unlock_many(const std::string& owner, bool force) override;
    Result<LockRecord> freeze(const std::string& name, Nanoseconds ttl, bool force) override;
    Result<LockRecord> unfreeze(const std::string& name, bool force) override;
    Result<LockView> inspect(const std::string& name) override { return m_files.inspect(name); }
    Result<std::vector<LockView>> list(bool prune) override { return m_files.list(prune); }
    Result<std::vector<FreezeView>> list_freezes() override { return m_files.list_freezes(); }
    Result<std::vector<std::string>> names(Area area) override { return m_files.names(area); }
    // The daemon's queue of the name (the one thing the files cannot tell).
    Result<QueueView> queue(const std::string& name) override;
    // Every queue the daemon keeps for this root, in one status request.
    Result<QueuesView> queues() override;
    // Follows the daemon's audit stream on a second connection.
    Result<std::unique_ptr<ChangeFeed>> watch_changes() override;

    // The log is read where the daemon writes it, in the root.
    std::vector<AuditEvent> latest_audit_events(std::size_t count) override { return m_files.latest_audit_events(count); }
    Result<std::optional<WallTime>> audit_time_of_last(const AuditQuery& query, std::size_t count) override {
        return m_files.audit_time_of_last(query, count);
    }
    // A subscription to the daemon's audit stream; the file again if the daemon goes away.
    Result<void> follow_audit(const AuditQuery& query, const AuditPrinter& print) override;

private:
    // A call that reports whether the daemon was reachable: nullopt means fall back to the files.
    // before_hello: see DaemonConnection::call_before_hello. A hello that fails
    // means the files (LOKT_DAEMON=auto) or an error (require).
    std::optional<Result<protocol::Reply>> ask(protocol::RequestBody body, Millis timeout,
                                               const DaemonConnection::ProgressHandler& on_progress = {},
                                               bool before_hello = false);
    // After the daemon vanished during an acquire: a hold it granted us before
    // it died is ours (our pid, our owner, written after we asked).
    std::optional<StoredRecord> granted_before_loss(const AcquireSpec& spec, WallTime asked_at);
    // After the daemon vanished during a wait: did it write this wait's `deny`?
    // (Then the files carry on the wait without a second one.)
    bool denial_recorded_since(const std::string& name, WallTime since);
    // A guard's heartbeat while the daemon keeps its hold (see renew).
    Result<void> check_kept_hold(Lease& lease, Nanoseconds ttl);
    // Did we (our pid) write one of these events for name (and lock_id, when
    // given) since then? Through the daemon, before it went away.
    bool audited_since(const std::string& name, const std::string& lock_id, WallTime since,
                       std::initializer_list<std::string_view> events);
    // Runs `on_files` (an end the daemon was asked for at asked_at and did
    // not answer) with the files told so: an end the daemon audited before it
    // went gets no second line (LockEngine::finish_daemon_request).
    template <typename OnFiles>
    auto finishing_daemon_request(WallTime asked_at, OnFiles&& on_files) {
        m_files.finish_daemon_request(asked_at);
        auto result = on_files();
        m_files.finish_daemon_request(std::nullopt);
        return result;
    }
    // unlock_many fell back to the files: the holds seen before asking that
    // the daemon released or broke for us before it went join `result`.
    void add_released_before_reply(const std::vector<LockView>& before, WallTime asked_at, UnlockManyResult& result);

    DaemonConnection m_connection;
    bool m_required = false;
    bool m_said_renewing_on_files = false;
    Identity m_actor;
    std::string m_root;
    FileBackend m_files;  // the same operations on the files, when the daemon is gone
};

}  // namespace lokt::client
