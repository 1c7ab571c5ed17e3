// See slot_pool.hpp.
#include "common/slot_pool.hpp"

#include "common/lock_name.hpp"

namespace lokt {
namespace {

constexpr std::string_view k_slot_infix = ".slot-";

}  // namespace

std::string slot_lock_name(std::string_view pool, std::uint64_t slot) {
    return std::string(pool) + std::string(k_slot_infix) + std::to_string(slot);
}

std::optional<SlotOf> slot_of_lock_name(std::string_view name) {
    const auto at = name.rfind(k_slot_infix);
    if (at == std::string_view::npos || at == 0) return std::nullopt;
    const std::string_view digits = name.substr(at + k_slot_infix.size());
    if (digits.empty() || digits.size() > 4 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
    std::uint64_t slot = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        slot = slot * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (slot >= k_max_pool_slots) return std::nullopt;
    return SlotOf{std::string(name.substr(0, at)), slot};
}

Result<void> validate_pool(std::string_view pool, std::uint64_t slots) {
    if (slots < 1 || slots > k_max_pool_slots) {
        return make_error(ErrorCode::usage,
                          "--slots must be between 1 and " + std::to_string(k_max_pool_slots) + ", not " + std::to_string(slots));
    }
    LOKT_TRY(validate_lock_name(pool));
    // Every slot's lock file must have a valid name too.
    return validate_lock_name(slot_lock_name(pool, slots - 1));
}

}  // namespace lokt
