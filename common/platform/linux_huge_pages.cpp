// prefer_huge_pages on Linux: madvise(MADV_HUGEPAGE).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include "common/platform/huge_pages.hpp"

namespace lokt::platform {

void prefer_huge_pages(void* begin, std::size_t bytes) {
    constexpr std::size_t k_worth_it = 4 * 1024 * 1024;  // two huge pages at least
    if (begin == nullptr || bytes < k_worth_it) return;
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto first = (reinterpret_cast<std::uintptr_t>(begin) + page - 1) & ~(page - 1);
    const auto last = (reinterpret_cast<std::uintptr_t>(begin) + bytes) & ~(page - 1);
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

}  // namespace lokt::platform
