// See dispatcher.hpp.
#include "daemon/dispatcher.hpp"

#include <unistd.h>

#include <exception>
#include <lokt/build_info.hpp>
#include <nlohmann/json.hpp>

#include "common/identity.hpp"
#include "common/lock_name.hpp"
#include "common/process_liveness.hpp"
#include "daemon/log.hpp"
#include "daemon/wire.hpp"
#include "protocol/etcd/endpoint.hpp"

namespace lokt::daemon {
namespace {

using Milliseconds = std::chrono::milliseconds;

constexpr auto k_slow_request = std::chrono::milliseconds(100);

// One key per root, however the client spelled it ("/a/b/", "/a/./b").
std::string normal_root(const std::string& root) {
    std::string text = std::filesystem::path(root).lexically_normal().string();
    while (text.size() > 1 && text.back() == '/') text.pop_back();
    return text;
}

// The file backend re-derives a derived agent id for the process a hold is
// bound to; an explicit LOKT_AGENT_ID is kept. The wire cannot say which it
// was, but a derived id is recognisable.
Identity rebind(const Identity& requester, pid_t pid, std::optional<std::uint64_t> pid_start) {
    Identity holder = requester;
    const bool derived = requester.agent_id == derive_agent_id(requester.pid, requester.pid_start);
    holder.pid = pid;
    holder.pid_start = pid_start;
    if (derived) holder.agent_id = derive_agent_id(pid, pid_start);
    return holder;
}

// A duration from a request, held to the limits the client puts on the flag it
// came from and refused in the same words (common/duration.hpp), so a request
// that bypassed those checks reads as the flag would have.
Result<Nanoseconds> request_duration(std::uint64_t ms, std::string_view flag, Nanoseconds min) {
    // Compared in milliseconds first: converting a huge value could overflow.
    constexpr auto limit_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<Milliseconds>(k_max_duration).count());
    const Nanoseconds value = ms > limit_ms ? k_max_duration + Nanoseconds(1) : Nanoseconds(Milliseconds(ms));
    LOKT_TRY(check_duration_range(flag, value, min));
    return value;
}

std::string request_subject(const protocol::Request& request) {
    return std::visit(
        [](const auto& body) -> std::string {
            if constexpr (requires {
                              body.name;
                              body.root;
                          }) {
                return body.root + (body.name.empty() ? "" : " " + body.name);
            } else if constexpr (requires { body.root; }) {
                return body.root;
            } else {
                return "";
            }
        },
        request.body);
}

// The identity a request names (who acts), held to the client's limits.
Result<void> valid_identity(const protocol::Request& request) {
    return std::visit(
        [](const auto& body) -> Result<void> {
            if constexpr (requires { body.identity.owner; }) {
                return validate_identity(body.identity);
            } else if constexpr (requires { body.identity->owner; }) {
                if (body.identity) return validate_identity(*body.identity);
                return {};
            } else {
                return {};
            }
        },
        request.body);
}

}  // namespace

Dispatcher::Dispatcher(asio::io_context& io, std::function<void()> request_stop)
    : m_io(io),
      m_request_stop(std::move(request_stop)),
      m_host(current_identity().host),
      m_started(std::chrono::steady_clock::now()),
      m_first_lines(io.get_executor(), k_first_line_timeout),
      m_file_events(io),
      m_busy_retries(io.get_executor()) {}

std::shared_ptr<Session> Dispatcher::add_session(Session::Socket socket, const std::optional<platform::PeerCredentials>& peer) {
    const ConnectionId id = m_next_connection++;
    auto session = std::make_shared<Session>(std::move(socket), id, *this);
    m_sessions.emplace(id, session);
    if (session->admit(peer, m_uid)) {
        ++m_per_process[session->peer_pid()];
        session->counted = true;
        log::debug("connection {}: open (pid {})", id, session->peer_pid());
        session->begin_reading();
        if (session->awaiting_first_line()) m_first_lines.watch(session);
    }
    state_changed();
    return session;
}

