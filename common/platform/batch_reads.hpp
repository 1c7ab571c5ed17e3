// Reading many small files of one directory with few system calls. Listing a
// root with 100,000 locks is otherwise 400,000 system calls (open, stat, read,
// close each), and on a virtual machine the entry into the kernel costs as
// much as the work done there. On Linux this is io_uring: the stat, open, read
// and close of a few dozen files go in with one call. Where the kernel has no
// io_uring (too old, or forbidden by a seccomp filter or a sysctl), open()
// says so and the caller reads the files one by one.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lokt::platform {

// What became of one file. Only what a careful reader can trust is filled in:
// when `complete` is false the caller must read the file itself (it may be
// missing, not a regular file, empty, larger than the buffer, or replaced
// between the stat and the read).
struct BatchRead {
    bool complete = false;
    // From a stat of the name (not following a symbolic link), when complete.
    dev_t device = 0;
    ino_t inode = 0;
    std::int64_t change_ns = 0;
    std::string contents;  // the whole file, when complete
};

class BatchReader {
public:
    // nullopt-like: an empty pointer when the kernel offers no way to batch.
    static std::unique_ptr<BatchReader> open();
    ~BatchReader();
    BatchReader(const BatchReader&) = delete;
    BatchReader& operator=(const BatchReader&) = delete;

    // Reads dir_fd/files[i] for i in [begin, end) into out[i - begin] (resized
    // to end - begin). Files are opened with O_NOFOLLOW | O_NONBLOCK, so a
    // FIFO or a symbolic link never blocks or leads elsewhere; a file larger
    // than max_bytes is left incomplete. False when the batching itself
    // failed (then every entry is incomplete).
    bool read(int dir_fd, const std::vector<std::string>& files, std::size_t begin, std::size_t end, std::size_t max_bytes,
              std::vector<BatchRead>& out);

private:
    struct Ring;
    explicit BatchReader(std::unique_ptr<Ring> ring);
    std::unique_ptr<Ring> m_ring;
};

}  // namespace lokt::platform
