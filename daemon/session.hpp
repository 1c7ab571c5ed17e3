// One client connection. The peer's uid (SO_PEERCRED) is checked before a byte
// is read, and a connection from another user is closed at once. Bytes become
// lines under the protocol's 64 KiB limit; the first line must arrive within a
// few seconds.
//
// One connection cannot crowd out the others. At most k_lines_per_turn of its
// lines are handled per turn of the event loop, then the other connections
// have theirs. What we send waits in a queue; while that queue holds more
// than k_output_high_water bytes the client is not reading its answers, and
// no more of its requests are read until the queue is down to
// k_output_low_water (its audit subscriptions pause too: see
// RootService::follow_audit). A queue that still grows past
// k_max_output_bytes closes the connection.
#pragma once

#include <array>
#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "common/platform/peer_credentials.hpp"
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
    // The queue of a congested session went down to the low-water mark.
    virtual void on_drained(Session& session) = 0;
};

inline constexpr std::chrono::seconds k_first_line_timeout{5};
inline constexpr std::size_t k_max_output_bytes = 32 * 1024 * 1024;
inline constexpr std::size_t k_output_high_water = 256 * 1024;
inline constexpr std::size_t k_output_low_water = 64 * 1024;
inline constexpr std::size_t k_lines_per_turn = 16;

class Session : public std::enable_shared_from_this<Session> {
public:
    using Socket = asio::local::stream_protocol::socket;

    Session(Socket socket, ConnectionId id, SessionHost& host);

    // Checks the peer, as the server read it at accept (nullopt: it could
    // not be read); false when it was refused (and the connection closed).
    bool admit(const std::optional<platform::PeerCredentials>& peer, uid_t served_uid);
    // Handles the lines already sent, then reads on.
    void begin_reading();
    // Queues one encoded line (ending in '\n').
    void send(std::string line);
    // Sends what is queued, then closes.
    void close_after_flush();
    // Closes now; the host hears of it once.
    void close();
    // The client is not reading what we send: more than the high-water mark
    // is queued (until it is down to the low-water mark again).
    bool congested() const { return m_congested; }
    // Stops handling this connection's lines until as many release_input()
    // calls (a request set aside is run again first: answers stay in order).
    void hold_input() { ++m_input_holds; }
    void release_input();

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
    std::uint32_t protocol_version = 1;  // agreed in the hello
    // Counted among its process's connections (set by the dispatcher on admission).
    bool counted = false;
    bool wants_progress = false;

private:
    void read_more();
    void on_read(const asio::error_code& error, std::size_t bytes);
    // Handles up to k_lines_per_turn complete lines, then reads on, comes
    // back on the next turn, or waits for the client to read its answers.
    void handle_lines();
    bool may_handle() const { return !m_closed && !m_closing && !m_congested && m_input_holds == 0; }
    // Input stopped (held or congested): start again if it may.
    void resume_input();
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
    bool m_congested = false;
    bool m_input_stopped = false;  // lines are waiting for may_handle()
    bool m_turn_posted = false;    // handle_lines() comes back on the next turn
    unsigned m_input_holds = 0;
    bool m_got_line = false;
    uid_t m_peer_uid = static_cast<uid_t>(-1);
    pid_t m_peer_pid = 0;
};

}  // namespace lokt::daemon