void Dispatcher::on_first_line(Session&) { m_first_lines.settle(); }

void Dispatcher::on_closed(Session& session) {
    const ConnectionId id = session.id();
    auto it = m_sessions.find(id);
    if (it == m_sessions.end()) return;
    auto keep_alive = it->second;  // the session finishes its call before it goes
    m_sessions.erase(it);
    if (auto count = m_per_process.find(session.peer_pid());
        session.counted && count != m_per_process.end() && --count->second == 0) {
        m_per_process.erase(count);
    }
    m_first_lines.settle();
    log::debug("connection {}: closed", id);
    for (auto& [root, service] : m_roots) service->connection_closed(id, m_stopping);
    if (auto bound = m_etcd_holds.find(id); bound != m_etcd_holds.end()) {
        // A guard on etcd that went away: its keys go now, not when the
        // lease runs out. At shutdown they stay: their guards keep the lease.
        if (!m_stopping) {
            std::map<EtcdLeaseKeeper*, std::vector<std::string>> by_keeper;
            for (auto& [keeper, key] : bound->second) by_keeper[keeper].push_back(key);
            for (auto& [keeper, keys] : by_keeper) {
                log::debug("connection {}: {} etcd key(s) to release", id, keys.size());
                keeper->release_dead(std::move(keys), "its guard's connection to loktd closed");
            }
        }
        m_etcd_holds.erase(bound);
    }
    state_changed();
}

std::size_t Dispatcher::connections_of(pid_t pid) const {
    auto it = m_per_process.find(pid);
    return it == m_per_process.end() ? 0 : it->second;
}

bool Dispatcher::make_room() {
    auto silent = m_first_lines.oldest_silent();
    if (!silent) return false;
    log::info("connection {}: closed to make room: no request yet, and the connection limit is reached", silent->id());
    silent->close();
    return true;
}

const Error& Dispatcher::noted(const Error& error) {
    if (error.busy && m_running) m_running->busy = error;
    return error;
}

void Dispatcher::on_drained(Session& session) {
    // Subscriptions paused while the client did not read go on from where they stopped.
    for (auto& [root, service] : m_roots) service->resume_audit(session.id());
}

void Dispatcher::close_all() {
    m_stopping = true;
    std::vector<std::shared_ptr<Session>> sessions;
    for (auto& [id, session] : m_sessions) sessions.push_back(session);
    for (auto& session : sessions) session->close_after_flush();
}

bool Dispatcher::idle() const {
    if (!m_sessions.empty()) return false;
    for (const auto& [root, service] : m_roots) {
        if (!service->idle()) return false;
    }
    return true;
}

void Dispatcher::state_changed() {
    if (m_state_observer) m_state_observer();
}

RootService* Dispatcher::existing_root(const std::string& root) {
    auto it = m_roots.find(normal_root(root));
    return it == m_roots.end() ? nullptr : it->second.get();
}

RootService& Dispatcher::root_service(const std::string& root) {
    const std::string key = normal_root(root);
    auto it = m_roots.find(key);
    if (it != m_roots.end()) return *it->second;
    log::debug("root {}: opened", key);
    RootOutput output{[this](Effects& effects) { deliver(effects); },
                      [this](std::vector<AuditLine>& lines) { deliver_audit(lines); },
                      [this, key] {
                          prune_later(key);
                          state_changed();
                      },
                      [this](ConnectionId connection) {
                          auto session = m_sessions.find(connection);
                          return session != m_sessions.end() && session->second->congested();
                      },
                      [this](ConnectionId connection) { return client_still_there(connection); }};
    auto service = std::make_unique<RootService>(m_io, m_file_events, key, m_host, std::move(output));
    prune_later(key);
    return *m_roots.emplace(key, std::move(service)).first->second;
}

