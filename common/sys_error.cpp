// See sys_error.hpp.
#include "common/sys_error.hpp"

#include <cstring>

namespace lokt {

std::string errno_text(int error_number) {
    char buffer[256];
    // GNU strerror_r may return a static string instead of filling the buffer.
    const char* text = ::strerror_r(error_number, buffer, sizeof buffer);
    return text;
}

Error sys_error(std::string_view action, std::string_view path, int error_number) {
    std::string message;
    message.reserve(action.size() + path.size() + 40);
    message.append(action).append(" ").append(path).append(": ").append(errno_text(error_number));
    return Error{ErrorCode::io, std::move(message)};
}

}  // namespace lokt
