// TLS under an etcd connection (https:// members), kept apart from the HTTP
// code so that a program can be linked without OpenSSL. The library carries
// the real layer (tls_layer_openssl.cpp); a program that links
// lokt_etcd_without_tls first gets tls_layer_absent.cpp's instead, and with
// it none of OpenSSL: lokt, which starts for every guarded command and hands
// https work to its twin linked with TLS (client/tls_twin.hpp).
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "common/result.hpp"
#include "protocol/etcd/tls_options.hpp"

namespace lokt::etcd {

class TlsLayer {
public:
    using Done = std::function<void(std::error_code, std::size_t)>;

    // Whether this program was linked with TLS.
    static bool linked();
    // A TLS client stream on a socket of io, with the CA and client
    // certificate of `tls` loaded, verifying (and asking for, by SNI) `host`.
    // An error's message says what could not be loaded.
    static Result<std::unique_ptr<TlsLayer>> make(asio::io_context& io, const TlsOptions& tls, const std::string& host);
    ~TlsLayer();
    TlsLayer(const TlsLayer&) = delete;
    TlsLayer& operator=(const TlsLayer&) = delete;

    // The TCP socket under the stream: connect it before the handshake.
    asio::ip::tcp::socket& socket();
    void async_handshake(std::function<void(std::error_code)> done);
    // Writes all of the bytes, or fails.
    void async_write(const char* data, std::size_t size, Done done);
    void async_read_some(char* data, std::size_t size, Done done);
    // Decrypted bytes already read from the socket and not yet handed out.
    std::size_t pending();
    // The peer closed the connection without TLS's close notification.
    static bool is_truncation(std::error_code ec);

private:
    struct Impl;
    explicit TlsLayer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace lokt::etcd