void Dispatcher::prune_later(const std::string& root) {
    if (!m_prune_candidates.insert(root).second || m_prune_candidates.size() > 1) return;  // already posted
    asio::post(m_io, [this, alive = std::weak_ptr<bool>(m_alive)] {
        if (alive.lock()) prune_idle_roots();
    });
}

void Dispatcher::prune_idle_roots() {
    const auto candidates = std::move(m_prune_candidates);
    m_prune_candidates.clear();
    for (const auto& key : candidates) {
        auto it = m_roots.find(key);
        if (it == m_roots.end() || !it->second->idle()) continue;
        log::debug("root {}: nothing held, awaited or followed: closed", key);
        m_roots.erase(it);
    }
}

void Dispatcher::send_to(ConnectionId connection, std::string line) {
    auto it = m_sessions.find(connection);
    if (it != m_sessions.end()) it->second->send(std::move(line));
}

void Dispatcher::deliver(Effects& effects) {
    // Progress first: an acquire's reply always comes after its last progress line.
    for (const auto& note : effects.progress) {
        auto it = m_sessions.find(note.connection);
        if (it == m_sessions.end() || !it->second->wants_progress) continue;
        protocol::Progress progress;
        progress.id = note.request_id;
        progress.position = static_cast<std::uint32_t>(note.position);
        progress.queue_length = static_cast<std::uint32_t>(note.queue_length);
        if (note.refusal.holder) progress.holder = *note.refusal.holder;
        if (note.refusal.freeze) progress.freeze = *note.refusal.freeze;
        it->second->send(protocol::encode(progress));
    }
    for (auto& answer : effects.answers) {
        if (!answer.result && answer.result.error().busy && m_running && answer.connection == m_running->connection &&
            answer.request_id == m_running->id) {
            m_running->busy = answer.result.error();  // set aside by run_line, not answered
            continue;
        }
        protocol::Reply reply;
        if (!answer.result) {
            reply = error_reply(answer.request_id, protocol::Op::acquire, answer.result.error());
        } else if (!answer.result->granted()) {
            reply = refusal_reply(answer.request_id, answer.result->refusal);
        } else {
            protocol::AcquireReply body;
            body.lock = answer.result->record;
            body.outcome = answer.result->outcome;
            reply = protocol::Reply{answer.request_id, body};
        }
        log::debug("connection {}: acquire {} answered: {}", answer.connection, answer.request_id,
                   reply.ok() ? "granted" : std::get<protocol::ErrorReply>(reply.body).message);
        send_to(answer.connection, protocol::encode(reply));
    }
}

void Dispatcher::deliver_audit(std::vector<AuditLine>& lines) {
    for (auto& line : lines) {
        auto event = protocol::make_audit_event(line.subscription, line.line);
        if (!event) continue;
        send_to(line.connection, protocol::encode(*event));
    }
}

void Dispatcher::on_line(Session& session, std::string line) { run_line(session, line, std::nullopt, 0); }

