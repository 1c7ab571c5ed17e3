// See fence_counter.hpp.
#include "common/fence_counter.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/sys_error.hpp"

namespace lokt {
namespace {

constexpr std::size_t k_digits = 20;  // every uint64_t fits

}  // namespace

Result<std::uint64_t> read_fence(int fd, const std::filesystem::path& path) {
    char text[64];
    ssize_t got = -1;
    do {
        got = ::pread(fd, text, sizeof text, 0);
    } while (got < 0 && errno == EINTR);
    if (got < 0) return sys_error("cannot read", path.string(), errno);
    std::uint64_t value = 0;
    std::size_t digits = 0;
    for (; digits < static_cast<std::size_t>(got) && text[digits] >= '0' && text[digits] <= '9'; ++digits) {
        const std::uint64_t digit = static_cast<std::uint64_t>(text[digits] - '0');
        if (value > (UINT64_MAX - digit) / 10) break;
        value = value * 10 + digit;
    }
    const bool empty = got == 0;
    const bool whole = digits > 0 && digits < static_cast<std::size_t>(got) && text[digits] == '\n';
    if (!empty && !whole) {
        return make_error(ErrorCode::corrupt, "the fence counter in " + path.string() +
                                                  " is not a number; it holds the last fencing token granted for "
                                                  "this name: write that number (or a greater one) back into it");
    }
    return value;
}

Result<void> write_fence(int fd, const std::filesystem::path& path, std::uint64_t fence) {
    char text[k_digits + 2];
    std::snprintf(text, sizeof text, "%020llu\n", static_cast<unsigned long long>(fence));
    ssize_t put = -1;
    do {
        put = ::pwrite(fd, text, k_digits + 1, 0);
    } while (put < 0 && errno == EINTR);
    if (put < 0) return sys_error("cannot write", path.string(), errno);
    if (static_cast<std::size_t>(put) != k_digits + 1) {
        return make_error(ErrorCode::io, "cannot write " + path.string() + ": short write");
    }
    return {};
}

}  // namespace lokt
