// Where an etcd member answers: one entry of LOKT_ETCD_ENDPOINTS
// ("http://127.0.0.1:2379,https://db2:2379"), parsed once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace lokt::etcd {

struct Endpoint {
    bool tls = false;  // https://
    std::string host;
    std::uint16_t port = 2379;
    std::string text;  // as given, for messages
};

// Every comma-separated URL of the list; ErrorCode::usage naming the bad one.
Result<std::vector<Endpoint>> parse_endpoints(std::string_view list);

}  // namespace lokt::etcd