void Dispatcher::run_line(Session& session, const std::string& line, std::optional<BusyRetries::Clock::time_point> busy_since,
                          unsigned attempt) {
    const auto started = std::chrono::steady_clock::now();
    auto decoded = protocol::decode_request(line);
    if (!decoded) {
        log::info("connection {}: refused request: {}", session.id(), decoded.error().message);
        session.send(protocol::encode(protocol::error_reply_for(line, decoded.error())));
        return;
    }
    const protocol::Request& request = *decoded;
    std::optional<protocol::Reply> reply;
    std::optional<Error> busy;
    try {
        if (session.peer_uid() != m_uid) {
            // Refused before reading in Session::admit; this is the second lock on the door.
            session.close();
            return;
        }
        if (!session.hello_done && request.op() != protocol::Op::hello) {
            reply = error_reply(request.id, request.op(), make_error(ErrorCode::usage, "the first request must be hello"));
        } else if (session.hello_done && request.op() == protocol::Op::hello) {
            reply =
                error_reply(request.id, request.op(), make_error(ErrorCode::usage, "hello was already said on this connection"));
        } else if (m_stopping && request.op() != protocol::Op::hello) {
            reply = error_reply(request.id, request.op(), make_error(ErrorCode::unavailable, "the daemon is stopping"));
        } else if (auto valid = valid_identity(request); !valid) {
            // As the client refuses LOKT_OWNER or LOKT_AGENT_ID over the
            // limit: a lock file must stay readable to everyone else.
            reply = error_reply(request.id, request.op(), valid.error());
        } else {
            m_running = Running{session.id(), request.id, std::nullopt};
            reply = handle(session, request);
            busy = std::move(m_running->busy);
            // An acquire found busy: its answer was held back.
            if (busy && !reply) reply = error_reply(request.id, request.op(), *busy);
        }
    } catch (const std::exception& error) {
        log::error("connection {}: request {} ({}) failed: {}", session.id(), request.id, protocol::to_string(request.op()),
                   error.what());
        reply = error_reply(request.id, request.op(),
                            make_error(ErrorCode::internal, std::string("internal error: ") + error.what()));
    }
    m_running.reset();
    // A name's mutex was held by another process: nothing was done, and the
    // request is run again later, the connection's next lines after it.
    if (busy) {
        const auto first = busy_since.value_or(started);
        if (started - first < k_busy_give_up) {
            if (attempt == 0) {
                log::info("connection {}: {} {} {}: {}; trying again later", session.id(), request.id,
                          protocol::to_string(request.op()), request_subject(request), busy->message);
            }
            session.hold_input();
            m_busy_retries.add(first, attempt + 1,
                               [this, weak = std::weak_ptr<Session>(session.shared_from_this()), line](
                                   BusyRetries::Clock::time_point since, unsigned again) {
                                   auto held = weak.lock();
                                   if (!held || !held->open()) return;
                                   held->release_input();
                                   run_line(*held, line, since, again);
                               });
            return;
        }
    }
    const auto took = std::chrono::steady_clock::now() - started;
    const auto level = took > k_slow_request ? log::Level::info : log::Level::debug;
    if (log::enabled(level)) {
        log::at(level, "connection {}: {} {} {} -> {} in {}us", session.id(), request.id, protocol::to_string(request.op()),
                request_subject(request),
                !reply        ? "pending"
                : reply->ok() ? "ok"
                              : std::string(to_string(std::get<protocol::ErrorReply>(reply->body).code)),
                std::chrono::duration_cast<std::chrono::microseconds>(took).count());
    }
    if (reply) session.send(protocol::encode(*reply));
}

std::optional<protocol::Reply> Dispatcher::handle(Session& session, const protocol::Request& request) {
    const std::uint64_t id = request.id;
    return std::visit(
        [&](const auto& body) -> std::optional<protocol::Reply> {
            using T = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<T, protocol::HelloRequest>)
                return on_hello(session, id, body);
            else if constexpr (std::is_same_v<T, protocol::AcquireRequest>)
                return on_acquire(session, id, body);
            else if constexpr (std::is_same_v<T, protocol::ReleaseRequest>)
                return on_release(id, body);
            else if constexpr (std::is_same_v<T, protocol::RenewRequest>)
                return on_renew(id, body);
            else if constexpr (std::is_same_v<T, protocol::UnlockRequest>)
                return on_unlock(id, body);
            else if constexpr (std::is_same_v<T, protocol::UnlockManyRequest>)
                return on_unlock_many(id, body);
            else if constexpr (std::is_same_v<T, protocol::StatusRequest>)
                return on_status(id, body);
            else if constexpr (std::is_same_v<T, protocol::FreezeRequest>)
                return on_freeze(id, body);
            else if constexpr (std::is_same_v<T, protocol::UnfreezeRequest>)
                return on_unfreeze(id, body);
            else if constexpr (std::is_same_v<T, protocol::SubscribeAuditRequest>)
                return on_subscribe(session, id, body);
            else if constexpr (std::is_same_v<T, protocol::UnsubscribeRequest>)
                return on_unsubscribe(session, id, body);
            else if constexpr (std::is_same_v<T, protocol::DaemonStatusRequest>)
                return on_daemon_status(id);
            else if constexpr (std::is_same_v<T, protocol::EtcdHoldRequest>)
                return on_etcd_hold(session, id, body);
            else {
                static_assert(std::is_same_v<T, protocol::ShutdownRequest>);
                log::info("shutdown requested on connection {}", session.id());
                asio::post(m_io, [this] { m_request_stop(); });
                return protocol::Reply{id, protocol::ShutdownReply{}};
            }
        },
        request.body);
}

