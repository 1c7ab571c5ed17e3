// See http_connection.hpp. Each blocking call starts one asynchronous Asio
// operation and runs the io_context until it completes or the deadline passes;
// a late operation is cancelled by closing the socket, which also ends the
// connection (the next call reconnects through the client).
#include "protocol/etcd/http_connection.hpp"
#include "protocol/etcd/tls_layer.hpp"

#include <asio.hpp>
#include <charconv>
#include <optional>

namespace lokt::etcd {
namespace {

using Clock = std::chrono::steady_clock;
using asio::ip::tcp;

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

}  // namespace

struct HttpConnection::Impl {
    asio::io_context io;
    std::optional<tcp::socket> plain;
    std::unique_ptr<TlsLayer> secure;
    Endpoint endpoint;
    std::string in;  // bytes read and not yet consumed
    // A streamed body: chunked framing state and decoded text not yet returned.
    bool streaming = false;
    bool stream_chunked = false;
    bool stream_done = false;
    std::size_t chunk_left = 0;  // bytes of the current chunk still to decode
    bool in_chunk = false;
    std::string decoded;

    tcp::socket& socket() { return secure ? secure->socket() : *plain; }
    bool is_open() { return (plain || secure) && socket().is_open(); }

    void shut() {
        if (plain || secure) {
            std::error_code ignored;
            socket().close(ignored);
        }
        in.clear();
        decoded.clear();
        streaming = false;
    }

    // Runs until *done or the deadline; on timeout the socket is closed and
    // the pending handler is let run (with operation_aborted).
    bool run_until(const bool& done, Clock::time_point deadline) {
        io.restart();
        while (!done) {
            if (io.run_one_until(deadline) == 0) break;
        }
        if (done) return true;
        shut();
        io.restart();
        io.run_for(std::chrono::milliseconds(100));
        return false;
    }

    Error failure(const std::string& what) {
        return make_error(ErrorCode::unavailable, "etcd at " + endpoint.text + ": " + what);
    }

    Result<void> write_all(std::string_view bytes, Clock::time_point deadline) {
        bool done = false;
        std::error_code result;
        auto handler = [&](std::error_code ec, std::size_t) {
            result = ec;
            done = true;
        };
        if (secure) {
            secure->async_write(bytes.data(), bytes.size(), handler);
        } else {
            asio::async_write(*plain, asio::buffer(bytes.data(), bytes.size()), handler);
        }
        if (!run_until(done, deadline)) return failure("timed out sending a request");
        if (result) {
            shut();
            return failure("cannot send: " + result.message());
        }
        return {};
    }

    // Appends what arrives next to `in`; false on timeout (error set).
    Result<bool> read_more(Clock::time_point deadline) {
        char chunk[16384];
        bool done = false;
        std::error_code result;
        std::size_t got = 0;
        auto handler = [&](std::error_code ec, std::size_t n) {
            result = ec;
            got = n;
            done = true;
        };
        if (secure) {
            secure->async_read_some(chunk, sizeof chunk, handler);
        } else {
            plain->async_read_some(asio::buffer(chunk), handler);
        }
        if (!run_until(done, deadline)) return false;
        in.append(chunk, got);
        if (result) {
            shut();
            if (result == asio::error::eof || TlsLayer::is_truncation(result)) {
                return failure("the connection was closed");
            }
            return failure("cannot read: " + result.message());
        }
        return true;
    }

    Result<void> read_exactly_into_in(std::size_t size, Clock::time_point deadline) {
        while (in.size() < size) {
            LOKT_TRY_LET(more, read_more(deadline));
            if (!*more) return failure("timed out reading a reply");
        }
        return {};
    }

    struct Head {
        int status = 0;
        std::optional<std::size_t> content_length;
        bool chunked = false;
        bool close = false;
    };

