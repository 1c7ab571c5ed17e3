// See endpoint.hpp.
#include "protocol/etcd/endpoint.hpp"

#include <charconv>

namespace lokt::etcd {
namespace {

Result<Endpoint> parse_one(std::string_view text) {
    Endpoint endpoint;
    endpoint.text = std::string(text);
    std::string_view rest = text;
    if (rest.rfind("http://", 0) == 0) {
        rest.remove_prefix(7);
    } else if (rest.rfind("https://", 0) == 0) {
        endpoint.tls = true;
        rest.remove_prefix(8);
    } else {
        return make_error(ErrorCode::usage, "etcd endpoint \"" + endpoint.text + "\" must start with http:// or https://");
    }
    while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    const auto colon = rest.rfind(':');
    std::string_view host = rest;
    if (colon != std::string_view::npos && rest.find(']', colon) == std::string_view::npos) {
        host = rest.substr(0, colon);
        const std::string_view port = rest.substr(colon + 1);
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
            return make_error(ErrorCode::usage, "etcd endpoint \"" + endpoint.text + "\" has a bad port");
        }
        endpoint.port = static_cast<std::uint16_t>(value);
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty() || host.find('/') != std::string_view::npos) {
        return make_error(ErrorCode::usage, "etcd endpoint \"" + endpoint.text + "\" names no host");
    }
    endpoint.host = std::string(host);
    return endpoint;
}

}  // namespace

Result<std::vector<Endpoint>> parse_endpoints(std::string_view list) {
    std::vector<Endpoint> endpoints;
    while (!list.empty()) {
        const auto comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty()) {
            LOKT_TRY_LET(endpoint, parse_one(item));
            endpoints.push_back(std::move(endpoint.value()));
        }
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    if (endpoints.empty()) return make_error(ErrorCode::usage, "LOKT_ETCD_ENDPOINTS names no endpoint");
    return endpoints;
}

}  // namespace lokt::etcd