protocol::Reply Dispatcher::on_hello(Session& session, std::uint64_t id, const protocol::HelloRequest& hello) {
    auto version = protocol::negotiate_version(hello.protocol, protocol::k_supported_versions);
    if (!version) {
        protocol::ErrorReply body;
        body.op = protocol::Op::hello;
        body.code = version.error().code;
        body.message = version.error().message;
        body.supported = protocol::k_supported_versions;
        return protocol::Reply{id, body};
    }
    session.hello_done = true;
    session.protocol_version = *version;
    for (const auto& word : hello.capabilities) {
        if (word == protocol::k_capability_progress) session.wants_progress = true;
    }
    protocol::HelloReply reply;
    reply.protocol = *version;
    reply.daemon_version = k_version;
    reply.daemon_build = k_build_id;
    reply.daemon_pid = static_cast<std::int32_t>(m_pid);
    reply.capabilities = {std::string(protocol::k_capability_progress)};
    log::debug("connection {}: hello from lokt {} ({})", session.id(), hello.client_version, hello.client_build);
    return protocol::Reply{id, reply};
}

bool Dispatcher::client_still_there(ConnectionId connection) const {
    auto it = m_sessions.find(connection);
    return it != m_sessions.end() && it->second->open() && !it->second->peer_hung_up();
}

std::optional<protocol::Reply> Dispatcher::on_acquire(Session& session, std::uint64_t id,
                                                      const protocol::AcquireRequest& request) {
    if (session.peer_hung_up()) {
        // Read late (we were stopped, say): the client gave up on us and went
        // on with the files before we saw this. Acting on it would make a hold,
        // or a place in a queue, for nobody. The closed connection comes next.
        log::info("connection {}: acquire {} of \"{}\" dropped: the client has gone", session.id(), id, request.name);
        return std::nullopt;
    }
    if (auto valid = validate_lock_name(request.name); !valid) return error_reply(id, protocol::Op::acquire, valid.error());
    std::optional<Nanoseconds> ttl;
    if (request.ttl_ms) {
        auto checked = request_duration(*request.ttl_ms, "--ttl", k_min_ttl);
        if (!checked) return error_reply(id, protocol::Op::acquire, checked.error());
        ttl = *checked;
    }
    AcquireTicket ticket;
    ticket.connection = session.id();
    ticket.request_id = id;
    ticket.actor = request.identity;
    ticket.wait = request.wait;
    ticket.progress = session.wants_progress;
    if (request.timeout_ms) {
        auto timeout = request_duration(*request.timeout_ms, "--timeout", Nanoseconds::zero());
        if (!timeout) return error_reply(id, protocol::Op::acquire, timeout.error());
        ticket.timeout = *timeout;
    }
    AcquireSpec& spec = ticket.spec;
    spec.name = request.name;
    spec.ttl = ttl;
    spec.inherited_lock_id = request.nested_lock_id;
    spec.group = request.group;
    spec.slots = request.slots;
    spec.shared = request.shared;
    spec.waiting = request.wait;
    spec.look_first = request.wait;  // waiting behind a holder writes nothing (a full disk does not stop it)
    if (request.mode == protocol::AcquireMode::guard) {
        spec.binding = Binding::guard;
        spec.holder = ticket.actor;
        spec.handle = request.handle;
    } else if (request.ttl_ms) {
        // A TTL-bound manual lock names the daemon, alive while it keeps the
        // lock in mind, so tools that judge a holder by pid alone do not prune it.
        spec.binding = Binding::ttl;
        spec.holder = rebind(ticket.actor, ::getpid(), process_start_ticks(::getpid()));
    } else {
        spec.binding = Binding::process;
        const pid_t pid = request.bound_pid.value_or(0);
        auto start = request.bound_pid_start ? request.bound_pid_start : process_start_ticks(pid);
        spec.holder = rebind(ticket.actor, pid, start);
    }
    root_service(request.root).acquire(std::move(ticket));
    return std::nullopt;  // answered through deliver(), now or when granted
}

