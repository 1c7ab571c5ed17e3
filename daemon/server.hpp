// The listening side of loktd: the Unix socket (adopted from systemd or bound
// by us), the accept loop, the signals that stop it, and the idle exit. A
// stale socket file left by a dead daemon is replaced; a live daemon on the
// same socket means this one does not start.
#pragma once

#include <unistd.h>

#include <asio.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "daemon/dispatcher.hpp"
#include "daemon/wakeup_timer.hpp"

namespace lokt::daemon {

struct ServerOptions {
    std::filesystem::path socket_path;
    // Exit after this long with nothing connected, held, queued or subscribed.
    std::optional<std::chrono::milliseconds> idle_exit;
    // Connections served at once; more are answered with an error and closed.
    // Lowered at start so that two descriptors per connection fit the fd limit.
    std::size_t max_connections = 1024;
    // Connections served at once from one process: a process that opens
    // connections in a loop leaves the others room. 0: the default,
    // max_connections / 4, but at least min(max_connections, 64).
    std::size_t max_connections_per_process = 0;
};

class Server {
public:
    Server(asio::io_context& io, ServerOptions options);
    ~Server();

    // Adopts a socket from systemd, or binds our own. Fails (exit 1) when another
    // daemon already answers on the socket or the directory is not safe.
    Result<void> open();
    // Accepts until stopped by a signal, a shutdown request or the idle exit.
    void start();
    void stop();
    bool activated() const { return m_activated; }

private:
    void accept_next();
    void admit(asio::local::stream_protocol::socket socket);
    void refuse(asio::local::stream_protocol::socket socket, const std::string& message);
    void check_idle();

    asio::io_context& m_io;
    ServerOptions m_options;
    asio::local::stream_protocol::acceptor m_acceptor;
    asio::signal_set m_signals;
    WakeupTimer m_idle_timer;
    WakeupTimer m_pause_timer;  // after running out of descriptors
    WakeupTimer m_drain_timer;  // lets the last replies out at stop
    Dispatcher m_dispatcher;
    UniqueFd m_instance_lock;  // held for our lifetime: one daemon per socket
    bool m_activated = false;
    bool m_bound = false;  // we created the socket file (and remove it on exit)
    bool m_stopped = false;
    bool m_idle_armed = false;
    const uid_t m_uid = ::geteuid();  // the only user served
};

}  // namespace lokt::daemon
