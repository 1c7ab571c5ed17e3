// The one table that maps error codes to wire words and exit statuses.
#include "common/result.hpp"

#include <array>

namespace lokt {
namespace {

struct CodeInfo {
    ErrorCode code;
    std::string_view word;
    int exit_status;
};

constexpr std::array k_codes{
    CodeInfo{ErrorCode::held, "held", 2},
    CodeInfo{ErrorCode::frozen, "frozen", 2},
    CodeInfo{ErrorCode::timeout, "timeout", 2},
    CodeInfo{ErrorCode::not_found, "not_found", 3},
    CodeInfo{ErrorCode::not_owner, "not_owner", 4},
    CodeInfo{ErrorCode::usage, "usage", 64},
    CodeInfo{ErrorCode::io, "io", 1},
    CodeInfo{ErrorCode::corrupt, "corrupt", 1},
    CodeInfo{ErrorCode::unsupported, "unsupported", 1},
    CodeInfo{ErrorCode::lost, "lost", 1},
    CodeInfo{ErrorCode::unavailable, "unavailable", 1},
    CodeInfo{ErrorCode::deadlock, "deadlock", 5},
    CodeInfo{ErrorCode::internal, "internal", 1},  // last: the answer for a code not listed
};

const CodeInfo& info(ErrorCode code) {
    for (const auto& entry : k_codes) {
        if (entry.code == code) return entry;
    }
    return k_codes.back();
}

}  // namespace

std::string_view to_string(ErrorCode code) { return info(code).word; }

int exit_code_for(ErrorCode code) { return info(code).exit_status; }

std::optional<ErrorCode> error_code_from_string(std::string_view word) {
    for (const auto& entry : k_codes) {
        if (entry.word == word) return entry.code;
    }
    return std::nullopt;
}

}  // namespace lokt
