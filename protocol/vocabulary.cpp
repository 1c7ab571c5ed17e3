// See vocabulary.hpp. The words themselves are in wire_words.hpp.
#include "protocol/vocabulary.hpp"

#include "protocol/wire_words.hpp"

#include <algorithm>
#include <string>

namespace lokt::protocol {

Result<std::uint32_t> negotiate_version(VersionRange client, VersionRange daemon) {
    const std::uint32_t low = std::max(client.min, daemon.min);
    const std::uint32_t high = std::min(client.max, daemon.max);
    if (low > high) {
        return make_error(ErrorCode::unsupported, "no common protocol version: the client speaks " + std::to_string(client.min) +
                                                      " to " + std::to_string(client.max) + ", the daemon " +
                                                      std::to_string(daemon.min) + " to " + std::to_string(daemon.max) +
                                                      "; install the same lokt version for both");
    }
    return high;
}

std::string_view to_string(Op op) { return word_of(wire::k_op_words, op).value_or("?"); }
std::optional<Op> op_from_string(std::string_view word) { return value_of(wire::k_op_words, word); }
std::string_view to_string(AcquireMode mode) { return word_of(wire::k_acquire_mode_words, mode).value_or("?"); }

}  // namespace lokt::protocol
