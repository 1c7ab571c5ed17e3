// The JSON gateway carries keys and values as base64 (RFC 4648, padded).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lokt::etcd {

std::string base64_encode(std::string_view bytes);
// nullopt when the text is not padded base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace lokt::etcd
