// See server.hpp.
#include "daemon/server.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/platform/peer_credentials.hpp"
#include "common/sys_error.hpp"
#include "daemon/log.hpp"
#include "daemon/socket_activation.hpp"
#include "daemon/socket_path.hpp"
#include "protocol/messages.hpp"

namespace lokt::daemon {
namespace {

// Does something accept connections on this path right now?
bool socket_answers(const std::filesystem::path& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    return ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
}

}  // namespace

Server::Server(asio::io_context& io, ServerOptions options)
    : m_io(io),
      m_options(std::move(options)),
      m_acceptor(io),
      m_signals(io, SIGTERM, SIGINT),
      m_idle_timer(io.get_executor()),
      m_pause_timer(io.get_executor()),
      m_drain_timer(io.get_executor()),
      m_dispatcher(io, [this] { stop(); }) {
    m_dispatcher.set_state_observer([this] { check_idle(); });
}

Server::~Server() {
    if (m_bound) ::unlink(m_options.socket_path.c_str());
}

Result<void> Server::open() {
    const auto activated = activated_sockets();
    if (!activated.empty()) {
        asio::error_code error;
        m_acceptor.assign(asio::local::stream_protocol(), activated.front(), error);
        if (error) return make_error(ErrorCode::io, "cannot adopt the socket passed by systemd: " + error.message());
        m_activated = true;
        log::info("listening on the socket passed by the service manager (fd {})", activated.front());
        return {};
    }

    const auto& path = m_options.socket_path;
    if (path.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
        return make_error(ErrorCode::io, "socket path " + path.string() + " is too long for a Unix socket");
    }
    if (auto ready = prepare_socket_directory(path.parent_path()); !ready) return ready;

    // One daemon per socket: the lock is dropped by the kernel when we die, so a
    // crashed daemon never blocks the next one.
    const std::string lock_path = path.string() + ".lock";
    m_instance_lock.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!m_instance_lock) return sys_error("cannot open", lock_path, errno);
    if (::flock(m_instance_lock.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) return make_error(ErrorCode::unavailable, "loktd is already running on " + path.string());
        return sys_error("cannot lock", lock_path, errno);
    }
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0) {
        if (!S_ISSOCK(info.st_mode)) {
            return make_error(ErrorCode::io,
                              path.string() + " exists and is not a socket; remove it or choose another LOKT_SOCKET");
        }
        if (socket_answers(path)) return make_error(ErrorCode::unavailable, "loktd is already running on " + path.string());
        log::info("replacing the stale socket {}", path.string());
        ::unlink(path.c_str());
    }
    asio::error_code error;
    const asio::local::stream_protocol::endpoint endpoint(path.string());
    m_acceptor.open(endpoint.protocol(), error);
    if (!error) m_acceptor.bind(endpoint, error);
    if (error) return make_error(ErrorCode::io, "cannot listen on " + path.string() + ": " + error.message());
    m_bound = true;
    ::chmod(path.c_str(), 0600);
    m_acceptor.listen(asio::socket_base::max_listen_connections, error);
    if (error) return make_error(ErrorCode::io, "cannot listen on " + path.string() + ": " + error.message());
    log::info("listening on {}", path.string());
    return {};
}

void Server::start() {
    m_signals.async_wait([this](const asio::error_code& error, int signal) {
        if (error) return;
        log::info("signal {}: stopping; every lock stays on disk", signal);
        stop();
    });
    accept_next();
    check_idle();
}

void Server::accept_next() {
    m_acceptor.async_accept([this](const asio::error_code& error, asio::local::stream_protocol::socket socket) {
        if (m_stopped) return;
        if (error) {
            if (error == asio::error::operation_aborted) return;
            log::warn("accept failed: {}", error.message());
            if (error == asio::error::no_descriptors || error == asio::error::no_buffer_space) {
                // Out of descriptors: pause briefly instead of spinning.
                m_pause_timer.expires_after(std::chrono::milliseconds(100));
                m_pause_timer.async_wait([this](const asio::error_code& paused) {
                    if (!paused) accept_next();
                });
                return;
            }
        } else {
            admit(std::move(socket));
        }
        accept_next();
    });
}

void Server::admit(asio::local::stream_protocol::socket socket) {
    // Another user's connection is closed by the session before a byte is
    // read; it takes no place from ours.
    const auto peer = platform::peer_credentials(socket.native_handle());
    if (peer && peer->uid == m_uid) {
        const std::size_t per_process =
            m_options.max_connections_per_process != 0
                ? m_options.max_connections_per_process
                : std::max(m_options.max_connections / 4, std::min<std::size_t>(m_options.max_connections, 64));
        if (m_dispatcher.connections_of(peer->pid) >= per_process) {
            log::warn("refusing a connection from pid {}: it has {} open, the limit per process", peer->pid, per_process);
            refuse(std::move(socket), "loktd serves at most " + std::to_string(per_process) +
                                          " connections at once from one process, and pid " + std::to_string(peer->pid) +
                                          " has that many; close some, or try again later");
            return;
        }
    }
    if (m_dispatcher.connection_count() >= m_options.max_connections && !m_dispatcher.make_room()) {
        log::warn("refusing a connection: {} are open, the limit", m_options.max_connections);
        refuse(std::move(socket),
               "loktd serves at most " + std::to_string(m_options.max_connections) + " connections at once; try again later");
        return;
    }
    m_dispatcher.add_session(std::move(socket), peer);
}

void Server::refuse(asio::local::stream_protocol::socket socket, const std::string& message) {
    protocol::ErrorReply body;
    body.code = ErrorCode::unavailable;
    body.message = message;
    const std::string line = protocol::encode(protocol::Reply{0, body});
    // Best effort and never blocking: a fresh socket's buffer takes one short line.
    asio::error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(line), ignored);
    socket.close(ignored);
}

void Server::check_idle() {
    if (!m_options.idle_exit || m_stopped) return;
    const bool idle = m_dispatcher.idle();
    if (idle && !m_idle_armed) {
        m_idle_armed = true;
        m_idle_timer.expires_after(*m_options.idle_exit);
        m_idle_timer.async_wait([this](const asio::error_code& error) {
            if (error) return;
            m_idle_armed = false;
            if (!m_dispatcher.idle()) return;
            log::info("idle for {} ms: exiting", m_options.idle_exit->count());
            stop();
        });
    } else if (!idle && m_idle_armed) {
        m_idle_armed = false;
        m_idle_timer.cancel();
    }
}

void Server::stop() {
    if (m_stopped) return;
    m_stopped = true;
    asio::error_code ignored;
    m_acceptor.close(ignored);
    m_signals.cancel(ignored);
    m_idle_timer.cancel();
    m_dispatcher.close_all();
    // Let queued replies (the shutdown answer) go out, then stop the loop.
    m_drain_timer.expires_after(std::chrono::milliseconds(50));
    m_drain_timer.async_wait([this](const asio::error_code&) { m_io.stop(); });
}

}  // namespace lokt::daemon
