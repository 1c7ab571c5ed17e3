// One HTTP/1.1 keep-alive connection to an etcd member's JSON gateway: POST a
// JSON body to /v3/..., read the whole reply, or read a streamed reply (watch)
// one message at a time. Blocking calls with a deadline each, over standalone
// Asio; nothing of Asio shows in this header.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "protocol/etcd/endpoint.hpp"
#include "protocol/etcd/tls_options.hpp"

namespace lokt::etcd {

using Millis = std::chrono::milliseconds;

struct HttpResponse {
    int status = 0;
    std::string body;
};

class HttpConnection {
public:
    HttpConnection();
    ~HttpConnection();
    HttpConnection(HttpConnection&&) noexcept;
    HttpConnection& operator=(HttpConnection&&) noexcept;

    // Connects (and, for https://, completes the TLS handshake) within the
    // timeout. Errors: ErrorCode::unavailable, with the endpoint and the cause.
    static Result<HttpConnection> connect(const Endpoint& endpoint, const TlsOptions& tls, Millis timeout);

    bool open() const;
    const Endpoint& endpoint() const;

    // POSTs body to path and reads the whole reply. headers: extra lines, each
    // "Name: value\r\n". A broken connection is closed (open() turns false).
    Result<HttpResponse> post(std::string_view path, std::string_view body, std::string_view headers, Millis timeout);
    // post() in two halves: send the request now, read its reply later (the
    // member works on it meanwhile). Nothing else may be sent in between.
    Result<void> send(std::string_view path, std::string_view body, std::string_view headers, Millis timeout);
    Result<HttpResponse> receive(Millis timeout);

    // POSTs and reads the reply's head; the body is then read with next_message.
    Result<int> post_streaming(std::string_view path, std::string_view body, std::string_view headers, Millis timeout);
    // The next newline-delimited message of a streamed reply; nullopt when none
    // came within the timeout. ErrorCode::unavailable when the stream ended.
    Result<std::optional<std::string>> next_message(Millis timeout);
    // The socket, to poll(2) for input beside other descriptors (-1 when closed).
    // Data may also wait already decoded: check has_buffered_message() first.
    int native_fd() const;
    bool has_buffered_message() const;

    void close();

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace lokt::etcd