Identity Dispatcher::actor_for(const std::string& root, const std::string& name, const std::string& lock_id,
                               const std::optional<Identity>& requester) {
    if (requester) return *requester;
    // An older client does not say who it is: the holder this daemon knows, if any.
    if (auto* service = existing_root(root)) {
        if (auto actor = service->state().hold_actor(name, lock_id)) return *actor;
    }
    Identity nobody;
    nobody.host = m_host;
    return nobody;
}

protocol::Reply Dispatcher::on_release(std::uint64_t id, const protocol::ReleaseRequest& request) {
    if (auto valid = validate_lock_name(request.name); !valid) return error_reply(id, protocol::Op::release, valid.error());
    const Identity actor = actor_for(request.root, request.name, request.lock_id, request.identity);
    ReleaseNote note;
    if (request.exit_status) note.exit_status = static_cast<int>(*request.exit_status);
    note.group = request.group;
    auto released = root_service(request.root).release(request.name, request.lock_id, actor, note);
    if (!released) return error_reply(id, protocol::Op::release, noted(released.error()));
    return protocol::Reply{id, protocol::ReleaseReply{}};
}

protocol::Reply Dispatcher::on_renew(std::uint64_t id, const protocol::RenewRequest& request) {
    if (auto valid = validate_lock_name(request.name); !valid) return error_reply(id, protocol::Op::renew, valid.error());
    auto ttl = request_duration(request.ttl_ms, "--ttl", k_min_ttl);
    if (!ttl) return error_reply(id, protocol::Op::renew, ttl.error());
    const Identity actor = actor_for(request.root, request.name, request.lock_id, request.identity);
    auto renewed = root_service(request.root).renew(request.name, request.lock_id, *ttl, actor);
    if (!renewed) return error_reply(id, protocol::Op::renew, noted(renewed.error()));
    return protocol::Reply{id, protocol::RenewReply{*renewed}};
}

protocol::Reply Dispatcher::on_unlock(std::uint64_t id, const protocol::UnlockRequest& request) {
    if (auto valid = validate_lock_name(request.name); !valid) return error_reply(id, protocol::Op::unlock, valid.error());
    auto removed = root_service(request.root).unlock(request.name, request.mode, request.identity);
    if (!removed) return error_reply(id, protocol::Op::unlock, noted(removed.error()));
    protocol::UnlockReply reply;
    if (!removed->name.empty()) reply.lock = *removed;
    return protocol::Reply{id, reply};
}

protocol::Reply Dispatcher::on_unlock_many(std::uint64_t id, const protocol::UnlockManyRequest& request) {
    auto done = root_service(request.root).unlock_many(request.owner, request.force, request.identity);
    if (!done) return error_reply(id, protocol::Op::unlock_many, noted(done.error()));
    protocol::UnlockManyReply reply;
    for (const auto& record : done->released) reply.released.push_back(record);
    for (const auto& refusal : done->refused) {
        reply.refused.push_back(protocol::UnlockRefusal{refusal.code, refusal.message, *refusal.holder});
    }
    return protocol::Reply{id, reply};
}

