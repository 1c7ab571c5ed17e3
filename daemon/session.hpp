// One client connection. The peer's uid (SO_PEERCRED) is checked before a byte
// is read, and a connection from another user is closed at once. Bytes become
// lines under the protocol's 64 KiB limit; the first line must arrive within a
// few seconds; what we send waits in a bounded queue, and a client that stops
// reading while it grows past the bound is disconnected rather than allowed to
// grow the daemon without limit.
#pragma once

#include <array>
#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "daemon/root_state.hpp"
#include "protocol/line_framer.hpp"

namespace lokt::daemon {

class Session;

// What a session reports to: the dispatcher.
class SessionHost {
public:
    virtual ~SessionHost() = default;
    virtual void on_first_line(Session& session) = 0;
    virtual void on_line(Session& session, std::string line) = 0;
    virtual void on_closed(Session& session) = 0;
};

inline constexpr std::chrono::seconds k_first_line_timeout{5};
inline constexpr std::size_t k_max_output_bytes = 32 * 1024 * 1024;

class Session : public std::enable_shared_from_this<Session> {
public:
    using Socket = asio::local::stream_protocol::socket;

    Session(Socket socket, ConnectionId id, SessionHost& host);

    // Checks the peer; false when it was refused (and the connection closed).
    bool admit();
    // Handles the lines already sent, then reads on.
    void begin_reading();
    // Queues one encoded line (ending in '\n').
    void send(std::string line);
    // Sends what is queued, then closes.
    void close_after_flush();
    // Closes now; the host hears of it once.
    void close();

    // The first line is due within k_first_line_timeout of the connection
    // (the host keeps the deadline: see first_line_deadlines.hpp).
    bool awaiting_first_line() const { return !m_got_line && !m_closed; }
    void expire_first_line();

    ConnectionId id() const { return m_id; }
    bool open() const { return !m_closed; }
    // The client has closed its end, whether or not we have read up to it yet
    // (one poll, no read): what it sent before is stale.
    bool peer_hung_up() const;
    uid_t peer_uid() const { return m_peer_uid; }
    pid_t peer_pid() const { return m_peer_pid; }

    // Set by the dispatcher after a successful hello.
    bool hello_done = false;
    bool wants_progress = false;

private:
    void read_more();
    void on_read(const asio::error_code& error, std::size_t bytes);
    void write_more();

    Socket m_socket;
    ConnectionId m_id;
    SessionHost& m_host;
    protocol::LineFramer m_framer;
    std::array<char, 16 * 1024> m_read_buffer{};
    std::deque<std::string> m_out;
    std::size_t m_out_bytes = 0;
    bool m_writing = false;
    // While the lines of one read are handled, answers wait and then go out in
    // one write: a client that sent hello and its first request together
    // wakes once for both replies.
    bool m_handling_read = false;
    std::size_t m_in_flight = 0;  // lines of m_out being written
    bool m_closing = false;
    bool m_closed = false;
    bool m_got_line = false;
    uid_t m_peer_uid = static_cast<uid_t>(-1);
    pid_t m_peer_pid = 0;
};

}  // namespace lokt::daemon