    Result<Head> read_head(Clock::time_point deadline) {
        std::size_t end;
        while ((end = in.find("\r\n\r\n")) == std::string::npos) {
            if (in.size() > 65536) {
                shut();
                return failure("a reply's head is too long");
            }
            LOKT_TRY_LET(more, read_more(deadline));
            if (!*more) return failure("timed out waiting for a reply");
        }
        const std::string head = in.substr(0, end);
        in.erase(0, end + 4);
        Head parsed;
        std::size_t line_end = head.find("\r\n");
        const std::string status_line = head.substr(0, line_end);
        if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
            shut();
            return failure("not an HTTP reply");
        }
        std::from_chars(status_line.data() + 9, status_line.data() + 12, parsed.status);
        while (line_end != std::string::npos) {
            const std::size_t start = line_end + 2;
            line_end = head.find("\r\n", start);
            const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
            const auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            const std::string name = lower(line.substr(0, colon));
            std::string value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.erase(0, 1);
            if (name == "content-length") {
                std::size_t length = 0;
                std::from_chars(value.data(), value.data() + value.size(), length);
                parsed.content_length = length;
            } else if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) {
                parsed.chunked = true;
            } else if (name == "connection" && lower(value) == "close") {
                parsed.close = true;
            }
        }
        return parsed;
    }

    // Decodes what chunked framing `in` holds into `decoded`; true at the last chunk.
    Result<bool> decode_chunks() {
        for (;;) {
            if (in_chunk) {
                const std::size_t take = std::min(chunk_left, in.size());
                decoded.append(in, 0, take);
                in.erase(0, take);
                chunk_left -= take;
                if (chunk_left > 0) return false;
                if (in.size() < 2) return false;  // the chunk's CRLF
                in.erase(0, 2);
                in_chunk = false;
                continue;
            }
            const auto line_end = in.find("\r\n");
            if (line_end == std::string::npos) return false;
            std::size_t size = 0;
            const auto [ptr, ec] = std::from_chars(in.data(), in.data() + line_end, size, 16);
            if (ec != std::errc()) {
                shut();
                return failure("bad chunked framing");
            }
            (void)ptr;
            if (size == 0) {
                // Trailer lines (the gateway sends one with an error), then an
                // empty line: all of it consumed, or nothing until it is all
                // here, so that the next reply starts clean.
                const std::size_t rest = line_end + 2;
                std::size_t end = std::string::npos;
                if (in.compare(rest, 2, "\r\n") == 0) {
                    end = rest + 2;
                } else if (const auto blank = in.find("\r\n\r\n", rest); blank != std::string::npos) {
                    end = blank + 4;
                }
                if (end == std::string::npos) return false;
                in.erase(0, end);
                return true;
            }
            in.erase(0, line_end + 2);
            in_chunk = true;
            chunk_left = size;
        }
    }

    std::string request(std::string_view path, std::string_view body, std::string_view headers) const {
        std::string text;
        text.reserve(body.size() + 200);
        text += "POST ";
        text += path;
        text += " HTTP/1.1\r\nHost: ";
        text += endpoint.host;
        text += ':';
        text += std::to_string(endpoint.port);
        text += "\r\nContent-Type: application/json\r\nContent-Length: ";
        text += std::to_string(body.size());
        text += "\r\n";
        text += headers;
        text += "\r\n";
        text += body;
        return text;
    }
};

HttpConnection::HttpConnection() : m_impl(std::make_unique<Impl>()) {}
HttpConnection::~HttpConnection() = default;
HttpConnection::HttpConnection(HttpConnection&&) noexcept = default;
HttpConnection& HttpConnection::operator=(HttpConnection&&) noexcept = default;

Result<HttpConnection> HttpConnection::connect(const Endpoint& endpoint, const TlsOptions& tls, Millis timeout) {
    HttpConnection connection;
    Impl& s = *connection.m_impl;
    s.endpoint = endpoint;
    const auto deadline = Clock::now() + timeout;
    std::error_code ec;
    tcp::resolver resolver(s.io);
    const auto found = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
    if (ec) return s.failure("cannot resolve " + endpoint.host + ": " + ec.message());
    if (endpoint.tls) {
        auto layer = TlsLayer::make(s.io, tls, endpoint.host);
        if (!layer) return s.failure(layer.error().message);
        s.secure = std::move(layer.value());
    } else {
        s.plain.emplace(s.io);
    }
    bool done = false;
    std::error_code result;
    asio::async_connect(s.socket(), found, [&](std::error_code e, const tcp::endpoint&) {
        result = e;
        done = true;
    });
    if (!s.run_until(done, deadline)) return s.failure("timed out connecting");
    if (result) return s.failure("cannot connect: " + result.message());
    s.socket().set_option(tcp::no_delay(true), ec);
    if (s.secure) {
        done = false;
        s.secure->async_handshake([&](std::error_code e) {
            result = e;
            done = true;
        });
        if (!s.run_until(done, deadline)) return s.failure("timed out in the TLS handshake");
        if (result) {
            s.shut();
            return s.failure("TLS handshake failed: " + result.message());
        }
    }
    return connection;
}

bool HttpConnection::open() const { return m_impl && m_impl->is_open(); }
const Endpoint& HttpConnection::endpoint() const { return m_impl->endpoint; }
void HttpConnection::close() {
    if (m_impl) m_impl->shut();
}