protocol::Reply Dispatcher::on_status(std::uint64_t id, const protocol::StatusRequest& request) {
    if (!request.name.empty()) {
        if (auto valid = validate_lock_name(request.name); !valid) return error_reply(id, protocol::Op::status, valid.error());
    }
    const Identity actor = request.identity ? *request.identity : current_identity();
    auto report = root_service(request.root).status(request.name, request.prune_expired, actor);
    if (!report) return error_reply(id, protocol::Op::status, noted(report.error()));
    protocol::StatusReply reply;
    for (const auto& lock : report->locks) {
        reply.locks.push_back(protocol::LockStatus{lock.record, lock.state, static_cast<std::uint32_t>(lock.waiters)});
    }
    for (const auto& freeze : report->freezes) reply.freezes.push_back(freeze);
    for (const auto& pruned : report->pruned) reply.pruned.push_back(pruned);
    reply.waiting.emplace();
    for (const auto& [name, queued] : report->waiting) {
        const auto waited = std::chrono::duration_cast<Milliseconds>(queued.waited).count();
        reply.waiting->push_back(protocol::WaiterInfo{name, static_cast<std::uint32_t>(queued.position), queued.holder,
                                                      static_cast<std::uint64_t>(waited),
                                                      queued.shared ? "shared" : "exclusive"});
    }
    return protocol::Reply{id, reply};
}

protocol::Reply Dispatcher::on_freeze(std::uint64_t id, const protocol::FreezeRequest& request) {
    if (auto valid = validate_lock_name(request.name); !valid) return error_reply(id, protocol::Op::freeze, valid.error());
    auto ttl = request_duration(request.ttl_ms, "--ttl", k_min_ttl);
    if (!ttl) return error_reply(id, protocol::Op::freeze, ttl.error());
    auto outcome = root_service(request.root).freeze(request.name, *ttl, request.force, request.identity);
    if (!outcome.frozen) {
        protocol::Reply reply = error_reply(id, protocol::Op::freeze, noted(outcome.frozen.error()));
        if (outcome.standing) std::get<protocol::ErrorReply>(reply.body).freeze = *outcome.standing;
        return reply;
    }
    return protocol::Reply{id, protocol::FreezeReply{*outcome.frozen}};
}

protocol::Reply Dispatcher::on_unfreeze(std::uint64_t id, const protocol::UnfreezeRequest& request) {
    if (auto valid = validate_lock_name(request.name); !valid) return error_reply(id, protocol::Op::unfreeze, valid.error());
    auto removed = root_service(request.root).unfreeze(request.name, request.force, request.identity);
    if (!removed) return error_reply(id, protocol::Op::unfreeze, noted(removed.error()));
    protocol::UnfreezeReply reply;
    if (!removed->name.empty()) reply.freeze = *removed;
    return protocol::Reply{id, reply};
}

std::optional<protocol::Reply> Dispatcher::on_subscribe(Session& session, std::uint64_t id,
                                                        const protocol::SubscribeAuditRequest& request) {
    if (!request.name.empty()) {
        if (auto valid = validate_lock_name(request.name); !valid)
            return error_reply(id, protocol::Op::subscribe_audit, valid.error());
    }
    std::optional<WallTime> since;
    if (!request.since.empty()) {
        since = parse_rfc3339(request.since);
        if (!since) {
            return error_reply(id, protocol::Op::subscribe_audit,
                               make_error(ErrorCode::usage, "invalid request: field \"since\" must be an RFC 3339 time"));
        }
    }
    auto& service = root_service(request.root);
    auto subscribed = service.subscribe(session.id(), id, since, request.name);
    if (!subscribed) return error_reply(id, protocol::Op::subscribe_audit, subscribed.error());
    // The reply first, then the history asked for, then whatever is written later.
    session.send(protocol::encode(protocol::Reply{id, protocol::SubscribeAuditReply{}}));
    service.follow_audit();
    return std::nullopt;
}

