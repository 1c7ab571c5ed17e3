// See sys_error.hpp.
#include "common/sys_error.hpp"

#include <cstring>
#include <string>

namespace lokt {

std::string errno_text(int error_number) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    // The English text, as strerror gives it in the C locale lokt runs in,
    // without strerror's trip through gettext (locale names, a search tree, a
    // lock): a client that finds no daemon formats one of these every time.
    if (const char* text = ::strerrordesc_np(error_number)) return text;
    return "Unknown error " + std::to_string(error_number);
#else
    char buffer[256];
    // GNU strerror_r may return a static string instead of filling the buffer.
    const char* text = ::strerror_r(error_number, buffer, sizeof buffer);
    return text;
#endif
}

Error sys_error(std::string_view action, std::string_view path, int error_number) {
    std::string message;
    message.reserve(action.size() + path.size() + 40);
    message.append(action).append(" ").append(path).append(": ").append(errno_text(error_number));
    return Error{ErrorCode::io, std::move(message)};
}

}  // namespace lokt
