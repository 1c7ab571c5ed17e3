// Asking for huge pages for a big buffer before it is first touched. Listing
// 100,000 locks fills about 100 MB of fresh memory; faulting that in 4 KiB at
// a time (each fault a trip through the kernel, and on a virtual machine
// through the hypervisor as well) cost more than reading the lock files.
// Where the system keeps transparent huge pages for those who ask (the
// default "madvise" setting), this asks; elsewhere it does nothing.
#pragma once

#include <cstddef>

namespace lokt::platform {

// Advises that the whole pages within [begin, begin + bytes) be backed by huge
// pages. Best effort: any failure is ignored. Small ranges are left alone.
void prefer_huge_pages(void* begin, std::size_t bytes);

}  // namespace lokt::platform
