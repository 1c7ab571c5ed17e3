// See tls_layer.hpp: the layer, on Asio's OpenSSL stream.
#include <asio/ssl.hpp>

#include "protocol/etcd/tls_layer.hpp"

namespace lokt::etcd {

struct TlsLayer::Impl {
    Impl(asio::io_context& io, asio::ssl::context&& made) : context(std::move(made)), stream(io, context) {}
    asio::ssl::context context;
    asio::ssl::stream<asio::ip::tcp::socket> stream;
};

TlsLayer::TlsLayer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
TlsLayer::~TlsLayer() = default;

bool TlsLayer::linked() { return true; }

Result<std::unique_ptr<TlsLayer>> TlsLayer::make(asio::io_context& io, const TlsOptions& tls, const std::string& host) {
    asio::ssl::context context(asio::ssl::context::tls_client);
    std::error_code ec;
    context.set_verify_mode(asio::ssl::verify_peer);
    if (tls.ca_file.empty()) {
        context.set_default_verify_paths(ec);
    } else {
        context.load_verify_file(tls.ca_file, ec);
    }
    if (ec) return make_error(ErrorCode::unavailable, "cannot load the CA certificate " + tls.ca_file + ": " + ec.message());
    if (!tls.cert_file.empty()) {
        context.use_certificate_chain_file(tls.cert_file, ec);
        if (ec) {
            return make_error(ErrorCode::unavailable,
                              "cannot load the client certificate " + tls.cert_file + ": " + ec.message());
        }
        context.use_private_key_file(tls.key_file.empty() ? tls.cert_file : tls.key_file, asio::ssl::context::pem, ec);
        if (ec) return make_error(ErrorCode::unavailable, "cannot load the client key " + tls.key_file + ": " + ec.message());
    }
    auto impl = std::make_unique<Impl>(io, std::move(context));
    impl->stream.set_verify_callback(asio::ssl::host_name_verification(host));
    // Server name indication (SSL_set_tlsext_host_name is a macro with a C cast).
    SSL_ctrl(impl->stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(host.c_str()));
    return std::unique_ptr<TlsLayer>(new TlsLayer(std::move(impl)));
}

asio::ip::tcp::socket& TlsLayer::socket() { return m_impl->stream.next_layer(); }

void TlsLayer::async_handshake(std::function<void(std::error_code)> done) {
    m_impl->stream.async_handshake(asio::ssl::stream_base::client, std::move(done));
}

void TlsLayer::async_write(const char* data, std::size_t size, Done done) {
    asio::async_write(m_impl->stream, asio::buffer(data, size), std::move(done));
}

void TlsLayer::async_read_some(char* data, std::size_t size, Done done) {
    m_impl->stream.async_read_some(asio::buffer(data, size), std::move(done));
}

std::size_t TlsLayer::pending() {
    const int buffered = SSL_pending(m_impl->stream.native_handle());
    return buffered > 0 ? static_cast<std::size_t>(buffered) : 0;
}

bool TlsLayer::is_truncation(std::error_code ec) { return ec == asio::ssl::error::stream_truncated; }

}  // namespace lokt::etcd