protocol::Reply Dispatcher::on_unsubscribe(Session& session, std::uint64_t id, const protocol::UnsubscribeRequest& request) {
    bool removed = false;
    for (auto& [root, service] : m_roots) removed = service->unsubscribe(session.id(), request.subscription) || removed;
    if (!removed) {
        return error_reply(
            id, protocol::Op::unsubscribe,
            make_error(ErrorCode::not_found, "no subscription " + std::to_string(request.subscription) + " on this connection"));
    }
    return protocol::Reply{id, protocol::UnsubscribeReply{}};
}

std::optional<protocol::Reply> Dispatcher::on_etcd_hold(Session& session, std::uint64_t id,
                                                        const protocol::EtcdHoldRequest& request) {
    if (session.protocol_version < protocol::k_version_with_etcd_hold) {
        return error_reply(id, protocol::Op::etcd_hold,
                           make_error(ErrorCode::unsupported,
                                      "etcd_hold needs protocol version " + std::to_string(protocol::k_version_with_etcd_hold) +
                                          "; this connection agreed on version " + std::to_string(session.protocol_version)));
    }
    auto endpoints = etcd::parse_endpoints(request.endpoints);
    if (!endpoints) return error_reply(id, protocol::Op::etcd_hold, endpoints.error());
    const std::int64_t ttl_sec = static_cast<std::int64_t>((request.ttl_ms + 999) / 1000);
    // One keeper per cluster (as named, with its credentials), namespace and TTL.
    const std::string keeper_key = nlohmann::json::array({request.endpoints, request.cacert, request.cert, request.key,
                                                          request.user, request.password, request.prefix, ttl_sec})
                                       .dump();
    auto& keeper = m_etcd[keeper_key];
    if (!keeper) {
        etcd::ClientOptions options;
        options.endpoints = std::move(endpoints.value());
        options.tls.ca_file = request.cacert;
        options.tls.cert_file = request.cert;
        options.tls.key_file = request.key;
        options.user = request.user;
        options.password = request.password;
        keeper = std::make_unique<EtcdLeaseKeeper>(m_io, std::move(options), request.prefix, ttl_sec, current_identity());
        log::info("etcd {} at {}: a lease of {}s for this host's guards", request.prefix, request.endpoints, ttl_sec);
    }
    // Bound before the lease is even granted: a client that goes now leaves
    // nothing behind, whatever it managed to write.
    m_etcd_holds[session.id()].emplace_back(keeper.get(), request.hold_key);
    keeper->lease([this, alive = std::weak_ptr<bool>(m_alive), connection = session.id(), id](Result<std::int64_t> lease) {
        if (alive.expired()) return;
        protocol::Reply reply = lease ? protocol::Reply{id, protocol::EtcdHoldReply{static_cast<std::uint64_t>(*lease)}}
                                      : error_reply(id, protocol::Op::etcd_hold, lease.error());
        send_to(connection, protocol::encode(reply));
    });
    return std::nullopt;
}

protocol::Reply Dispatcher::on_daemon_status(std::uint64_t id) {
    protocol::DaemonStatusReply reply;
    reply.daemon_pid = static_cast<std::int32_t>(m_pid);
    reply.daemon_version = k_version;
    reply.uptime_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<Milliseconds>(std::chrono::steady_clock::now() - m_started).count());
    reply.connections = static_cast<std::uint32_t>(m_sessions.size());
    for (const auto& [root, service] : m_roots) {
        protocol::RootStatus status;
        status.root = root;
        status.holds = static_cast<std::uint32_t>(service->state().hold_count());
        status.waiters = static_cast<std::uint32_t>(service->state().waiter_count());
        status.subscriptions = static_cast<std::uint32_t>(service->subscription_count());
        status.unwatched = service->unwatched();
        reply.holds += status.holds;
        reply.waiters += status.waiters;
        reply.roots.push_back(std::move(status));
    }
    return protocol::Reply{id, reply};
}

}  // namespace lokt::daemon
