// See session.hpp.
#include "daemon/session.hpp"

#include <poll.h>
#include <unistd.h>

#include <vector>

#include "daemon/log.hpp"
#include "protocol/messages.hpp"

namespace lokt::daemon {

Session::Session(Socket socket, ConnectionId id, SessionHost& host) : m_socket(std::move(socket)), m_id(id), m_host(host) {}

bool Session::admit(const std::optional<platform::PeerCredentials>& cred, uid_t served_uid) {
    if (!cred) {
        log::warn("connection {}: cannot read peer credentials; closing", m_id);
        close();
        return false;
    }
    m_peer_uid = cred->uid;
    m_peer_pid = cred->pid;
    if (cred->uid != served_uid) {
        log::warn("connection {}: refused uid {} (pid {}): only uid {} may connect", m_id, cred->uid, cred->pid, served_uid);
        close();
        return false;
    }
    return true;
}

bool Session::peer_hung_up() const {
    if (m_closed) return true;
    // POLLHUP on a Unix stream socket: both directions are shut, which a
    // peer's close() does (a peer's shutdown(SHUT_WR) alone raises only
    // POLLRDHUP, and such a client still reads its answers).
    struct pollfd pfd = {const_cast<Socket&>(m_socket).native_handle(), POLLRDHUP, 0};
    return ::poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP) != 0;
}

void Session::begin_reading() {
    // A client usually sends its first request with the connection (hello
    // and a guard's acquire in one write). Reading what is there already
    // handles it now, and the first-line deadline is kept only for a
    // connection that is still silent.
    asio::error_code error;
    m_socket.non_blocking(true, error);
    std::size_t bytes = 0;
    if (!error) bytes = m_socket.read_some(asio::buffer(m_read_buffer), error);
    if (error == asio::error::would_block || error == asio::error::try_again) {
        read_more();
    } else {
        on_read(error, bytes);
    }
}

void Session::expire_first_line() {
    if (!awaiting_first_line()) return;
    log::info("connection {}: no request within {}s; closing", m_id, k_first_line_timeout.count());
    close();
}

void Session::read_more() {
    if (m_closed || m_closing) return;
    auto self = shared_from_this();
    m_socket.async_read_some(asio::buffer(m_read_buffer),
                             [self](const asio::error_code& error, std::size_t bytes) { self->on_read(error, bytes); });
}

void Session::on_read(const asio::error_code& error, std::size_t bytes) {
    if (m_closed || m_closing) return;
    if (error) {
        close();
        return;
    }
    m_framer.feed(std::string_view(m_read_buffer.data(), bytes));
    handle_lines();
}

void Session::handle_lines() {
    if (m_closed || m_closing) return;
    m_handling_read = true;
    std::size_t handled = 0;
    bool more = false;
    while (may_handle()) {
        if (handled == k_lines_per_turn) {
            more = true;
            break;
        }
        auto line = m_framer.next_line();
        if (!line) break;
        ++handled;
        if (!m_got_line) {
            m_got_line = true;
            m_host.on_first_line(*this);
        }
        m_host.on_line(*this, std::move(*line));
    }
    m_handling_read = false;
    write_more();
    if (m_closed || m_closing) return;
    if (!may_handle()) {
        m_input_stopped = true;  // resume_input() carries on
        return;
    }
    if (more) {
        // The others' turn first; this connection's next lines come after them.
        m_turn_posted = true;
        asio::post(m_socket.get_executor(), [self = shared_from_this()] {
            self->m_turn_posted = false;
            self->handle_lines();
        });
        return;
    }
    if (m_framer.too_long()) {
        log::warn("connection {}: line longer than {} bytes; closing", m_id, m_framer.max_line_bytes());
        protocol::ErrorReply body;
        const Error error_text = m_framer.too_long_error();
        body.code = error_text.code;
        body.message = error_text.message;
        send(protocol::encode(protocol::Reply{0, body}));
        close_after_flush();
        return;
    }
    read_more();
}

void Session::release_input() {
    if (m_input_holds > 0) --m_input_holds;
    resume_input();
}

void Session::resume_input() {
    if (!m_input_stopped || m_turn_posted || !may_handle()) return;
    m_input_stopped = false;
    m_turn_posted = true;
    asio::post(m_socket.get_executor(), [self = shared_from_this()] {
        self->m_turn_posted = false;
        self->handle_lines();
    });
}

void Session::send(std::string line) {
    if (m_closed || m_closing) return;
    m_out_bytes += line.size();
    m_out.push_back(std::move(line));
    if (m_out_bytes > k_max_output_bytes) {
        log::warn("connection {}: client does not read ({} bytes queued); closing", m_id, m_out_bytes);
        close();
        return;
    }
    if (m_out_bytes > k_output_high_water && !m_congested) {
        m_congested = true;
        log::at(log::Level::trace, "connection {}: client does not read its answers ({} bytes queued); its requests wait", m_id,
                m_out_bytes);
    }
    write_more();
}

void Session::write_more() {
    if (m_writing || m_closed || m_handling_read) return;
    if (m_out.empty()) {
        if (m_closing) close();
        return;
    }
    // Everything queued, in one gathering write (bounded by the iovec limit).
    constexpr std::size_t k_max_buffers = 64;
    std::vector<asio::const_buffer> buffers;
    for (std::size_t i = 0; i < m_out.size() && i < k_max_buffers; ++i) buffers.push_back(asio::buffer(m_out[i]));
    m_in_flight = buffers.size();
    m_writing = true;
    auto self = shared_from_this();
    asio::async_write(m_socket, buffers, [self](const asio::error_code& error, std::size_t) {
        self->m_writing = false;
        if (self->m_closed) return;
        if (error) {
            self->close();
            return;
        }
        for (; self->m_in_flight > 0; --self->m_in_flight) {
            self->m_out_bytes -= self->m_out.front().size();
            self->m_out.pop_front();
        }
        self->write_more();
        if (self->m_congested && self->m_out_bytes <= k_output_low_water && !self->m_closed) {
            self->m_congested = false;
            self->resume_input();
            self->m_host.on_drained(*self);
        }
    });
}

void Session::close_after_flush() {
    if (m_closed) return;
    m_closing = true;
    asio::error_code ignored;
    m_socket.shutdown(Socket::shutdown_receive, ignored);
    write_more();
}

void Session::close() {
    if (m_closed) return;
    m_closed = true;
    asio::error_code ignored;
    m_socket.close(ignored);  // the only descriptor of this connection: the peer sees its end now
    m_out.clear();
    m_out_bytes = 0;
    m_host.on_closed(*this);
}

}  // namespace lokt::daemon