Result<HttpResponse> HttpConnection::post(std::string_view path, std::string_view body, std::string_view headers,
                                          Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    LOKT_TRY(send(path, body, headers, timeout));
    return receive(std::chrono::ceil<Millis>(deadline - Clock::now()));
}

Result<void> HttpConnection::send(std::string_view path, std::string_view body, std::string_view headers, Millis timeout) {
    Impl& s = *m_impl;
    if (!s.is_open()) return s.failure("not connected");
    return s.write_all(s.request(path, body, headers), Clock::now() + timeout);
}

Result<HttpResponse> HttpConnection::receive(Millis timeout) {
    Impl& s = *m_impl;
    if (!s.is_open()) return s.failure("not connected");
    const auto deadline = Clock::now() + timeout;
    LOKT_TRY_LET(head, s.read_head(deadline));
    HttpResponse response;
    response.status = head->status;
    if (head->chunked) {
        s.in_chunk = false;
        s.decoded.clear();
        for (;;) {
            LOKT_TRY_LET(last, s.decode_chunks());
            if (*last) break;
            LOKT_TRY_LET(more, s.read_more(deadline));
            if (!*more) return s.failure("timed out reading a reply");
        }
        response.body = std::move(s.decoded);
        s.decoded.clear();
    } else if (head->content_length) {
        LOKT_TRY(s.read_exactly_into_in(*head->content_length, deadline));
        response.body = s.in.substr(0, *head->content_length);
        s.in.erase(0, *head->content_length);
    } else {
        // Neither: the body lasts until the connection closes.
        for (;;) {
            auto more = s.read_more(deadline);
            if (!more) break;
            if (!*more) return s.failure("timed out reading a reply");
        }
        response.body = std::move(s.in);
        s.in.clear();
        head->close = true;
    }
    if (head->close) s.shut();
    return response;
}

Result<int> HttpConnection::post_streaming(std::string_view path, std::string_view body, std::string_view headers,
                                           Millis timeout) {
    Impl& s = *m_impl;
    if (!s.is_open()) return s.failure("not connected");
    const auto deadline = Clock::now() + timeout;
    LOKT_TRY(s.write_all(s.request(path, body, headers), deadline));
    LOKT_TRY_LET(head, s.read_head(deadline));
    s.streaming = true;
    s.stream_chunked = head->chunked;
    s.stream_done = false;
    s.in_chunk = false;
    s.decoded.clear();
    return head->status;
}

bool HttpConnection::has_buffered_message() const { return m_impl && m_impl->decoded.find('\n') != std::string::npos; }

int HttpConnection::native_fd() const {
    if (!open()) return -1;
    return static_cast<int>(m_impl->socket().native_handle());
}

Result<std::optional<std::string>> HttpConnection::next_message(Millis timeout) {
    Impl& s = *m_impl;
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (const auto newline = s.decoded.find('\n'); newline != std::string::npos) {
            std::string message = s.decoded.substr(0, newline);
            s.decoded.erase(0, newline + 1);
            if (message.empty()) continue;
            return std::optional<std::string>(std::move(message));
        }
        if (s.stream_done || !s.is_open()) return s.failure("the stream ended");
        if (s.stream_chunked) {
            LOKT_TRY_LET(last, s.decode_chunks());
            if (*last) {
                s.stream_done = true;
                continue;
            }
        } else {
            s.decoded += s.in;
            s.in.clear();
        }
        if (s.decoded.find('\n') != std::string::npos) continue;
        if (Clock::now() >= deadline) return std::optional<std::string>();
        // TLS may hold decrypted bytes the socket no longer shows.
        if (s.secure && s.secure->pending() > 0) {
            LOKT_TRY_LET(more, s.read_more(deadline + std::chrono::milliseconds(1)));
            (void)more;
            continue;
        }
        // A timeout here must not close the stream: poll the socket instead.
        bool done = false;
        std::error_code result;
        s.socket().async_wait(tcp::socket::wait_read, [&](std::error_code ec) {
            result = ec;
            done = true;
        });
        s.io.restart();
        while (!done) {
            if (s.io.run_one_until(deadline) == 0) break;
        }
        if (!done) {
            std::error_code ignored;
            s.socket().cancel(ignored);
            s.io.restart();
            s.io.run_for(std::chrono::milliseconds(50));
            return std::optional<std::string>();
        }
        if (result) {
            s.shut();
            return s.failure("cannot read the stream: " + result.message());
        }
        LOKT_TRY_LET(more, s.read_more(deadline + std::chrono::milliseconds(1)));
        (void)more;
    }
}

}  // namespace lokt::etcd
