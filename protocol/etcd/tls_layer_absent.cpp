// See tls_layer.hpp: the stand-in for a program linked without TLS. make()
// always fails, so no layer exists and the other members are never called.
#include <cstdlib>

#include "protocol/etcd/tls_layer.hpp"

namespace lokt::etcd {

struct TlsLayer::Impl {};

TlsLayer::TlsLayer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
TlsLayer::~TlsLayer() = default;

bool TlsLayer::linked() { return false; }

Result<std::unique_ptr<TlsLayer>> TlsLayer::make(asio::io_context&, const TlsOptions&, const std::string&) {
    return make_error(ErrorCode::unavailable, "this program is built without TLS");
}

asio::ip::tcp::socket& TlsLayer::socket() { std::abort(); }
void TlsLayer::async_handshake(std::function<void(std::error_code)>) { std::abort(); }
void TlsLayer::async_write(const char*, std::size_t, Done) { std::abort(); }
void TlsLayer::async_read_some(char*, std::size_t, Done) { std::abort(); }
std::size_t TlsLayer::pending() { std::abort(); }
bool TlsLayer::is_truncation(std::error_code) { return false; }

}  // namespace lokt::etcd
