// Maps lokt's code into its page tables with one system call at start-up,
// instead of one page fault per 64 KiB of code as it is first run.
//
// A `lokt` process lives a few milliseconds. Each first touch of a page of the
// program is a page fault that maps at most the 16 pages around it, and one
// guard touches code spread over a few megabytes (its own, libstdc++'s,
// libc's): about fifty such faults, at about 18 µs each on the 2-core virtual
// machine of docs/performance.md, a fifth of the process's time.
// MADV_POPULATE_READ (Linux 5.14) maps a whole range in one call, at a small
// fraction of a fault per page; a kernel without it fails the call and nothing
// changes.
//
// Static, non-PIE builds only (see CMakeLists.txt): the program is then one
// object, and its code all there is to map.
#include <link.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

namespace {

int populate_program_code(dl_phdr_info* info, std::size_t /*size*/, void* /*data*/) {
    constexpr std::uintptr_t page = 4096;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& segment = info->dlpi_phdr[i];
        if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0) continue;
        const std::uintptr_t begin = (info->dlpi_addr + segment.p_vaddr) & ~(page - 1);
        const std::uintptr_t end = info->dlpi_addr + segment.p_vaddr + segment.p_memsz;
        // NOLINTNEXTLINE(performance-no-int-to-ptr): the segment's address, from the program headers
        (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_READ);
    }
    return 1;  // the program itself comes first; nothing else is loaded
}

// Before every other static initialiser of the program (101 is the first
// priority open to programs), so that they run on mapped code too.
[[gnu::constructor(101)]] void populate_code_at_start() { (void)::dl_iterate_phdr(populate_program_code, nullptr); }

}  // namespace
