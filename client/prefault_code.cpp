// Maps the code lokt's everyday commands run into its page tables with one
// system call at start-up, instead of one page fault per 64 KiB of it.
//
// A `lokt` process lives a few milliseconds. Each first touch of a page of the
// program is a page fault that maps at most the 16 pages around it, and one
// guard runs about 800 KB of code (its own, libstdc++'s, libc's): some fifty
// such faults, at 3 to 18 µs each on the 2-core virtual machine of
// docs/performance.md. MADV_POPULATE_READ (Linux 5.14) maps a whole range in
// one call, at a small fraction of a fault per page; a kernel without it fails
// the call and nothing changes.
//
// What it maps is the hot range the link put first (cmake/hot_text.ld, between
// lokt_hot_text_begin and _end), about 250 pages, rather than all 4.7 MB of
// code (1,160 pages), most of which no command runs: every page table entry
// made at start is also torn down at exit. A link without the list
// (lokt_hot_text_end not above _begin) maps the whole code.
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

// Defined by cmake/hot_text.ld; weak, so that a link without it still works.
extern "C" {
[[gnu::weak]] extern const char lokt_hot_text_begin[];
[[gnu::weak]] extern const char lokt_hot_text_end[];
}

namespace {

constexpr std::uintptr_t k_page = 4096;

void populate(std::uintptr_t begin, std::uintptr_t end) {
    begin &= ~(k_page - 1);
    if (end <= begin) return;
    // NOLINTNEXTLINE(performance-no-int-to-ptr): an address range of the program's own code
    (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_READ);
}

int populate_program_code(dl_phdr_info* info, std::size_t /*size*/, void* /*data*/) {
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& segment = info->dlpi_phdr[i];
        if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0) continue;
        populate(info->dlpi_addr + segment.p_vaddr, info->dlpi_addr + segment.p_vaddr + segment.p_memsz);
    }
    return 1;  // the program itself comes first; nothing else is loaded
}

// Before every other static initialiser of the program (101 is the first
// priority open to programs), so that they run on mapped code too.
[[gnu::constructor(101)]] void populate_code_at_start() {
    const auto begin = reinterpret_cast<std::uintptr_t>(lokt_hot_text_begin);
    const auto end = reinterpret_cast<std::uintptr_t>(lokt_hot_text_end);
    if (begin != 0 && end > begin) {
        populate(begin, end);
        return;
    }
    (void)::dl_iterate_phdr(populate_program_code, nullptr);
}

}  // namespace
