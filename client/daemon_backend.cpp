// See daemon_backend.hpp.
#include "client/daemon_backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <lokt/build_info.hpp>
#include <set>

#include "client/backend_factory.hpp"
#include "client/cli_context.hpp"
#include "client/daemon_audit_follow.hpp"
#include "client/daemon_change_feed.hpp"
#include "client/file_audit_follow.hpp"
#include "common/hold_deadline.hpp"
#include "common/hold_state.hpp"
#include "common/sys_error.hpp"
#include "protocol/socket_location.hpp"

namespace lokt::client {
namespace {

using Clock = std::chrono::steady_clock;

// See request_daemon_progress().
std::atomic<bool> g_progress_requested{false};

// Replies to everything but a waiting acquire come at once; this only bounds a hung daemon.
constexpr Millis k_call_timeout{30'000};
// How long past its own timeout a waiting acquire trusts the daemon to answer.
constexpr Millis k_wait_grace{10'000};

Error unavailable(const std::string& message) { return make_error(ErrorCode::unavailable, message); }

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

bool is_lock_id(const std::string& text) {
    if (text.size() != 32) return false;
    for (char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

std::uint64_t to_ms(Nanoseconds duration) {
    const auto ms = std::chrono::ceil<Millis>(duration).count();
    return ms < 0 ? 0 : static_cast<std::uint64_t>(ms);
}

Error error_of(const protocol::Reply& reply) { return std::get<protocol::ErrorReply>(reply.body).to_error(); }

// What a waiting acquire is blocked on, as the live line shows it.
Refusal refusal_from_progress(const std::string& name, const protocol::Progress& progress) {
    Refusal refusal;
    if (progress.freeze) {
        const LockRecord freeze = *progress.freeze;
        refusal.code = ErrorCode::frozen;
        refusal.message = "lock " + quoted(name) + " is frozen";
        if (auto expiry = freeze.expiry()) refusal.message += " until " + format_rfc3339_seconds(*expiry);
        refusal.message += " (by " + owner_at_host(freeze.owner, freeze.host) + ")";
        refusal.freeze = freeze;
    } else if (progress.holder) {
        const LockRecord holder = *progress.holder;
        refusal.message = "lock " + quoted(name) + " held by " + describe_holder(holder, wall_now());
        refusal.holder = holder;
    } else {
        refusal.message = "lock " + quoted(name) + " is held";
    }
    return refusal;
}

// Is the socket's directory safe to talk through? The daemon checks the same.
// A missing directory only means that no daemon has run yet.
Result<void> check_socket_directory(const std::filesystem::path& directory) {
    auto safe = protocol::verify_socket_directory(directory);
    if (safe) return safe;
    Error error = safe.take_error();
    if (error.code == ErrorCode::not_found) return unavailable("no daemon: " + directory.string() + " does not exist");
    error.message = "refusing the daemon " + error.message;
    return error;
}

}  // namespace

// ---- DaemonConnection ----

void request_daemon_progress() { g_progress_requested = true; }

Result<DaemonConnection> DaemonConnection::open(const std::filesystem::path& socket, Millis timeout) {
    auto connection = connect(socket, timeout);
    if (!connection) return connection;
    if (auto done = connection->finish_hello(); !done) return done.take_error();
    return connection;
}

Result<DaemonConnection> DaemonConnection::connect(const std::filesystem::path& socket, Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    if (auto safe = check_socket_directory(socket.parent_path()); !safe) return safe.take_error();
    DaemonConnection connection;
    connection.m_socket = socket;
    sockaddr_un address{};
    if (socket.string().size() >= sizeof address.sun_path) {
        return make_error(ErrorCode::io, "socket path " + socket.string() + " is too long");
    }
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
    // CLOEXEC: a guarded command must not inherit the connection that binds the hold.
    connection.m_fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!connection.m_fd) return sys_error("cannot create a socket for", socket.string(), errno);
    if (::connect(connection.m_fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            return unavailable("no daemon answers at " + socket.string() + ": " + errno_text(errno));
        }
        struct pollfd pfd = {connection.m_fd.get(), POLLOUT, 0};
        const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (::poll(&pfd, 1, static_cast<int>(std::max<long long>(left, 0))) <= 0) {
            return unavailable("no daemon answers at " + socket.string() + ": connect timed out");
        }
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(connection.m_fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) return unavailable("no daemon answers at " + socket.string() + ": " + errno_text(error));
    }
    protocol::HelloRequest hello;
    hello.protocol = protocol::k_supported_versions;
    hello.client_version = k_version;
    hello.client_build = k_build_id;
    // Progress lines feed the live waiting line, which is drawn on a terminal
    // only (acquire_options.cpp); elsewhere they would wake us for nothing.
    if (::isatty(STDERR_FILENO) || g_progress_requested.load())
        hello.capabilities = {std::string(protocol::k_capability_progress)};
    // Sent with the first request, in one write (see send_request).
    connection.m_hello_due = connection.m_next_id++;
    connection.m_unsent = protocol::encode(protocol::Request{*connection.m_hello_due, std::move(hello)});
    connection.m_hello_deadline = deadline;
    return connection;
}

Result<void> DaemonConnection::finish_hello() {
    if (!m_hello_due) return {};
    const std::uint64_t id = *m_hello_due;
    m_hello_due.reset();
    Result<protocol::Reply> reply = make_error(ErrorCode::unavailable, "");
    if (auto sent = flush_unsent(); !sent) {
        reply = sent.take_error();
    } else {
        reply = await_reply(id, m_hello_deadline, {});
    }
    if (reply && !reply->ok()) {
        drop("hello refused");
        reply = error_of(*reply);
    }
    if (reply && std::get_if<protocol::HelloReply>(&reply->body) == nullptr) {
        drop("bad hello");
        reply = make_error(ErrorCode::internal, "invalid message from daemon: hello answered with another op");
    }
    if (!reply) {
        m_hello_failed = true;
        m_hello_silent = m_timed_out;
        return reply.take_error();
    }
    m_hello = std::get<protocol::HelloReply>(reply->body);
    return {};
}

bool DaemonConnection::still_open() {
    if (!alive()) return false;
    char byte = 0;
    const ssize_t n = ::recv(m_fd.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) return true;
    drop("closed");
    return false;
}

void DaemonConnection::drop(const std::string& why) {
    (void)why;
    m_fd.reset();
}

Result<void> DaemonConnection::send_line(const std::string& line) {
    std::size_t sent = 0;
    while (sent < line.size()) {
        const ssize_t n = ::send(m_fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {m_fd.get(), POLLOUT, 0};
            if (::poll(&pfd, 1, static_cast<int>(k_call_timeout.count())) > 0) continue;
        }
        const int error = errno;
        drop("send");
        return unavailable("lost the connection to loktd: " + errno_text(error));
    }
    return {};
}

Result<protocol::ServerMessage> DaemonConnection::read_message(Clock::time_point deadline) {
    char buffer[16 * 1024];
    for (;;) {
        if (auto line = m_framer.next_line()) {
            auto message = protocol::decode_server_message(*line);
            if (!message) drop("bad message");
            return message;
        }
        if (m_framer.too_long()) {
            drop("long line");
            return make_error(ErrorCode::internal, "invalid message from daemon: a line longer than 16 MiB");
        }
        const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) {
            m_timed_out = true;
            drop("timeout");
            return unavailable("loktd did not answer in time");
        }
        struct pollfd pfd = {m_fd.get(), POLLIN, 0};
        // No deadline (a subscription): sleep until the daemon writes or goes away.
        const int wait = deadline == Clock::time_point::max() ? -1 : static_cast<int>(std::min<long long>(left, 60'000));
        const int ready = ::poll(&pfd, 1, wait);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;
        const ssize_t n = ::recv(m_fd.get(), buffer, sizeof buffer, 0);
        if (n > 0) {
            m_framer.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
            continue;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        drop("closed");
        return unavailable("lost the connection to loktd");
    }
}

Result<void> DaemonConnection::flush_unsent() {
    if (m_unsent.empty()) return {};
    if (!alive()) return unavailable("lost the connection to loktd");
    std::string text = std::move(m_unsent);
    m_unsent.clear();
    return send_line(text);
}

Result<std::uint64_t> DaemonConnection::send_request(protocol::RequestBody body) {
    if (!alive()) return unavailable("lost the connection to loktd");
    const std::uint64_t id = m_next_id++;
    m_unsent += protocol::encode(protocol::Request{id, std::move(body)});
    if (auto sent = flush_unsent(); !sent) return sent.take_error();
    return id;
}

Result<protocol::Reply> DaemonConnection::call(protocol::RequestBody body, Millis timeout, const ProgressHandler& on_progress) {
    if (auto done = finish_hello(); !done) return done.take_error();
    auto id = send_request(std::move(body));
    if (!id) return id.take_error();
    return await_reply(*id, Clock::now() + timeout, on_progress);
}

Result<protocol::Reply> DaemonConnection::call_before_hello(protocol::RequestBody body, Millis timeout,
                                                            const ProgressHandler& on_progress) {
    auto id = send_request(std::move(body));
    if (!id) return id.take_error();
    const auto deadline = Clock::now() + timeout;
    if (auto done = finish_hello(); !done) return done.take_error();
    return await_reply(*id, deadline, on_progress);
}

Result<protocol::Reply> DaemonConnection::await_reply(std::uint64_t id, Clock::time_point deadline,
                                                      const ProgressHandler& on_progress) {
    for (;;) {
        auto message = read_message(deadline);
        if (!message) return message.take_error();
        if (auto* reply = std::get_if<protocol::Reply>(&*message)) {
            if (reply->id == id) return std::move(*reply);
        } else if (auto* progress = std::get_if<protocol::Progress>(&*message)) {
            if (progress->id == id && on_progress) on_progress(*progress);
        }
    }
}

Result<void> DaemonConnection::subscribe_audit(protocol::SubscribeAuditRequest request, const AuditLineHandler& on_line) {
    if (auto done = finish_hello(); !done) return done.take_error();
    if (!alive()) return unavailable("lost the connection to loktd");
    const std::uint64_t id = m_next_id++;
    if (auto sent = send_line(protocol::encode(protocol::Request{id, std::move(request)})); !sent) return sent.take_error();
    // The reply is due at once, as for any call; after it, events come whenever
    // someone writes the log, so the wait has no end.
    auto deadline = Clock::now() + k_call_timeout;
    for (;;) {
        auto message = read_message(deadline);
        if (!message) return message.take_error();
        if (auto* reply = std::get_if<protocol::Reply>(&*message)) {
            if (reply->id != id) continue;
            if (!reply->ok()) return std::get<protocol::ErrorReply>(reply->body).to_error();
            deadline = Clock::time_point::max();
        } else if (auto* event = std::get_if<protocol::AuditEvent>(&*message)) {
            if (event->id == id && !on_line(event->audit)) {
                // Best effort: closing the connection ends the subscription anyway.
                (void)call(protocol::UnsubscribeRequest{id}, k_call_timeout);
                return {};
            }
        }
    }
}

Result<std::uint64_t> DaemonConnection::start_audit_subscription(protocol::SubscribeAuditRequest request) {
    auto answered = call(std::move(request), k_call_timeout);
    if (!answered) return answered.take_error();
    if (!answered->ok()) return error_of(*answered);
    return answered->id;
}

Result<std::size_t> DaemonConnection::read_audit_lines(std::uint64_t subscription) {
    if (!alive()) return unavailable("lost the connection to loktd");
    char buffer[16 * 1024];
    for (;;) {
        const ssize_t n = ::recv(m_fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0) {
            m_framer.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        drop("closed");
        return unavailable("lost the connection to loktd");
    }
    std::size_t lines = 0;
    while (auto line = m_framer.next_line()) {
        auto message = protocol::decode_server_message(*line);
        if (!message) {
            drop("bad message");
            return message.take_error();
        }
        if (auto* event = std::get_if<protocol::AuditEvent>(&*message); event != nullptr && event->id == subscription) ++lines;
    }
    if (m_framer.too_long()) {
        drop("long line");
        return make_error(ErrorCode::internal, "invalid message from daemon: a line longer than 16 MiB");
    }
    return lines;
}

DaemonProbe probe_daemon(Millis timeout) {
    DaemonProbe probe;
    probe.socket = protocol::default_socket_path();
    const auto started = Clock::now();
    auto connection = DaemonConnection::connect(probe.socket, timeout);
    if (connection) {
        if (auto done = connection->finish_hello(); !done) {
            probe.problem = done.take_error();
            // Accepted, then no answer until the deadline (which read_message
            // rounds to milliseconds): not a refusal, not a closed connection.
            probe.silent = probe.problem.code == ErrorCode::unavailable && Clock::now() - started >= timeout * 9 / 10;
        } else {
            probe.hello = connection->hello();
        }
    } else {
        probe.problem = connection.take_error();
    }
    probe.took = std::chrono::duration_cast<Millis>(Clock::now() - started);
    return probe;
}

// ---- DaemonBackend ----

Error daemon_required_error(Error why) {
    why.message = "LOKT_DAEMON=require: " + why.message + " (start it with 'lokt daemon start')";
    if (exit_code_for(why.code) != 1) why.code = ErrorCode::unavailable;
    return why;
}

DaemonBackend::DaemonBackend(DaemonConnection connection, LockEngine files, bool required)
    : m_connection(std::move(connection)),
      m_required(required),
      m_actor(files.actor()),
      m_root(files.store().root().string()),
      m_files(std::move(files)) {}

std::optional<Result<protocol::Reply>> DaemonBackend::ask(protocol::RequestBody body, Millis timeout,
                                                          const DaemonConnection::ProgressHandler& on_progress,
                                                          bool before_hello) {
    if (!m_connection.alive()) {
        // Gone earlier in this command (or given up on by a guard's heartbeat).
        if (m_required) return Result<protocol::Reply>(daemon_required_error(unavailable("loktd stopped answering")));
        return std::nullopt;
    }
    auto reply = before_hello ? m_connection.call_before_hello(std::move(body), timeout, on_progress)
                              : m_connection.call(std::move(body), timeout, on_progress);
    if (!reply && m_connection.hello_failed()) {
        // What choosing the backend at start would have concluded.
        if (m_required) return Result<protocol::Reply>(daemon_required_error(reply.take_error()));
        if (m_connection.hello_silent()) {
            // Not an absent daemon (which costs nothing): one that costs every command this wait.
            warn("loktd at " + m_connection.socket().string() + " accepted the connection but did not answer in " +
                 std::to_string(k_auto_hello_timeout.count()) + "ms; using the files (see 'lokt doctor')");
        } else if (std::getenv("LOKT_LOG") != nullptr) {
            std::fprintf(stderr, "lokt: no daemon (%s); using the files\n", reply.error().message.c_str());
        }
        return std::nullopt;
    }
    if (!reply && reply.error().code == ErrorCode::unavailable && !m_connection.alive()) {
        // LOKT_DAEMON=require never goes on with the files behind the user's back.
        if (m_required) {
            return Result<protocol::Reply>(
                daemon_required_error(unavailable("loktd stopped answering (" + reply.error().message + ")")));
        }
        if (std::getenv("LOKT_LOG") != nullptr) {
            std::fprintf(stderr, "lokt: %s; carrying on with the files\n", reply.error().message.c_str());
        }
        return std::nullopt;
    }
    return reply;
}

bool DaemonBackend::denial_recorded_since(const std::string& name, WallTime since) {
    bool found = false;
    AuditQuery query;
    query.since = since;
    query.name = name;
    (void)read_audit(std::filesystem::path(m_root) / "audit.log", query, [&](std::string_view, const AuditEvent& event) {
        if (event.event == "deny" && event.pid == m_actor.pid) found = true;
    });
    return found;
}

std::optional<StoredRecord> DaemonBackend::granted_before_loss(const AcquireSpec& spec, WallTime asked_at) {
    auto view = m_files.inspect(spec.name);
    if (!view || view->stored.kind != StoredRecord::Kind::record) return std::nullopt;
    const LockRecord& record = view->stored.record;
    // A guard's hold names the liveness handle this guard created for this very
    // acquire: nobody else's can. Other holds: our identity, written after we asked.
    const bool our_handle = spec.binding == Binding::guard && !spec.handle.empty() && record.handle == spec.handle &&
                            record.bound_to == Binding::guard && record.pid == spec.holder.pid;
    const bool ours =
        our_handle ||
        (spec.binding != Binding::guard && record.owner == spec.holder.owner && record.host == spec.holder.host &&
         record.acquired >= asked_at && record.bound_to == spec.binding &&
         (spec.binding == Binding::ttl || (record.pid == spec.holder.pid && record.pid_start == spec.holder.pid_start)));
    if (!ours) return std::nullopt;
    return view->stored;
}

Result<Acquired> DaemonBackend::acquire(const AcquireSpec& spec, const WaitOptions& wait, const WaitObserver& observer) {
    const Identity& actor = m_actor;
    protocol::AcquireRequest request;
    request.root = m_root;
    request.name = spec.name;
    request.mode = spec.binding == Binding::guard ? protocol::AcquireMode::guard : protocol::AcquireMode::manual;
    if (spec.ttl) request.ttl_ms = to_ms(*spec.ttl);
    request.wait = wait.wait;
    if (wait.wait) request.timeout_ms = to_ms(wait.timeout);
    request.identity = actor;
    if (spec.binding == Binding::process) {
        request.bound_pid = static_cast<std::int32_t>(spec.holder.pid);
        request.bound_pid_start = spec.holder.pid_start;
    }
    if (is_lock_id(spec.inherited_lock_id)) request.nested_lock_id = spec.inherited_lock_id;
    if (spec.binding == Binding::guard) request.handle = spec.handle;
    request.group = spec.group;
    request.slots = spec.slots;
    request.shared = spec.shared;

    const auto started = Clock::now();
    const WallTime asked_at = wall_now();
    auto on_progress = [&](const protocol::Progress& progress) {
        if (observer)
            observer(WaitProgress{refusal_from_progress(spec.name, progress), Clock::now() - started, progress.position});
    };
    const Millis timeout = wait.wait ? std::chrono::ceil<Millis>(wait.timeout) + k_wait_grace : k_call_timeout;
    // A guard's hold ends with its connection, so its acquire may follow the hello unanswered.
    auto answered = ask(request, timeout, on_progress, spec.binding == Binding::guard);
    if (!answered) {
        // The daemon went away, or never answered: whatever it granted us is
        // ours (it may have granted and died before its replies went out, the
        // hello's included); otherwise wait on the files.
        if (auto hold = granted_before_loss(spec, asked_at)) {
            // A daemon killed between the lock file and its `acquire` line
            // leaves the line to us.
            LOKT_TRY(m_files.audit_adopted_grant(*hold, asked_at, spec.group));
            Acquired result;
            result.outcome = AcquireResult::Outcome::acquired;
            result.lease.record = hold->record;
            // Rewritten as ours: a daemon that wakes up finds a file it did not
            // write and leaves the hold to us (design.md).
            if (spec.ttl) (void)m_files.renew(result.lease, *spec.ttl);
            return result;
        }
        AcquireSpec rest = spec;
        if (wait.wait && denial_recorded_since(spec.name, asked_at)) rest.audit_denial = false;
        WaitOptions left = wait;
        if (wait.wait) left.timeout = std::max(Nanoseconds(0), wait.timeout - (Clock::now() - started));
        return m_files.acquire(rest, left, observer);
    }
    if (!*answered) return answered->take_error();
    const protocol::Reply& reply = answered->value();
    Acquired result;
    if (!reply.ok()) {
        const auto& error = std::get<protocol::ErrorReply>(reply.body);
        const bool refusal = error.code == ErrorCode::held || error.code == ErrorCode::frozen ||
                             error.code == ErrorCode::timeout || error.code == ErrorCode::unsupported ||
                             error.code == ErrorCode::deadlock;
        if (!refusal) return error.to_error();
        result.outcome = AcquireResult::Outcome::refused;
        result.refusal.code = error.code;
        result.refusal.message = error.message;
        if (error.holder) result.refusal.holder = *error.holder;
        if (error.freeze) result.refusal.freeze = *error.freeze;
        return result;
    }
    const auto* body = std::get_if<protocol::AcquireReply>(&reply.body);
    if (body == nullptr) return make_error(ErrorCode::internal, "invalid message from daemon: acquire answered with another op");
    result.outcome = body->outcome;
    result.lease.record = body->lock;
    return result;
}

Result<void> DaemonBackend::renew(Lease& lease, Nanoseconds ttl) {
    if (lease.record.bound_to == Binding::guard && m_connection.still_open()) return check_kept_hold(lease, ttl);
    return renew_in_place(lease, ttl);
}

Result<void> DaemonBackend::renew_in_place(Lease& lease, Nanoseconds ttl) {
    protocol::RenewRequest request{m_root, lease.name(), lease.lock_id(), to_ms(ttl), m_actor};
    auto answered = ask(request, k_call_timeout);
    if (!answered) return m_files.renew(lease, ttl);
    if (!*answered && m_required && !m_connection.alive()) {
        // LOKT_DAEMON=require, and the daemon has gone while the command runs:
        // letting the hold lapse under it would be worse than the files. Said
        // once; the release reports the error.
        Error error = answered->take_error();
        LOKT_TRY(m_files.renew(lease, ttl));
        if (!m_said_renewing_on_files) {
            warn(error.message + "; renewing lock \"" + lease.name() + "\" on the files until the command ends");
            m_said_renewing_on_files = true;
        }
        return {};
    }
    if (!*answered) return answered->take_error();
    if (!(*answered)->ok()) return error_of(answered->value());
    const auto* body = std::get_if<protocol::RenewReply>(&(*answered)->body);
    if (body == nullptr) return make_error(ErrorCode::internal, "invalid message from daemon: renew answered with another op");
    lease.record = body->lock;
    lease.file = {};  // the daemon wrote it
    return {};
}

Result<void> DaemonBackend::check_kept_hold(Lease& lease, Nanoseconds ttl) {
    // Read back, as a renewal on the files would: gone or someone else's is lost.
    LOKT_TRY_LET(record, m_files.held(lease));
    const auto left = time_left(*record, wall_now());
    if (left && *left < ttl * 3 / 8) {
        // The daemon renews every TTL/2, so it never lets less than TTL/2 be
        // left; below 3/8 it has missed a renewal by TTL/8 (it hangs, or is
        // stopped). We look every TTL/8 (renew_interval), so at least TTL/4 is
        // left when we take over. Taking over is a renewal on the files under
        // the name's mutex, which gives the file a new inode: a daemon that
        // wakes up sees a file it did not write and leaves the hold alone.
        // Only then is the connection closed.
        if (std::getenv("LOKT_LOG") != nullptr) {
            std::fprintf(stderr, "lokt: loktd stopped renewing lock \"%s\"; carrying on with the files\n", lease.name().c_str());
        }
        auto renewed = m_files.renew(lease, ttl);
        m_connection.close();
        return renewed;
    }
    lease.record = std::move(record.value());
    lease.file = {};  // the daemon wrote it
    return {};
}

Nanoseconds DaemonBackend::renew_interval(const Lease& lease, Nanoseconds ttl) const {
    // While the daemon renews the hold we only look, and look often enough to
    // take over in time (check_kept_hold); on the files we renew every TTL/2.
    if (lease.record.bound_to == Binding::guard && m_connection.alive()) return ttl / 8;
    return ttl / 2;
}

bool DaemonBackend::audited_since(const std::string& name, const std::string& lock_id, WallTime since,
                                  std::initializer_list<std::string_view> events) {
    bool found = false;
    AuditQuery query;
    query.since = since;
    query.name = name;
    (void)read_audit(std::filesystem::path(m_root) / "audit.log", query, [&](std::string_view, const AuditEvent& event) {
        if (event.pid != m_actor.pid || (!lock_id.empty() && event.lock_id != lock_id)) return;
        for (auto word : events) {
            if (event.event == word) found = true;
        }
    });
    return found;
}

void DaemonBackend::add_released_before_reply(const std::vector<LockView>& before, WallTime asked_at, UnlockManyResult& result) {
    std::set<std::string> ended;  // lock ids our pid released or broke since asked_at
    AuditQuery query;
    query.since = asked_at;
    (void)read_audit(std::filesystem::path(m_root) / "audit.log", query, [&](std::string_view, const AuditEvent& event) {
        if (event.pid != m_actor.pid || event.lock_id.empty()) return;
        if (event.event == "release" || event.event == "force-break" || event.event == "stale-break" ||
            event.event == "corrupt-break") {
            ended.insert(event.lock_id);
        }
    });
    for (const LockView& view : before) {
        if (view.stored.kind != StoredRecord::Kind::record || ended.count(view.stored.record.lock_id) == 0) continue;
        const bool listed = std::any_of(result.released.begin(), result.released.end(),
                                        [&](const LockRecord& record) { return record.lock_id == view.stored.record.lock_id; });
        if (!listed) result.released.push_back(view.stored.record);
    }
    std::sort(result.released.begin(), result.released.end(),
              [](const LockRecord& a, const LockRecord& b) { return a.name < b.name; });
}

Result<void> DaemonBackend::release(const Lease& lease, const ReleaseNote& note) {
    protocol::ReleaseRequest request{m_root, lease.name(), lease.lock_id(), std::nullopt, m_actor, {}};
    if (note.exit_status) request.exit_status = static_cast<std::uint64_t>(*note.exit_status);
    request.group = note.group;
    // A live daemon answers at once. A stopped one must not keep us past the
    // hold's TTL, which nobody renews once the command has ended: then the
    // files, well before it lapses.
    Millis timeout = k_call_timeout;
    if (auto expiry = lease.record.expiry()) {
        const auto left = std::chrono::duration_cast<Millis>(*expiry - wall_now());
        timeout = std::clamp(left / 4, k_auto_hello_timeout, k_call_timeout);
    }
    const WallTime asked_at = wall_now();
    auto answered = ask(request, timeout);
    if (answered && *answered) {
        if (!(*answered)->ok()) return error_of(answered->value());
        return {};
    }
    // The daemon is gone (or, with LOKT_DAEMON=require, an error to report):
    // the hold is ended on the files either way, so nobody waits for a dead
    // guard's file. If the daemon released it before it went, that was our
    // release; if it wrote the line and died before removing the file, the
    // files remove it without a second line.
    auto released = finishing_daemon_request(asked_at, [&] { return m_files.release(lease, note); });
    if (!released && released.error().code == ErrorCode::lost &&
        audited_since(lease.name(), lease.lock_id(), asked_at, {"release"})) {
        released = {};
    }
    if (answered) {
        Error error = answered->take_error();
        if (released) error.message += "; lock \"" + lease.name() + "\" was released on the files";
        return error;
    }
    return released;
}

Result<LockRecord> DaemonBackend::unlock(const std::string& name, UnlockMode mode) {
    protocol::UnlockRequest request;
    request.root = m_root;
    request.name = name;
    request.mode = mode;
    request.identity = m_actor;
    // What is there now: if the daemon removes it and dies before it answers,
    // the files alone would say "not held", and that would not be the truth.
    auto before = m_files.inspect(name);
    const WallTime asked_at = wall_now();
    auto answered = ask(request, k_call_timeout);
    if (!answered) {
        auto removed = finishing_daemon_request(asked_at, [&] { return m_files.unlock(name, mode); });
        if (!removed && removed.error().code == ErrorCode::not_found && before &&
            before->stored.kind == StoredRecord::Kind::record &&
            audited_since(name, before->stored.record.lock_id, asked_at,
                          {"release", "stale-break", "force-break", "corrupt-break"})) {
            return before->stored.record;  // the daemon did it before it went
        }
        return removed;
    }
    if (!*answered) return answered->take_error();
    if (!(*answered)->ok()) return error_of(answered->value());
    const auto* body = std::get_if<protocol::UnlockReply>(&(*answered)->body);
    if (body == nullptr) return make_error(ErrorCode::internal, "invalid message from daemon: unlock answered with another op");
    return body->lock ? *body->lock : LockRecord{};
}

Result<UnlockManyResult> DaemonBackend::unlock_many(const std::string& owner, bool force) {
    const Identity& actor = m_actor;
    protocol::UnlockManyRequest request;
    request.root = m_root;
    request.identity = actor;
    // --all without --force means "every lock of mine": the same as naming my owner.
    if (!owner.empty()) {
        request.owner = owner;
        request.force = force;
    } else if (!force) {
        request.owner = actor.owner;
    }
    // What is there now: if the daemon releases some of them and dies before it
    // answers, the files alone would leave those out of what was released.
    auto before = m_files.list(false);
    const WallTime asked_at = wall_now();
    auto answered = ask(request, k_call_timeout);
    if (!answered) {
        auto result = finishing_daemon_request(asked_at, [&] { return m_files.unlock_many(owner, force); });
        if (result && before) add_released_before_reply(*before, asked_at, *result);
        return result;
    }
    if (!*answered) return answered->take_error();
    if (!(*answered)->ok()) return error_of(answered->value());
    const auto* body = std::get_if<protocol::UnlockManyReply>(&(*answered)->body);
    if (body == nullptr)
        return make_error(ErrorCode::internal, "invalid message from daemon: unlock_many answered with another op");
    UnlockManyResult result;
    for (const auto& record : body->released) result.released.push_back(record);
    for (const auto& refused : body->refused) {
        result.refused.push_back(Refusal{refused.code, refused.message, refused.holder, std::nullopt, false, {}});
    }
    return result;
}

Result<QueueView> DaemonBackend::queue(const std::string& name) {
    protocol::StatusRequest request{m_root, name, false, std::nullopt};
    auto answered = ask(request, k_call_timeout);
    if (!answered) return m_files.queue(name);
    if (!*answered) return answered->take_error();
    if (!(*answered)->ok()) return error_of(answered->value());
    const auto* body = std::get_if<protocol::StatusReply>(&(*answered)->body);
    if (body == nullptr) return make_error(ErrorCode::internal, "invalid message from daemon: status answered with another op");
    QueueView view;
    if (!body->waiting) return view;
    view.known = true;
    for (const auto& waiter : *body->waiting) {
        if (waiter.name != name) continue;
        view.waiters.push_back(
            QueuedWaiter{waiter.position, waiter.identity, std::chrono::milliseconds(waiter.waited_ms), waiter.mode});
    }
    return view;
}

Result<QueuesView> DaemonBackend::queues() {
    protocol::StatusRequest request{m_root, "", false, std::nullopt};
    auto answered = ask(request, k_call_timeout);
    if (!answered) return m_files.queues();
    if (!*answered) return answered->take_error();
    if (!(*answered)->ok()) return error_of(answered->value());
    const auto* body = std::get_if<protocol::StatusReply>(&(*answered)->body);
    if (body == nullptr) return make_error(ErrorCode::internal, "invalid message from daemon: status answered with another op");
    QueuesView view;
    if (!body->waiting) return view;
    // A daemon that lists queues only for a named request (before lokt top)
    // sends none here, though its holds count waiters: then it is not known.
    const bool counted = std::any_of(body->locks.begin(), body->locks.end(), [](const auto& lock) { return lock.waiters > 0; });
    if (counted && body->waiting->empty()) return view;
    view.known = true;
    for (const auto& waiter : *body->waiting) {
        view.by_name[waiter.name].push_back(
            QueuedWaiter{waiter.position, waiter.identity, std::chrono::milliseconds(waiter.waited_ms), waiter.mode});
    }
    return view;
}

Result<std::unique_ptr<ChangeFeed>> DaemonBackend::watch_changes() {
    auto files = m_files.watch_changes();
    if (!files) return files.take_error();
    if (!m_connection.alive()) return files;
    auto feed = follow_daemon_changes(m_connection.socket(), m_root, std::move(files.value()));
    if (!feed) {
        if (m_required) return daemon_required_error(feed.take_error());
        return m_files.watch_changes();
    }
    return feed;
}

Result<void> DaemonBackend::follow_audit(const AuditQuery& query, const AuditPrinter& print) {
    auto followed = follow_audit_through_daemon(m_connection, m_root, query, print);
    if (!followed) return followed.take_error();
    if (followed->reader_gone) return {};
    return follow_audit_file(m_root, query, print, &followed->resume);
}

Result<LockRecord> DaemonBackend::freeze(const std::string& name, Nanoseconds ttl, bool force) {
    protocol::FreezeRequest request{m_root, name, to_ms(ttl), force, m_actor};
    auto answered = ask(request, k_call_timeout);
    if (!answered) return m_files.freeze(name, ttl, force);
    if (!*answered) return answered->take_error();
    if (!(*answered)->ok()) return error_of(answered->value());
    const auto* body = std::get_if<protocol::FreezeReply>(&(*answered)->body);
    if (body == nullptr) return make_error(ErrorCode::internal, "invalid message from daemon: freeze answered with another op");
    return body->freeze;
}

Result<LockRecord> DaemonBackend::unfreeze(const std::string& name, bool force) {
    protocol::UnfreezeRequest request{m_root, name, force, m_actor};
    auto answered = ask(request, k_call_timeout);
    if (!answered) return m_files.unfreeze(name, force);
    if (!*answered) return answered->take_error();
    if (!(*answered)->ok()) return error_of(answered->value());
    const auto* body = std::get_if<protocol::UnfreezeReply>(&(*answered)->body);
    if (body == nullptr) return make_error(ErrorCode::internal, "invalid message from daemon: unfreeze answered with another op");
    return body->freeze ? *body->freeze : LockRecord{};
}

}  // namespace lokt::client
